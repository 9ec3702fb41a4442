"""Reliability of final-loss forecasts on power-law features: quantile level against frequency.

One panel per split of ``sims/scaling_forecast.py`` (held-out seeds, unseen ``beta``): for each
predictor, the observed frequency with which the final test loss falls at or below the forecast's
level-``tau`` quantile, made from the first 10% of training. A calibrated forecast lies on the
diagonal, inside the grey binomial band. The curve-only families are far off it (the last value
nearly always under-forecasts, the power law's median is biased), the theory-based and
population forecasts follow it; a third panel shows each predictor's CRPS.

Usage:
    python -m paper_figs.scaling_forecast_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common, _reliability
from sims import scaling_forecast as sim

NAME = "scaling_forecast_fig1"
TITLES = {"seed": "held-out seeds", "config": "unseen beta"}


def draw(ds, verdicts, path: str) -> dict:
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.9]})
    table = {}
    for ax, split in zip(axes, sim.SPLITS):
        s = {k: sim.scores(ds, split, k) for k in sim.PREDICTORS}
        table[split] = s
        _reliability.quantile_panel(ax, s, n=int(s["theory_anchored"].n_scored),
                                    title=f"final test loss from 10% of training: {TITLES[split]}")
    ax = axes[2]
    x = np.arange(len(sim.PREDICTORS))
    for i, split in enumerate(sim.SPLITS):
        ax.bar(x + 0.4 * i - 0.2, [float(table[split][k].crps) for k in sim.PREDICTORS], width=0.4,
               label=TITLES[split])
    ax.set_xticks(x, list(sim.PREDICTORS), rotation=30, fontsize=7)
    ax.set(yscale="log", ylabel="CRPS (lower is better)", title="CRPS on held-out members")
    ax.legend(fontsize=7)
    axes[3].axis("off")
    _common.verdict_box(axes[3], verdicts)
    fig.suptitle("Power-law features, online SGD: forecasting the final loss (sims/scaling_forecast.py)",
                 fontsize=11)
    _common.save(fig, path)
    return table


def report(ds, table) -> None:
    for split, s in table.items():
        print(f"{TITLES[split]}: " + "; ".join(
            f"{k} CRPS {float(v.crps):.3g}, log score {float(v.log_score):.3g}, 90% cover "
            f"{float(v.coverage_90):.2f}" for k, v in s.items()))


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
