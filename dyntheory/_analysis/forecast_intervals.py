"""Intervals of forecast scores that respect clusters of members: coverage and AUROC.

Members of a sweep that share a seed often share its random streams (the same initialisation or
data order under every configuration), so their outcomes and their forecasts' errors move
together: in the grokking forecast run the log grokking steps of one seed correlate at 0.7 across
weight decays. A binomial or bootstrap interval that treats every member as independent is then
too narrow. These intervals resample whole clusters (a cluster bootstrap: A. C. Davison, D. V.
Hinkley (1997), "Bootstrap Methods and their Application", CUP, section 3.8) when told which
member dim forms them.

Example:
    >>> import numpy as np, xarray as xr
    >>> cover = xr.DataArray(np.tile([1.0, 1.0, 0.0, 1.0], (5, 1)), dims=("lr", "seed"))
    >>> est, lo, hi = coverage_ci(xr.Dataset({"member_cover_90": cover}), cluster="seed")
    >>> est, bool(lo < 0.75 < hi)
    (0.75, True)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dyntheory._analysis import forecast_score as fs
from dyntheory._analysis.stats import binomial_ci, bootstrap_groups

__all__ = ["auroc_ci", "cluster_labels", "coverage_ci"]


def cluster_labels(member: xr.DataArray, cluster: str) -> np.ndarray:
    """Each member's position along the ``cluster`` dim, raveled like ``member.values``."""
    if cluster not in member.dims:
        raise ValueError(f"cluster={cluster!r} is not a member dim of the scores {member.dims}")
    pos = xr.DataArray(np.arange(member.sizes[cluster]), dims=cluster)
    return pos.broadcast_like(member).transpose(*member.dims).values.ravel()


def coverage_ci(scores: xr.Dataset, width: float = 0.9, *, cluster: str | None = None,
                level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Coverage of the ``width`` central intervals over the scored members, with its interval.

    Without ``cluster`` the members are independent trials: the Wilson interval
    (:func:`~dyntheory._analysis.stats.binomial_ci`). Members that share a coordinate, such as
    a ``seed`` whose random streams every configuration reuses, are not independent: their
    misses come together, and a binomial interval over members is too narrow. With ``cluster``
    the whole cluster is resampled (a percentile bootstrap of ``sum covered / sum scored``), and
    the interval returned is the union of that and the Wilson interval (the bootstrap alone
    collapses to a point when every member is covered).

    Args:
        scores: :func:`~dyntheory._analysis.forecast.score_forecast`'s output (its
            ``member_cover_50`` or ``member_cover_90``).
        width: 0.5 or 0.9.
        cluster: a member dimension whose members are resampled together, or None.
        level, n_boot, seed: of the interval and the bootstrap.

    Returns:
        ``(coverage, lo, hi)``; NaN when no member was scored.
    """
    var = f"member_cover_{width * 100:.0f}"
    if var not in scores:
        raise ValueError(f"coverage_ci: width={width!r} has no per-member coverage {var!r} in scores")
    x = scores[var]
    if cluster is not None:
        cluster_labels(x, cluster)  # refuses a dim the scores do not have
    n = int(x.count())
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    est, lo, hi = binomial_ci(int(x.sum()), n, level=level)
    if cluster is None:
        return est, lo, hi
    k_c = x.sum([d for d in x.dims if d != cluster]).values
    n_c = x.count([d for d in x.dims if d != cluster]).values
    k_c, n_c = k_c[n_c > 0], n_c[n_c > 0]
    idx = np.random.default_rng(seed).integers(0, n_c.size, (n_boot, n_c.size))
    boot = k_c[idx].sum(1) / n_c[idx].sum(1)
    b_lo, b_hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return est, min(lo, float(b_lo)), max(hi, float(b_hi))


def auroc_ci(scores: xr.Dataset, *, cluster: str | None = None, level: float = 0.95,
             n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """AUROC of an Event forecast over its scored members, with a percentile bootstrap interval.

    Args:
        scores: :func:`~dyntheory._analysis.forecast.score_forecast`'s output of an Event.
        cluster: a member dim whose members are resampled together (see the module), or None.
        level, n_boot, seed: of the interval and the bootstrap.

    Returns:
        ``(auroc, lo, hi)``; resamples holding one class only are skipped.
    """
    p_da = scores["member_p_event"]
    p, y = p_da.values.ravel(), scores["member_happened"].values.ravel()
    keep = np.isfinite(p)
    groups = cluster_labels(p_da, cluster)[keep] if cluster is not None else np.arange(int(keep.sum()))
    p, y = p[keep], y[keep].astype(bool)
    est = fs.auroc(p, y)
    boots = bootstrap_groups(lambda idx: fs.auroc(p[idx], y[idx]), groups, n_boot=n_boot, seed=seed)
    lo, hi = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi)
