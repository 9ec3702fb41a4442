"""Reliability of grokking forecasts from 15% of training: probability and step, per split.

From ``sims/grokking_forecast.py``: (a, b) for held-out seeds and held-out weight decays, the
observed frequency of grokking per bin of the forecast probability (members not grokked by the
cutoff), one line per predictor; (c, d) the observed frequency with which the grokking step falls
at or below each forecast quantile level (members that grok), with the band a calibrated
forecast stays in. On the diagonal means calibrated.

Usage:
    python -m paper_figs.grokking_forecast_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from paper_figs import _common, _reliability
from sims import grokking_forecast as sim

NAME = "grokking_forecast_fig1"
TITLES = {"seed": "held-out seeds", "config": "held-out weight decays"}
SHOWN = ("population", "curve_learned", "theory", "sigmoid")


def draw(ds, verdicts, path: str) -> dict:
    fig, axes = plt.subplots(1, 5, figsize=(24, 4.8), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.9]})
    table = {}
    for i, split in enumerate(sim.SPLITS):
        s = {k: sim.scores(ds, split, k) for k in SHOWN}
        table[split] = s
        _reliability.probability_panel(axes[i], s, title=f"grok by the end: {TITLES[split]}")
        _reliability.quantile_panel(axes[2 + i], s, n=int(s["population"].n_events),
                                    title=f"grokking step: {TITLES[split]}")
    axes[4].axis("off")
    _common.verdict_box(axes[4], verdicts)
    fig.suptitle(f"Grokking forecasts from step {float(ds.attrs['cutoff']):.0f} "
                 "(sims/grokking_forecast.py)", fontsize=11)
    _common.save(fig, path)
    return table


def report(ds, table) -> None:
    for split, s in table.items():
        print(f"{TITLES[split]}: " + "; ".join(
            f"{k} AUROC {float(v.auroc):.3f}, step CRPS {float(v.crps_time):.4g}, 90% cover "
            f"{float(v.coverage_90):.2f}" for k, v in s.items()))


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
