"""Reliability of sparse-parity transition-step forecasts made before the loss moves.

From ``sims/parity_forecast.py``: (a, b) for held-out seeds and unseen ``n``, the observed
frequency with which the transition step falls at or below each forecast quantile level, one
line per predictor (hidden progress, the relevant weight mass, against ``n`` alone, the loss
curves and the curve-only sigmoid); a calibrated forecast lies on the diagonal, inside the grey
binomial band. (c) The ``hidden`` forecast's median and 90% interval against the observed step
for held-out seeds, members still at chance at the cutoff marked filled: how far ahead the step
is foretold, and how precisely.

Usage:
    python -m paper_figs.parity_forecast_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common, _reliability
from sims import parity_forecast as sim

NAME = "parity_forecast_fig1"
TITLES = {"seed": "held-out seeds", "config": "unseen n"}
SHOWN = ("hidden", "config", "loss_curve", "sigmoid")


def draw(ds, verdicts, path: str) -> dict:
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 0.9]})
    table = {}
    for ax, split in zip(axes, sim.SPLITS):
        s = {k: sim.scores(ds, split, k) for k in SHOWN}
        table[split] = s
        _reliability.quantile_panel(ax, s, n=int(s["hidden"].n_events),
                                    title=f"transition step from {float(ds.attrs['cutoff']):.0f} steps: "
                                          f"{TITLES[split]}")
    ax = axes[2]
    test = (ds.role.sel(split="seed") == "test") & ds.happened
    q = ds.t_quantiles.sel(split="seed", predictor="hidden")
    t = ds.t_event.where(test)
    for n_bits, c in zip(ds.n_bits.values, plt.cm.viridis(np.linspace(0, 0.85, ds.sizes["n_bits"]))):
        sel = test.sel(n_bits=n_bits).values
        qq = q.sel(n_bits=n_bits).values[sel]
        tt = t.sel(n_bits=n_bits).values[sel]
        chance = ds.at_chance.sel(n_bits=n_bits).values[sel]
        med = qq[:, list(q.level.values).index(0.5)]
        lo, hi = qq[:, list(q.level.values).index(0.05)], qq[:, list(q.level.values).index(0.95)]
        ax.errorbar(tt, med, yerr=[med - lo, hi - med], fmt="none", ecolor=c, alpha=0.5)
        ax.scatter(tt[chance], med[chance], color=c, label=f"n={n_bits}", zorder=3)
        ax.scatter(tt[~chance], med[~chance], facecolor="none", edgecolor=c, zorder=3)
    lim = [0, float(ds.step[-1])]
    ax.plot(lim, lim, color="0.4", lw=0.8)
    ax.axvline(float(ds.attrs["cutoff"]), color="k", ls=":", lw=0.8, label="cutoff")
    ax.set(xlim=lim, ylim=lim, xlabel="observed transition step", ylabel="forecast median (90% interval)",
           title="hidden progress forecast, held-out seeds (filled: at chance at cutoff)")
    ax.legend(fontsize=7)
    axes[3].axis("off")
    _common.verdict_box(axes[3], verdicts)
    fig.suptitle("Sparse parity (n, 3): forecasting the transition from hidden progress "
                 "(sims/parity_forecast.py)", fontsize=11)
    _common.save(fig, path)
    return table


def report(ds, table) -> None:
    for split, s in table.items():
        print(f"{TITLES[split]}: " + "; ".join(
            f"{k} CRPS {float(v.crps_time):.4g} steps, 90% cover {float(v.coverage_90):.2f}"
            for k, v in s.items()))


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
