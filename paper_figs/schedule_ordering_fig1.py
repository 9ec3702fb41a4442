"""Warmup-stable-decay against cosine at equal steps: loss curves and the paired difference.

From ``sims/schedule_ordering.py`` (Hägele et al. 2024, "Scaling laws and compute-optimal training
beyond fixed training durations", arXiv 2405.18392, fig. 3; Hu et al. 2024, MiniCPM, arXiv
2404.06395): (a) the held-out loss along training of each schedule at its own best peak learning
rate, seed mean and the band of ±1 standard deviation over seeds; (b) WSD's paired advantage
(cosine's loss minus WSD's, same seed: same initialisation and batches) along training, each seed
thin, the mean with a 95% bootstrap band over seeds, and at the last step the verdict's interval;
(c) the final held-out loss against the peak learning rate (mean ± standard error), each
schedule's best marked; (d) the verdicts. Above 0 in (b) at the end means WSD ends lower.

Usage:
    python -m paper_figs.schedule_ordering_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import schedule_ordering as sim

NAME = "schedule_ordering_fig1"
COLORS = {"wsd": "tab:red", "cosine": "tab:blue"}
N_BOOT = 2000


def curves_at_best_lr(ds):
    """Held-out loss ``(schedule, seed, step)`` of each schedule at its own best peak lr, and those lrs."""
    best = sim.at_best_lr(ds)["lr"]
    curves = {s: ds["test_loss"].sel(schedule=s, lr=float(best.sel(schedule=s))) for s in ds.schedule.values}
    return curves, {s: float(best.sel(schedule=s)) for s in curves}


def paired_band(diff: np.ndarray, level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap band over seeds (axis 0) of the mean of ``diff``, per step."""
    n = diff.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(N_BOOT, n))
    boot = diff[idx].mean(1)
    a = (1 - level) / 2
    return np.quantile(boot, a, axis=0), np.quantile(boot, 1 - a, axis=0)


def draw(ds, verdicts, path: str) -> dict:
    curves, best = curves_at_best_lr(ds)
    steps = ds.step.values
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.9]})
    ax = axes[0]
    for s, c in curves.items():
        m, sd = c.mean("seed").values, c.std("seed").values
        ax.plot(steps, m, "-", color=COLORS.get(s), label=f"{s} (peak lr {best[s]:g})")
        ax.fill_between(steps, m - sd, m + sd, color=COLORS.get(s), alpha=0.2, lw=0)
    # The y range from the second record on: step 0's loss would flatten the part that differs.
    rest = np.concatenate([(c.mean("seed") + k * c.std("seed")).values[1:]
                           for c in curves.values() for k in (-1, 1)])
    ax.set_ylim(max(float(rest.min()), 1e-12) / 1.1, float(rest.max()) * 1.1)
    ax.set(yscale="log", xlabel="step", ylabel="held-out loss", title="(a) at each schedule's best peak lr")
    ax.legend(fontsize=8)

    ax = axes[1]
    diff = (curves["cosine"] - curves["wsd"]).transpose("seed", "step").values
    for row in diff:
        ax.plot(steps, row, "-", color="0.6", lw=0.5)
    lo, hi = paired_band(diff)
    mean = diff.mean(0)
    ax.fill_between(steps, lo, hi, color="tab:purple", alpha=0.3, lw=0, label="mean, 95% bootstrap band")
    ax.plot(steps, mean, "-", color="tab:purple")
    v = {x.name: x for x in verdicts}["wsd_beats_cosine"]
    ax.errorbar([steps[-1]], [v.effect], yerr=[[v.effect - v.interval[0]], [v.interval[1] - v.effect]],
                fmt="s", color="k", capsize=3, label=f"verdict: {v.effect:+.2g} [{v.interval[0]:+.2g}, "
                f"{v.interval[1]:+.2g}] {v.status}")
    ax.axhline(0, color="k", lw=0.8)
    # The end is what is judged; zoom so its interval is visible beside the early transient.
    tail = slice(len(steps) // 2, None)
    span = np.concatenate([lo[tail], hi[tail], [0.0]])
    pad = 0.25 * (span.max() - span.min() + 1e-12)
    ax.set_ylim(span.min() - pad, span.max() + pad)
    ax.set(xlabel="step", ylabel="cosine - WSD held-out loss (same seed)",
           title="(b) WSD's paired advantage (second half)")
    ax.set_xlim(steps[len(steps) // 2], steps[-1] * 1.02)
    ax.legend(fontsize=7)

    ax = axes[2]
    final = ds["test_loss"].isel(step=-1).where(ds["diverged_at"] < 0)
    for s in ds.schedule.values:
        f = final.sel(schedule=s)
        m, se = f.mean("seed").values, (f.std("seed") / np.sqrt(f.count("seed"))).values
        ax.errorbar(ds.lr.values, m, yerr=se, fmt="o-", color=COLORS.get(s), ms=3, capsize=2, label=s)
        ax.plot([best[s]], [float(f.sel(lr=best[s]).mean())], "*", color=COLORS.get(s), ms=12, mec="k", mew=0.5)
    ax.set(xscale="log", yscale="log", xlabel="peak learning rate", ylabel="final held-out loss",
           title="(c) final loss against peak lr (best: star)")
    ax.legend(fontsize=8)

    axes[3].axis("off")
    _common.verdict_box(axes[3], verdicts)
    cfg = sim.Config.from_attrs(ds)
    fig.suptitle(f"WSD against cosine at {cfg.steps} steps, width {cfg.width}, {ds.sizes['seed']} paired seeds "
                 f"(sims/schedule_ordering.py, size {ds.attrs.get('size', '?')})", fontsize=11)
    _common.save(fig, path)
    return {"best_lr": best, "final_advantage": (float(mean[-1]), float(lo[-1]), float(hi[-1]))}


def report(ds, drawn) -> None:
    est, lo, hi = drawn["final_advantage"]
    print("best peak lr: " + ", ".join(f"{s} {lr:g}" for s, lr in drawn["best_lr"].items()))
    print(f"WSD's paired advantage at the last step (cosine - WSD): {est:+.3g} [{lo:+.3g}, {hi:+.3g}]")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
