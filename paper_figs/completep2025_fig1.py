"""Depth transfer of Adam's learning rate with residual branches scaled by 1/L, 1/sqrt(L), or not.

From ``sims/depth_transfer.py`` (Dey et al. 2025, "Don't be lazy: CompleteP enables
compute-efficient deep transformers", arXiv 2505.01618, fig. 1; Yang et al. 2023, arXiv
2310.02244): (a-c) the held-out loss (seed mean) against the learning rate, one line per depth,
one panel per residual scaling, each depth's best learning rate ``lr*`` marked (the rule's
parabola-refined argmin); (d) ``lr*`` against depth on log-log axes with its bootstrap interval
over seeds, the fitted slope of ``log lr*`` against ``log L`` with its 95% CI beside the theory's
(0 for both scalings, -1 unscaled); (e) the verdicts. Flat ``lr*`` in (d) means the learning rate
transfers across depth.

Usage:
    python -m paper_figs.completep2025_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from paper_figs import _common
from sims import depth_transfer as sim

NAME = "completep2025_fig1"
TITLES = {"completep": "CompleteP: branches x 1/L", "depth_mup": "depth-muP: branches x 1/sqrt(L)",
          "none": "unscaled branches"}
COLORS = {"completep": "tab:blue", "depth_mup": "tab:orange", "none": "tab:gray"}


def lr_stars(verdicts) -> dict:
    """Each scaling's ``transfer_<label>`` verdict: ``label -> (per-depth table, verdict)``."""
    by_name = {v.name: v for v in verdicts}
    return {name.removeprefix("transfer_"): (v.per_coord, v) for name, v in by_name.items()
            if name.startswith("transfer_")}


def loss_panel(ax, ds, label: str, table) -> None:
    """(a-c): seed-mean held-out loss against lr, one line per depth, ``lr*`` marked."""
    loss = ds["held_out"].sel(residual=label).mean("seed")
    cmap = plt.get_cmap("viridis")
    depths = list(ds.depth.values)
    vals = np.where(np.isfinite(loss.values), loss.values, np.nan)
    # Zoom on the basin: losses past 100x the best are off the chart (the lr grid's top diverges).
    low = float(np.nanmin(vals))
    top = min(float(np.nanmax(vals)) * 1.5, 100 * low)
    for i, d in enumerate(depths):
        c = cmap(i / max(len(depths) - 1, 1))
        y = loss.sel(depth=d).values
        ok = np.isfinite(y)
        ax.plot(ds.lr.values[ok], y[ok], "o-", color=c, ms=3, lw=1.2, label=f"L={d}")
        ax.plot(ds.lr.values[~ok], np.full((~ok).sum(), top / 1.3), "x", color=c, ms=5)
        star = float(table["lr_star"].sel(depth=d))
        ax.axvline(star, color=c, lw=0.8, ls=":")
        if ok.sum() >= 2:  # the star on the curve, interpolated in log-log as the argmin is refined
            at = np.exp(np.interp(np.log(star), np.log(ds.lr.values[ok]), np.log(y[ok])))
            ax.plot([star], [at], "*", color=c, ms=11, mec="k", mew=0.5)
    ax.set(xscale="log", yscale="log", xlabel="Adam learning rate", ylabel="held-out loss (seed mean)",
           title=TITLES.get(label, label), ylim=(low / 1.3, top))
    ax.legend(fontsize=7, title="depth (x: diverged)", title_fontsize=7)


def slope_panel(ax, ds, stars: dict) -> dict:
    """(d): ``lr*`` against depth with its interval, and the fitted slope with its CI."""
    fits = {}
    depths = ds.depth.values.astype(float)
    for k, (label, (table, v)) in enumerate(stars.items()):
        star, lo, hi = (table[n].values for n in ("lr_star", "lo", "hi"))
        x = depths * (1 + 0.04 * (k - 1))  # a small offset so the error bars do not overlap
        slope, (lo_s, hi_s) = v.effect, v.interval  # the transfer rules' target slope is 0
        ax.errorbar(x, star, yerr=[star - lo, hi - star], fmt="o", color=COLORS.get(label), ms=4, capsize=2,
                    label=f"{label}: slope {slope:+.2f} [{lo_s:+.2f}, {hi_s:+.2f}] ({v.status})")
        # The fitted line through the geometric mean, as the rule fits it (unweighted, log-log).
        b = np.mean(np.log(star)) - slope * np.mean(np.log(depths))
        ax.plot(depths, np.exp(b + slope * np.log(depths)), "-", color=COLORS.get(label), lw=1)
        fits[label] = (slope, (lo_s, hi_s), v.status)
    ax.set(xscale="log", yscale="log", xlabel="depth L (residual blocks)", ylabel="lr* (95% CI over seeds)",
           title="lr* against depth (theory: 0, 0, -1)")
    ax.set_xticks(depths, [f"{d:g}" for d in depths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)
    return fits


def draw(ds, verdicts, path: str) -> dict:
    stars = lr_stars(verdicts)
    labels = [r for r in ds.residual.values if r in stars]
    fig, axes = plt.subplots(1, len(labels) + 2, figsize=(5 * (len(labels) + 2), 4.6), constrained_layout=True)
    for ax, label in zip(axes, labels):
        loss_panel(ax, ds, label, stars[label][0])
    fits = slope_panel(axes[len(labels)], ds, {k: stars[k] for k in labels})
    axes[-1].axis("off")
    _common.verdict_box(axes[-1], verdicts)
    width = sim.Config.from_attrs(ds).width
    fig.suptitle(f"Depth transfer of the learning rate, width {width} "
                 f"(sims/depth_transfer.py, size {ds.attrs.get('size', '?')})", fontsize=11)
    _common.save(fig, path)
    return fits


def report(ds, fits) -> None:
    for label, (slope, (lo, hi), status) in fits.items():
        print(f"{label}: slope of log lr* against log depth {slope:+.3f} [{lo:+.3f}, {hi:+.3f}] "
              f"(theory {float(ds['theory_slope'].sel(residual=label)):+g}): {status}")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
