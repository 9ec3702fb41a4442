"""Edge of stability: train loss and sharpness over time for several learning rates, with 2/eta.

Left: full-batch GD train loss (median over seeds, seeds faint). Right: sharpness (top Hessian
eigenvalue, warm-started power iteration) with the stability threshold ``2 / eta`` of each
learning rate dashed in the same colour: the sharpness rises (progressive sharpening), overshoots,
and settles at ``2 / eta``. A control learning rate (paper size), whose ``2 / eta`` lies above
where the sharpening saturates, stays below its threshold.

Pairs with ``sims/edge_of_stability.py`` and ``theory/edge_of_stability.py``; reproduces the
layout of Fig. 1 of J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar (2021), "Gradient descent
on neural networks typically occurs at the edge of stability", arXiv:2103.00065 (there: CIFAR-10
subset, tanh/ReLU nets; here: a teacher-student regression with a small tanh MLP).

Usage:
    python -m paper_figs.cohen2021_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import edge_of_stability as sim

NAME = "cohen2021_fig1"


def draw(ds, path: str) -> None:
    lrs = ds.lr.values
    colors = plt.cm.plasma(np.linspace(0.0, 0.85, len(lrs)))
    fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    t = ds.step.values
    for c, eta in zip(colors, lrs):
        a = ds.sel(lr=eta)
        ctrl = " (control)" if bool(a.control) else ""
        for s in a.seed.values:
            ax_l.plot(t, a.train_loss.sel(seed=s), color=c, lw=0.5, alpha=0.3)
            ax_s.plot(t, a.sharpness.sel(seed=s), color=c, lw=0.5, alpha=0.3)
        ax_l.plot(t, a.train_loss.median("seed"), color=c, lw=1.5, label=f"$\\eta$={eta:g}{ctrl}")
        ax_s.plot(t, a.sharpness.median("seed"), color=c, lw=1.5, label=f"$\\eta$={eta:g}{ctrl}")
        ax_s.axhline(float(a.theory_sharpness_max), color=c, ls="--", lw=1.0)
    ax_l.set_yscale("log")
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("train loss (0.5 mean sq. err.)")
    ax_l.set_title("train loss (full-batch GD)", fontsize=10)
    ax_l.legend(fontsize=8)
    ax_s.set_xlabel("step")
    ax_s.set_ylabel("sharpness $\\lambda_{max}(\\nabla^2 L)$")
    ax_s.set_title("sharpness; dashed: $2/\\eta$ (theory.edge_of_stability)", fontsize=10)
    top = float(ds.theory_sharpness_max.where(~ds.control).max())
    ax_s.set_ylim(0, 1.35 * top)
    fig.suptitle("Progressive sharpening, then the edge of stability: sharpness settles at $2/\\eta$",
                 fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    print("late-window sharpness vs the predicted 2/eta (median over the last "
          f"{sim.WINDOW:.0%} of steps; mean over seeds, 95% bootstrap CI):")
    late = sim._late(ds.sharpness)
    for eta in ds.lr.values:
        est, lo, hi = dt.bootstrap_ci(late.sel(lr=eta).values, axis=0)
        pred = float(ds.theory_sharpness_max.sel(lr=eta))
        tag = " (control)" if bool(ds.control.sel(lr=eta)) else ""
        print(f"  eta={eta:<5g} 2/eta={pred:7.3f}  measured {float(est):7.3f} [{float(lo):.3f}, "
              f"{float(hi):.3f}]  ratio {float(est) / pred:.4f}{tag}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
