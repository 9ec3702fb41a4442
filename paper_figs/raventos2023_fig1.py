"""Raventós et al. (2023), Fig. 1 style: error on unseen tasks against pretraining task diversity M.

Two panels from ``sims/icl_regression.py`` (small transformers on in-context linear regression,
a pool of ``M`` pretraining tasks): (a) the trained model's error on fresh tasks (median over
seeds, 95% bootstrap interval) and on its pool's tasks against ``M``, beside the dMMSE error on
fresh tasks with each member's own pool and the ridge error (``theory/icl_regression.py``);
``M = inf`` is drawn at the right edge; (b) ``phi = (E_model - E_ridge) / (E_dmmse - E_ridge)``
per member (1: dMMSE, 0: ridge) where the two estimators differ, with the verdicts.

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
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.8, ds.sizes["d"]))
    for c, d in zip(colors, ds.d.values):
        e = ds.sel(d=d).transpose("n_tasks", "seed", ...)
        est, lo, hi = _median_ci(e.err_model.values)
        axes[0].errorbar(x, est, yerr=[est - lo, hi - est], fmt="o-", color=c, capsize=3,
                         label=f"model, fresh tasks (D={d})")
        axes[0].plot(x, np.median(e.err_pool.values, -1), "s:", color=c, label="model, pool tasks")
        axes[0].plot(x, np.median(e.err_dmmse.values, -1), "k--", lw=1, label="dMMSE (own pool), fresh")
        axes[0].axhline(float(e.err_ridge), color="k", lw=0.8, label="ridge")
        axes[1].plot(np.repeat(x[:, None], e.sizes["seed"], 1), e.phi.values, "o", color=c, alpha=0.6)
        axes[1].plot(x, e.phi.mean("seed").values, "-", color=c, label=f"seed mean (D={d})")
    labels = [f"{m:g}" if np.isfinite(m) else "inf" for m in ms]
    for ax in axes:
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
    _common.save(fig, path)


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
