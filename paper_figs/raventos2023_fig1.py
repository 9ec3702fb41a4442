"""Raventós et al. (2023), Fig. 1 style: error on unseen tasks against pretraining task diversity M.

Two panels from ``sims/icl_regression.py`` (small transformers on in-context linear regression,
a pool of ``M`` pretraining tasks): (a) the trained model's error on fresh tasks (median over
seeds, 95% bootstrap interval) and on its pool's tasks against ``M``, beside the dMMSE error on
fresh tasks with each member's own pool and the ridge error (``theory/icl_regression.py``);
``M = inf`` is drawn at the right edge; (b) ``phi = (E_model - E_ridge) / (E_dmmse - E_ridge)``
per member (1: dMMSE, 0: ridge) where the two estimators differ, with the verdicts; (c) with
two or more ``D``, the threshold ``M*`` (where the seed-mean ``phi`` crosses 1/2) against ``D``
with its 95% bootstrap interval over seeds (``sim.threshold_ci``), log-log, and with three or
more ``D`` the least-squares line whose slope ``sim.slope_ci`` bootstraps.

Reference: A. Raventós, M. Paul, F. Chen, S. Ganguli (2023), "Pretraining task diversity and the
emergence of non-Bayesian in-context learning for regression", arXiv:2306.15063.

Usage:
    python -m paper_figs.raventos2023_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import icl_regression as sim

NAME = "raventos2023_fig1"


def _x(ms: np.ndarray) -> np.ndarray:
    """``log2 M``, with ``inf`` two octaves past the largest finite pool."""
    finite = np.log2(ms[np.isfinite(ms)])
    return np.where(np.isfinite(ms), np.log2(np.where(np.isfinite(ms), ms, 1)), finite.max() + 2)


def _median_ci(a: np.ndarray):
    est, lo, hi = dt.bootstrap_ci(a, axis=-1, stat=np.median, n_boot=2000)
    return np.asarray(est), np.asarray(lo), np.asarray(hi)


def draw(ds, verdicts, path: str) -> None:
    ms = ds.n_tasks.values
    x = _x(ms)
    many = ds.sizes["d"] > 1
    fig, axes = plt.subplots(1, 3 if many else 2, figsize=(16 if many else 11, 4.2), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.8, ds.sizes["d"]))
    for i, (c, d) in enumerate(zip(colors, ds.d.values)):
        e = ds.sel(d=d).transpose("n_tasks", "seed", ...)
        est, lo, hi = _median_ci(e.err_model.values)
        axes[0].errorbar(x, est, yerr=[est - lo, hi - est], fmt="o-", color=c, capsize=3,
                         label=f"model, fresh tasks (D={d})")
        first = i == 0  # one legend entry for the lines every D repeats
        axes[0].plot(x, np.median(e.err_pool.values, -1), "s:", color=c, label="model, pool tasks" * first or None)
        axes[0].plot(x, np.median(e.err_dmmse.values, -1), "--", color=c, lw=1,
                     label="dMMSE (own pool), fresh" * first or None)
        axes[0].axhline(float(e.err_ridge), color=c, lw=0.8, label="ridge" * first or None)
        axes[1].plot(np.repeat(x[:, None], e.sizes["seed"], 1), e.phi.values, "o", color=c, alpha=0.6)
        axes[1].plot(x, e.phi.mean("seed").values, "-", color=c, label=f"seed mean (D={d})")
    labels = [f"{m:g}" if np.isfinite(m) else "inf" for m in ms]
    for ax in axes[:2]:
        ax.set_xticks(x, labels)
        ax.set_xlabel("pretraining tasks M")
    axes[0].set(yscale="log", ylabel="E[(y - yhat)^2], averaged over positions",
                title="(a) error against task diversity")
    axes[0].legend(fontsize=7)
    axes[1].axhline(1.0, color="k", ls="--", lw=0.8)
    axes[1].axhline(0.0, color="k", lw=0.8)
    axes[1].axhline(0.5, color="gray", ls=":", lw=0.8)
    axes[1].set(ylabel="phi = (E - E_ridge) / (E_dmmse - E_ridge)", title="(b) 1: dMMSE, 0: ridge")
    axes[1].legend(fontsize=7, loc="upper right")
    _common.verdict_box(axes[1], verdicts)
    if many:
        _draw_thresholds(axes[2], ds, colors)
    _common.save(fig, path)


def _draw_thresholds(ax, ds, colors) -> None:
    """``M*`` against ``D`` with its bootstrap interval; one never located, as its lower bound (a
    triangle) where the interval has one."""
    for c, d in zip(colors, ds.d.values):
        est, (lo, hi), log2m = sim.threshold_ci(ds.sel(d=d))
        if np.isfinite(est):
            lo, hi = max(lo, log2m[0] - 1), min(hi, log2m[-1] + 1)  # an unbounded side: to the edge
            ax.errorbar([d], [2.0 ** est], yerr=[[2.0 ** est - 2.0 ** lo], [2.0 ** hi - 2.0 ** est]], fmt="o",
                        color=c, capsize=4, label=f"D={d}: M* {2.0 ** est:.3g}")
        elif est > 0 and np.isfinite(lo):  # phi never fell below 1/2: a lower bound
            ax.plot([d], [2.0 ** lo], "^", color=c, ms=9, label=f"D={d}: M* >= {2.0 ** lo:.3g} (not located)")
        else:
            ax.annotate(f"D={d}: not located", (d, 2.0 ** (log2m[-1] if est > 0 else log2m[0])), color=c,
                        fontsize=8)
    title = "(c) the threshold against D"
    if ds.sizes["d"] >= 3:
        slope, (lo, hi), share = sim.slope_ci(ds)
        if np.isfinite(slope):  # the least-squares line through the located M*, and its slope's CI
            stars = np.array([sim.threshold_ci(ds.sel(d=d))[0] for d in ds.d.values]) * np.log(2)
            logd = np.log(ds.d.values.astype(float))
            icpt = np.mean(stars) - slope * np.mean(logd)
            ax.plot(ds.d.values, np.exp(icpt + slope * logd), "k--", lw=0.8)
            title += f": slope {slope:.2f} [{lo:.2f}, {hi:.2f}]"
    ax.set(xscale="log", yscale="log", xlabel="dimension D", ylabel="M* (seed-mean phi = 1/2)", title=title)
    ax.set_xticks(ds.d.values, [str(d) for d in ds.d.values])
    ax.minorticks_off()
    ax.legend(fontsize=7)


def report(ds) -> None:
    for d in ds.d.values:
        e = ds.sel(d=d)
        rows = ", ".join(f"M={m:g}: {float(e.err_model.sel(n_tasks=m).median()):.3g} "
                         f"(dMMSE {float(e.err_dmmse.sel(n_tasks=m).median()):.3g})" for m in e.n_tasks.values)
        print(f"D={d}: fresh-task error {rows}; ridge {float(e.err_ridge):.3g}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report, verdicts_in_figure=True)
    return 0


if __name__ == "__main__":
    main()
