"""Timing matters: effect on grokking time against when a weight-decay pulse or Grokfast starts.

From ``sims/intervention_timing.py`` (modular addition, full-batch AdamW; every member has a twin
without the intervention): (a) the paired change in restricted grokking time (test accuracy 0.9;
never grokked: the last step) against the step the intervention is applied, mean over seeds
with its 95% bootstrap band, one line per intervention; below zero the intervention brings
grokking forward; (b) the control's train and test accuracy (median and 10-90% over seeds),
with the intervention times; (c) the verdicts.

References: A. Lee et al. (2024), Grokfast, arXiv:2405.20233; A. Chen et al. (2023),
arXiv:2309.07311.

Usage:
    python -m paper_figs.intervention_timing_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import intervention_timing as sim

NAME = "intervention_timing_fig1"
LABELS = {"wd_pulse": "weight-decay pulse", "grokfast": "Grokfast (EMA filter)"}
COLORS = {"wd_pulse": "tab:blue", "grokfast": "tab:red"}


def _first_reach(acc, level: float = sim.THRESHOLD) -> float:
    """Median over seeds of the first recorded step at or above ``level`` (NaN if never)."""
    reached = (acc >= level).values
    steps = acc.step.values
    first = np.where(reached.any(-1), steps[np.argmax(reached, axis=-1)], np.nan)
    return float(np.nanmedian(first))


def draw(ds, verdicts, path: str):
    """Draw the figure; return the effects table it drew (``sim.effects(ds)``)."""
    eff = sim.effects(ds)
    times = eff.time.values
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.1, 1, 0.9]})
    for name in sim.ACTIONS:
        e = eff.sel(action=name)
        axes[0].plot(times, e.d_t, "o-", color=COLORS[name], label=LABELS[name])
        axes[0].fill_between(times, e.d_t_lo, e.d_t_hi, color=COLORS[name], alpha=0.2)
    axes[0].axhline(0, color="k", lw=0.8)
    control = ds.squeeze(("weight_decay", "init_scale"), drop=True)
    t_mem, t_grok = _first_reach(control.train_acc), _first_reach(control.test_acc)
    for ax in axes[:2]:
        ax.axvline(t_mem, color="gray", ls="--", lw=0.8)
        ax.axvline(t_grok, color="gray", ls=":", lw=0.8)
    axes[0].set(xlabel="step the intervention is applied", ylabel="Δ grokking time (steps, treated − twin)",
                title="(a) paired effect, mean and 95% CI over seeds")
    axes[0].legend(fontsize=8, title=f"-- memorised (~{t_mem:.0f}), : control groks (~{t_grok:.0f})",
                   title_fontsize=7)
    step = control.step.values
    for var, ls in (("train_acc", "--"), ("test_acc", "-")):
        a = control[var]
        axes[1].plot(step, a.median("seed"), "k", ls=ls, lw=1.5, label=var)
        axes[1].fill_between(step, a.quantile(0.1, "seed"), a.quantile(0.9, "seed"), color="0.6", alpha=0.3)
    for t in times:
        axes[1].axvline(t, color="tab:green", lw=0.6, alpha=0.6)
    axes[1].set(xlabel="step", ylabel="accuracy", title="(b) control; green: intervention times")
    axes[1].legend(fontsize=8)
    axes[2].axis("off")
    _common.verdict_box(axes[2], verdicts)
    fig.suptitle(f"When to intervene during grokking ({ds.sizes['seed']} seeds; "
                 "sims/intervention_timing.py)", fontsize=11)
    _common.save(fig, path)
    return eff


def report(ds, eff) -> None:
    for name in sim.ACTIONS:
        e = eff.sel(action=name)
        print(f"{name}: " + "; ".join(
            f"t={t}: {float(e.d_t.sel(time=t)):+.0f} [{float(e.d_t_lo.sel(time=t)):+.0f}, "
            f"{float(e.d_t_hi.sel(time=t)):+.0f}] steps, grok rate {float(e.d_rate.sel(time=t)):+.2f}"
            for t in e.time.values))


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
