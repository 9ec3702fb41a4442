"""Loss-spike recovery: recovery rate and final-loss effect of five spike policies, paired CIs.

From ``sims/spike_recovery.py`` (a two-layer MLP with Adam at a learning rate above the edge and
a tiny epsilon, the small-scale proxy of Wortsman et al. 2023; each policy fired by the member's
own loss spike and compared with its untreated twin): (a) recovery rate of the spiked members,
treated (bar) and twins (grey tick), with the 95% paired bootstrap interval of the difference
drawn around the treated rate; (b) the paired change of the final ``log10`` test loss per
policy, with its 95% interval, one marker per learning rate; (c) the control's train loss
(median and 10-90% band over seeds) per learning rate, with the recovery level; (d) the
verdicts (largest learning rate).

References: M. Wortsman et al. (2023), arXiv:2309.14322; A. Chowdhery et al. (2022), PaLM,
arXiv:2204.02311.

Usage:
    python -m paper_figs.spike_recovery_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import spike_recovery as sim

NAME = "spike_recovery_fig1"
LABELS = {"skip_batches": "rewind+skip\n(PaLM)", "rewind": "rewind", "lr_cut": "lr x0.1",
          "clip_updates": "clip\nupdates", "average_weights": "average\nweights"}


def draw(ds, verdicts, path: str):
    """Draw the figure; return the effects table it drew (``sim.effects(ds)``)."""
    eff = sim.effects(ds)
    lrs = ds.lr.values
    colors = plt.cm.plasma(np.linspace(0.15, 0.75, len(lrs)))
    x = np.arange(len(sim.POLICIES))
    width = 0.8 / len(lrs)
    fig, axes = plt.subplots(1, 4, figsize=(22, 4.8), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.95]})
    for k, (lr, c) in enumerate(zip(lrs, colors)):
        e = eff.sel(lr=lr, policy=list(sim.POLICIES))
        xs = x + (k - (len(lrs) - 1) / 2) * width
        n = int(e.n_spiked.max())
        rate = e.rate_treated.values
        # the paired difference's interval, placed on the treated rate (twin rate + diff bounds)
        lo = e.rate_control.values + e.recovery_lo.values
        hi = e.rate_control.values + e.recovery_hi.values
        axes[0].bar(xs, rate, width * 0.9, color=c, alpha=0.75, label=f"lr={lr:g} ({n} spiked)")
        axes[0].errorbar(xs, rate, yerr=[rate - lo, hi - rate], fmt="none", ecolor="k", capsize=3)
        axes[0].scatter(xs, e.rate_control.values, marker="_", s=250, color="0.4", zorder=3)
        fl = e.final_loss.values
        axes[1].errorbar(xs, fl, yerr=[fl - e.final_loss_lo.values, e.final_loss_hi.values - fl],
                         fmt="o", color=c, capsize=3, label=f"lr={lr:g}")
        loss = ds.train_loss.sel(lr=lr)
        step = ds.step.values
        axes[2].plot(step, loss.median("seed"), color=c, lw=1.8, label=f"lr={lr:g} (control)")
        axes[2].fill_between(step, loss.quantile(0.1, "seed"), loss.quantile(0.9, "seed"),
                             color=c, alpha=0.2)
    cfg = sim.Config.from_attrs(ds)
    for ax in axes[:2]:
        ax.set_xticks(x, [LABELS[p] for p in sim.POLICIES], fontsize=8)
        ax.legend(fontsize=7)
    axes[0].set(ylim=(0, 1.05), ylabel="recovered by the end (fraction of spiked)",
                title="(a) recovery: treated (bar), twins (—), 95% paired CI")
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set(ylabel="Δ log10 final test loss (treated − twin)",
                title="(b) final-loss effect, 95% paired CI")
    axes[2].axhline(cfg.recovered_loss, color="gray", ls=":", lw=0.8, label="recovered level")
    axes[2].set(yscale="log", xlabel="step", ylabel="train loss",
                title="(c) control: median, 10-90% over seeds")
    axes[2].legend(fontsize=7)
    axes[3].axis("off")
    _common.verdict_box(axes[3], verdicts)
    fig.suptitle(f"Spike policies, fired by the member's own spike (eps={cfg.eps:g}, {cfg.seeds} "
                 "seeds; sims/spike_recovery.py)", fontsize=11)
    _common.save(fig, path)
    return eff


def report(ds, eff) -> None:
    for lr in eff.lr.values:
        for p in sim.POLICIES:
            e = eff.sel(lr=lr, policy=p)
            print(f"lr={lr:g} {p}: {int(e.n_spiked)} spiked, recovered {float(e.rate_treated):.2f} vs "
                  f"twins {float(e.rate_control):.2f}, diff {float(e.recovery):+.2f} "
                  f"[{float(e.recovery_lo):+.2f}, {float(e.recovery_hi):+.2f}]; d log10 final test loss "
                  f"{float(e.final_loss):+.3f} [{float(e.final_loss_lo):+.3f}, {float(e.final_loss_hi):+.3f}]")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
