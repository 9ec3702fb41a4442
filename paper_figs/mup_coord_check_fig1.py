"""The coordinate check as a rule: |delta h| and |delta f| against width, early and late.

From ``sims/mup_coord_check.py``: the RMS change since initialisation of the last hidden features
(``|delta h|``, top) and of the output (``|delta f|``, bottom) against width, log-log, after the
first Adam steps (left, step ``EARLY``) and at the end of training (right), for SP, muP and the two
mutants (readout left as in SP; Adam eps unscaled). Points are means over seeds with the seeds'
2.5-97.5% bootstrap interval of the mean; each legend entry gives the fitted slope with its 95%
interval (the ``design.Exponent`` rule, members resampled jointly across widths). muP's lines are
flat early; SP's rise; each mutant breaks exactly one of the two (Yang et al. 2022, Tensor
Programs V, arXiv 2203.03466, Appendix D.1; the eps bug of arXiv 2512.22382).

Usage:
    python -m paper_figs.mup_coord_check_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from dyntheory import design
from paper_figs import _common
from sims import mup_coord_check as sim

NAME = "mup_coord_check_fig1"
STYLE = {"sp": ("C3", "o", "SP"), "mup": ("C0", "s", "muP"), "mutant_readout": ("C2", "^", "mutant: SP readout"),
         "mutant_eps": ("C1", "v", "mutant: eps unscaled")}
QUANTITIES = {"dh": ("|delta h|", "last hidden features"), "df": ("|delta f|", "output")}


def slopes(ds) -> dict:
    """``{(variant, quantity, "early"|"late"): Verdict}``: each log-log slope against width, with
    its bootstrap interval, judged against 0 within ``sim.MARGIN`` (the muP claim)."""
    steps = {"early": sim.EARLY, "late": int(ds.step.values[-1])}
    return {(v, q, when): design.check_rule(design.Exponent(
                name=f"coord_{v}_{q}_{when}", metric=q, along="widths", step=step, slope=0.0,
                margin=sim.MARGIN, sel={"variant": v}), ds)
            for v in ds.variant.values for q in QUANTITIES for when, step in steps.items()}


def draw(ds, path: str) -> dict:
    fitted = slopes(ds)
    steps = {"early": sim.EARLY, "late": int(ds.step.values[-1])}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), constrained_layout=True)
    w = ds.widths.values.astype(float)
    rng = np.random.default_rng(0)
    for i, (q, (short, what)) in enumerate(QUANTITIES.items()):
        for j, (when, step) in enumerate(steps.items()):
            ax = axes[i, j]
            for v in ds.variant.values:
                color, marker, label = STYLE.get(v, ("k", "x", v))
                y = ds[q].sel(variant=v, step=step).transpose("widths", "seed").values
                boot = y[:, rng.integers(0, y.shape[1], (1000, y.shape[1]))].mean(-1)
                lo, hi = np.percentile(boot, [2.5, 97.5], axis=1)
                mean = y.mean(1)
                fit = fitted[(v, q, when)]
                ax.errorbar(w, mean, yerr=[mean - lo, hi - mean], fmt=f"-{marker}", color=color, ms=4,
                            capsize=2, label=f"{label}: slope {fit.effect:+.2f} "
                                             f"[{fit.interval[0]:+.2f}, {fit.interval[1]:+.2f}]")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width")
            ax.set_ylabel(f"{short} ({what}), RMS")
            ax.set_title(f"{short} at step {step} ({when})", fontsize=10)
            ax.legend(fontsize=7, title="slope vs width [95% CI]", title_fontsize=7)
    fig.suptitle("Coordinate check as a rule: slope 0 within "
                 f"±{sim.MARGIN} passes (sims/mup_coord_check.py)", fontsize=11)
    _common.save(fig, path)
    return fitted


def report(ds, fitted) -> None:
    for (v, q, when), fit in fitted.items():
        print(f"{v} {q} {when}: slope {fit.effect:+.3f} [{fit.interval[0]:+.3f}, {fit.interval[1]:+.3f}] "
              f"({fit.status} against 0 ± {sim.MARGIN})")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)


if __name__ == "__main__":
    main()
