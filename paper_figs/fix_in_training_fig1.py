""""Fix in post" against "fix in training": shortcut reliance and clean test loss per arm.

From ``sims/fix_in_training.py`` (a small MLP on labels from a noisy linear teacher plus a
shortcut input that is reliable only in training; the fix, corrected data, is the same in every
arm and every arm trains ``steps + k`` steps, equal total compute): (a) the final reliance on the
shortcut (fraction of conflict examples decided by it) per arm and shortcut strength, mean over
seeds with its 95% bootstrap interval, and the paired difference training minus post with its
interval above each group; (b) the same for the clean test loss; (c) reliance during training,
median over seeds, per arm, for the strongest shortcut (the "training" arm is corrected from
each member's own detection step, the "post" arm for the last ``k`` steps); (d) the verdicts.

References: arXiv:2606.06533 (the position paper this project serves); R. Geirhos et al. (2020),
arXiv:2004.07780; P. Kirichenko, P. Izmailov, A. G. Wilson (2023), arXiv:2204.02937.

Usage:
    python -m paper_figs.fix_in_training_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import fix_in_training as sim

NAME = "fix_in_training_fig1"
COLORS = {"none": "0.55", "post": "tab:orange", "training": "tab:blue"}
TITLES = {"reliance": "(a) final reliance on the shortcut", "test_loss": "(b) final clean test loss"}


def _arms_panel(ax, eff, var: str) -> None:
    rs = eff.reliability.values
    x = np.arange(len(rs))
    width = 0.8 / len(sim.ARMS)
    for k, arm in enumerate(sim.ARMS):
        e = eff.sel(arm=arm)
        m, lo, hi = e[var].values, e[f"{var}_lo"].values, e[f"{var}_hi"].values
        xs = x + (k - (len(sim.ARMS) - 1) / 2) * width
        ax.bar(xs, m, width * 0.9, color=COLORS[arm], label=arm)
        ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="none", ecolor="k", capsize=3)
    top = float(np.nanmax(eff[f"{var}_hi"].values))
    for j, r in enumerate(rs):
        d = eff.sel(reliability=r)
        ax.text(x[j], 1.04 * top, f"training − post\n{float(d[f'd_{var}']):+.3g} "
                f"[{float(d[f'd_{var}_lo']):+.3g}, {float(d[f'd_{var}_hi']):+.3g}]",
                ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"shortcut reliability {r:g}" for r in rs])
    ax.set_ylim(0, 1.3 * top)
    ax.set(ylabel=var.replace("_", " "), title=f"{TITLES[var]}, mean and 95% CI")
    ax.legend(fontsize=7, loc="upper left")


def draw(ds, verdicts, path: str):
    """Draw the figure; return the effects table it drew (``sim.effects(ds)``)."""
    eff = sim.effects(ds)
    cfg = sim.Config.from_attrs(ds)
    fig, axes = plt.subplots(1, 4, figsize=(22, 4.8), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.95]})
    _arms_panel(axes[0], eff, "reliance")
    _arms_panel(axes[1], eff, "test_loss")
    r = float(ds.reliability.values.max())
    step = ds.step.values
    for arm in sim.ARMS:
        rel = ds.reliance.sel(arm=arm, reliability=r)
        axes[2].plot(step, rel.median("seed"), color=COLORS[arm], lw=1.8, label=arm,
                     zorder=3 if arm == "none" else 2)  # post is none until it starts
        axes[2].fill_between(step, rel.quantile(0.1, "seed"), rel.quantile(0.9, "seed"),
                             color=COLORS[arm], alpha=0.15)
    det = ds.detected.sel(reliability=r)
    axes[2].axvline(float(det.where(det >= 0).median()), color="tab:blue", ls=":", lw=0.9,
                    label="signal fires (median)")
    axes[2].axvline(cfg.steps, color="tab:orange", ls=":", lw=0.9, label="post starts")
    axes[2].axhline(cfg.detect, color="gray", ls="--", lw=0.6)
    axes[2].set(xlabel="step", ylabel="reliance", ylim=(0, 1),
                title=f"(c) reliability {r:g}: median, 10-90% over seeds")
    axes[2].legend(fontsize=7)
    axes[3].axis("off")
    _common.verdict_box(axes[3], verdicts)
    fig.suptitle(f"Fix in post vs fix in training at equal compute ({cfg.steps} + {cfg.k} steps, "
                 f"{ds.sizes['seed']} seeds; sims/fix_in_training.py)", fontsize=11)
    _common.save(fig, path)
    return eff


def report(ds, eff) -> None:
    for r in eff.reliability.values:
        e = eff.sel(reliability=r)
        arms = "; ".join(f"{a}: reliance {float(e.reliance.sel(arm=a)):.3g}, clean loss "
                         f"{float(e.test_loss.sel(arm=a)):.3g}" for a in sim.ARMS)
        print(f"reliability {r:g}: {arms}; training - post: reliance {float(e.d_reliance):+.3g} "
              f"[{float(e.d_reliance_lo):+.3g}, {float(e.d_reliance_hi):+.3g}], clean loss "
              f"{float(e.d_test_loss):+.3g} [{float(e.d_test_loss_lo):+.3g}, {float(e.d_test_loss_hi):+.3g}]")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
