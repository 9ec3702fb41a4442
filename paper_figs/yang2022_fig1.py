"""Learning-rate transfer (Yang et al. 2022, Tensor Programs V, arXiv 2203.03466, Fig. 1).

From ``sims/mup_lr_transfer.py``: the held-out loss (mean over seeds, log scale) against log2 of
Adam's learning rate, one line per width, for the standard parametrization beside muP (and the
readout mutant, when run). Each width's best learning rate ``lr*`` (the parabola-refined argmin
the ``Invariance`` rule uses) is marked with its bootstrap interval over seeds; each panel's title
gives the slope of ``log lr*`` against ``log width`` with its 95% interval and the rule's status.
In the paper SP's optimum drifts left as width grows and muP's stays put.

Usage:
    python -m paper_figs.yang2022_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import mup_lr_transfer as sim

NAME = "yang2022_fig1"
TITLES = {"sp": "standard parametrization (SP)", "mup": "muP", "mutant_readout": "muP, SP readout (mutant)",
          "mutant_eps": "muP, eps unscaled (mutant)"}


def transfer_verdicts(ds, verdicts) -> dict:
    """The ``transfer_<variant>`` verdict of each variant in ``ds``, by variant."""
    by_name = {v.name: v for v in verdicts}
    return {v: by_name[f"transfer_{v}"] for v in ds.variant.values if f"transfer_{v}" in by_name}


def draw(ds, verdicts, path: str) -> dict:
    shown = transfer_verdicts(ds, verdicts)
    fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 4.4), sharey=True,
                             constrained_layout=True, squeeze=False)
    widths = ds.widths.values
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(widths)))
    for ax, (variant, v) in zip(axes[0], shown.items()):
        own = sim.variant_data(ds, variant)  # each variant trains its own lr grid
        log2_lr = np.log2(own.lr.values)
        loss = own["held_out"]
        mean = loss.where(np.isfinite(loss)).mean("seed")  # a diverged member leaves a gap
        stars = v.per_coord
        for w, c in zip(widths, colors):
            ax.plot(log2_lr, mean.sel(widths=w).values, "-o", ms=3, color=c, label=f"width {w}")
            s = stars.sel(widths=w)
            x, lo, hi = (np.log2(float(s[k])) for k in ("lr_star", "lo", "hi"))
            y = np.nanmin(mean.sel(widths=w).values)
            ax.errorbar([x], [y], xerr=[[x - lo], [hi - x]], fmt="*", ms=11, color=c, mec="k", mew=0.5,
                        capsize=2)
        ax.set_yscale("log")
        ax.set_xlabel("log2 learning rate (Adam)")
        ax.set_title(f"{TITLES.get(variant, variant)}\nslope of log lr* vs log width {v.effect:+.2f} "
                     f"[{v.interval[0]:+.2f}, {v.interval[1]:+.2f}]: {v.status}", fontsize=9)
    axes[0, 0].set_ylabel(f"held-out loss (mean of last {sim.Config.from_attrs(ds).tail} records)")
    axes[0, -1].legend(fontsize=7, title="star: lr* [95% CI]", title_fontsize=7)
    fig.suptitle("Learning-rate transfer across width (sims/mup_lr_transfer.py; "
                 "after Yang et al. 2022, Fig. 1)", fontsize=10)
    _common.save(fig, path)
    return shown


def report(ds, shown) -> None:
    for variant, v in shown.items():
        stars = ", ".join(f"{w}: {float(s):.3g}" for w, s in zip(ds.widths.values, v.per_coord.lr_star.values))
        pred = (f"; first step predicts {float(ds['first_step_slope'].sel(variant=variant)):+.2f}"
                if "first_step_slope" in ds else "")
        print(f"{variant}: slope {v.effect:+.3f} [{v.interval[0]:+.3f}, {v.interval[1]:+.3f}] "
              f"({v.status}){pred}; lr* {stars}")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
