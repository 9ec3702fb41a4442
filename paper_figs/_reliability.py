"""Reliability diagrams of the forecast sims: predicted quantile level (or probability) against
the observed frequency, with the band a calibrated forecast stays in.

For a calibrated quantile forecast, the outcome falls at or below the level-``tau`` quantile with
probability ``tau``; over ``n`` independent members the observed frequency is binomial, so the
band drawn is ``tau ± 1.96 sqrt(tau (1 - tau) / n)`` (pointwise, not simultaneous). The module
name starts with ``_``, so ``dyntheory figures`` does not list it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

__all__ = ["probability_panel", "quantile_panel"]


def quantile_panel(ax, scores: Mapping[str, xr.Dataset], *, n: int, title: str) -> None:
    """Observed frequency of ``outcome <= q_tau`` against ``tau``, one line per predictor.

    Args:
        ax: the matplotlib axes.
        scores: predictor name -> ``predict.score_forecast`` output (its ``reliability``).
        n: members the frequencies rest on (for the binomial band).
        title: the panel's title.
    """
    tau = np.linspace(0.01, 0.99, 99)
    if n > 0:
        half = 1.96 * np.sqrt(tau * (1 - tau) / n)
        ax.fill_between(tau, tau - half, tau + half, color="0.85", label=f"calibrated ±1.96 SE (n={n})")
    ax.plot([0, 1], [0, 1], color="0.4", lw=0.8)
    for name, s in scores.items():
        rel = s.reliability
        ax.plot(rel.level.values, rel.values, marker="o", ms=3, lw=1.2, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast quantile level", ylabel="observed frequency",
           title=title)
    ax.legend(fontsize=6.5, loc="upper left")


def probability_panel(ax, scores: Mapping[str, xr.Dataset], *, title: str) -> None:
    """Observed event frequency per bin of the forecast probability (bins with members only)."""
    ax.plot([0, 1], [0, 1], color="0.4", lw=0.8)
    for name, s in scores.items():
        keep = s.p_bin_count.values > 0
        ax.plot(s.p_bin_p_mean.values[keep], s.p_bin_frequency.values[keep], marker="o", ms=3, lw=1.2,
                label=f"{name} (AUROC {float(s.auroc):.2f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast probability", ylabel="observed frequency",
           title=title)
    ax.legend(fontsize=6.5, loc="upper left")
