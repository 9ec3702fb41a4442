"""Proper scores of probabilistic forecasts: CRPS, log score, interval coverage, AUROC, lead time.

Every function takes plain arrays (members on the last axis of ``y``, forecast levels or
samples on the last axis of the forecast) and returns per-member scores, so a paired comparison
of two predictors resamples the same members (:func:`paired_difference`).

- CRPS from quantiles is twice the mean pinball loss over the levels, the quantile
  decomposition of the CRPS (Gneiting & Raftery 2007, "Strictly proper scoring rules,
  prediction, and estimation", JASA 102:359, eq. 21; Laio & Tamea 2007, HESS 11:1267). On an
  evenly spaced grid of levels it is a Riemann sum of the integral, exact (zero) for a forecast
  whose every quantile equals the outcome. From samples: ``E|X - y| - E|X - X'| / 2``
  (Gneiting & Raftery 2007, eq. 20).
- The log score of a quantile forecast uses the density that is constant between neighbouring
  quantiles with exponential tails continuous at the outer quantiles; reported as the negative
  log density (the ignorance score; lower is better).
- AUROC is the Mann-Whitney statistic with mid-ranks for ties (Hanley & McNeil 1982,
  Radiology 143:29).

Example:
    >>> levels = np.array([0.25, 0.5, 0.75])
    >>> float(crps_quantiles(np.array([1.0, 1.0, 1.0]), levels, 1.0))
    0.0
    >>> float(auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])))
    0.75
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from dyntheory._analysis.stats import bootstrap_ci, bootstrap_groups

__all__ = ["auroc", "coverage", "crps_quantiles", "crps_samples", "lead_time_curve",
           "log_score_quantiles", "log_score_binary", "paired_difference", "read_lead",
           "reliability_binary", "reliability_quantiles"]


def _check_levels(levels: np.ndarray) -> np.ndarray:
    levels = np.asarray(levels, dtype=float)
    if levels.ndim != 1 or not ((levels > 0) & (levels < 1)).all() or not (np.diff(levels) > 0).all():
        raise ValueError(f"levels must increase strictly inside (0, 1), got {levels}")
    return levels


def crps_quantiles(q: np.ndarray, levels: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    """CRPS of quantile forecasts ``q`` (..., K) at ``levels`` (K,) against outcomes ``y`` (...).

    ``2 * mean_k pinball_{tau_k}(y - q_k)``; zero iff every quantile equals ``y``. NaN where the
    outcome or a quantile is NaN.
    """
    levels = _check_levels(levels)
    q = np.asarray(q, dtype=float)
    y = np.asarray(y, dtype=float)[..., None]
    u = y - q
    return 2.0 * np.mean(np.where(u >= 0, levels * u, (levels - 1.0) * u), axis=-1)


def crps_samples(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    """CRPS of the empirical distribution of samples ``x`` (..., S) against ``y`` (...).

    ``E|X - y| - E|X - X'| / 2`` computed in ``O(S log S)`` from the sorted samples.
    """
    x = np.sort(np.asarray(x, dtype=float), axis=-1)
    y = np.asarray(y, dtype=float)
    s = x.shape[-1]
    first = np.mean(np.abs(x - y[..., None]), axis=-1)
    # E|X - X'| = 2 / S^2 * sum_i (2i - S - 1) x_(i), i = 1..S
    w = 2.0 * np.arange(1, s + 1) - s - 1
    second = 2.0 * np.sum(w * (x - x[..., :1]), axis=-1) / s**2  # weights sum to 0: shift freely
    return first - 0.5 * second


def coverage(q: np.ndarray, levels: np.ndarray, y: np.ndarray, width: float) -> np.ndarray:
    """Per member, 1.0 if ``y`` lies in the central ``width`` interval of the quantiles, else 0.0.

    The interval is ``[q_{(1-width)/2}, q_{(1+width)/2}]``; both levels must be among ``levels``.
    NaN where the outcome is NaN.
    """
    levels = _check_levels(levels)
    lo_level, hi_level = (1 - width) / 2, (1 + width) / 2
    idx = [int(np.argmin(np.abs(levels - a))) for a in (lo_level, hi_level)]
    if not all(np.isclose(levels[i], a) for i, a in zip(idx, (lo_level, hi_level))):
        raise ValueError(f"coverage: the {width:g} interval needs levels {lo_level:g} and "
                         f"{hi_level:g}, got {levels}")
    q = np.asarray(q, dtype=float)
    y = np.asarray(y, dtype=float)
    inside = (q[..., idx[0]] <= y) & (y <= q[..., idx[1]])
    return np.where(np.isfinite(y), inside.astype(float), np.nan)


def log_score_quantiles(q: np.ndarray, levels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Negative log density of ``y`` under the distribution the quantiles ``q`` describe.

    Between neighbouring quantiles the density is ``dtau / dq`` (piecewise constant); below the
    first and above the last it decays exponentially, continuous at the outer quantile and with
    the remaining tail mass (``levels[0]`` and ``1 - levels[-1]``). Quantile gaps are floored
    at ``1e-9`` times the forecast's range, so a point forecast scores finite but badly.
    """
    levels = _check_levels(levels)
    q = np.sort(np.asarray(q, dtype=float), axis=-1)
    y = np.asarray(y, dtype=float)
    span = np.maximum(q[..., -1] - q[..., 0], np.abs(q[..., -1]) * 1e-6 + 1e-12)
    gap = np.maximum(np.diff(q, axis=-1), 1e-9 * span[..., None])
    dens = np.diff(levels) / gap  # (..., K-1)
    k = (q <= y[..., None]).sum(-1)  # y lies above k quantiles
    inner = np.take_along_axis(dens, np.clip(k - 1, 0, dens.shape[-1] - 1)[..., None], -1)[..., 0]
    # exponential tails: density f0 at the outer quantile, mass m, so scale s = m / f0
    f_lo, f_hi = dens[..., 0], dens[..., -1]
    s_lo, s_hi = levels[0] / f_lo, (1 - levels[-1]) / f_hi
    with np.errstate(over="ignore"):
        lo_tail = np.log(f_lo) - (q[..., 0] - y) / s_lo
        hi_tail = np.log(f_hi) - (y - q[..., -1]) / s_hi
    logf = np.where(k == 0, lo_tail, np.where(k == q.shape[-1], hi_tail, np.log(inner)))
    return np.where(np.isfinite(y), -logf, np.nan)


def reliability_quantiles(q: np.ndarray, levels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Observed frequency of ``y <= q_k`` per level (K,), over members with a finite outcome and
    forecast: a reliability diagram's points, on the diagonal for a calibrated forecast."""
    levels = _check_levels(levels)
    q = np.asarray(q, dtype=float).reshape(-1, levels.size)
    y = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(q).all(-1)
    if not ok.any():
        return np.full(levels.size, np.nan)
    return (y[ok, None] <= q[ok]).mean(0)


def reliability_binary(p: np.ndarray, happened: np.ndarray, bins: int = 10
                       ) -> dict[str, np.ndarray]:
    """Mean forecast probability, observed frequency and count per equal-width bin of ``p``."""
    p = np.asarray(p, dtype=float).ravel()
    happened = np.asarray(happened, bool).ravel()
    ok = np.isfinite(p)
    idx = np.clip((p[ok] * bins).astype(int), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(float)
    with np.errstate(invalid="ignore"):
        mean_p = np.bincount(idx, p[ok], minlength=bins) / count
        freq = np.bincount(idx, happened[ok].astype(float), minlength=bins) / count
    return {"p_mean": mean_p, "frequency": freq, "count": count}


def log_score_binary(p: np.ndarray, happened: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Negative log probability of the observed outcome, ``p`` clipped to ``[eps, 1 - eps]``."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return -np.where(np.asarray(happened, bool), np.log(p), np.log1p(-p))


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` (1-d), ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(x.size)
    start = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    end = np.r_[start[1:], x.size]
    ranks[order] = np.repeat((start + end + 1) / 2.0, end - start)
    return ranks


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the labels ``positive`` (1-d; NaN scores dropped).

    Equals the probability that a random positive scores above a random negative, ties counting
    half. NaN when either class is empty.
    """
    score = np.asarray(score, dtype=float).ravel()
    positive = np.asarray(positive, bool).ravel()
    keep = np.isfinite(score)
    score, positive = score[keep], positive[keep]
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = _midranks(score)
    return float((r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def lead_time_curve(p: np.ndarray, happened: np.ndarray, t_event: np.ndarray,
                    t_alarm: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """False-alarm rate, hit rate and median lead time of the rule "alarm when ``p >= h``".

    Args:
        p: event probabilities, (..., C) over C successive cutoffs (C may be 1).
        happened: (...) whether the event happened.
        t_event: (...) its time (NaN when it did not happen).
        t_alarm: (C,) the step of each cutoff.
        thresholds: (H,) alarm thresholds.

    Returns:
        ``false_alarm`` (fraction of members without the event that ever alarm; NaN when every
        member has the event: no alarm can then be false, and the rate is undefined, not 0),
        ``hit_rate`` (fraction of members with the event that alarm before it), ``median_lead``
        (median over hits of ``t_event - t_alarm_first``), each (H,); and ``member_lead`` (H, N):
        each member's lead at each threshold, NaN where it is not a hit.
    """
    p = np.asarray(p, dtype=float).reshape(-1, np.shape(p)[-1])
    happened = np.asarray(happened, bool).ravel()
    t_event = np.asarray(t_event, dtype=float).ravel()
    t_alarm = np.asarray(t_alarm, dtype=float)
    far, hit, leads = [], [], []
    for h in np.asarray(thresholds, dtype=float):
        alarm = (p >= h) & (t_alarm[None] < np.where(happened, t_event, np.inf)[:, None])
        first = np.where(alarm.any(-1), t_alarm[np.argmax(alarm, -1)], np.nan)
        fired = np.isfinite(first)
        far.append(fired[~happened].mean() if (~happened).any() else np.nan)
        hit.append(fired[happened].mean() if happened.any() else np.nan)
        leads.append(np.where(fired & happened, t_event - first, np.nan))
    member_lead = np.array(leads).reshape(len(far), happened.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a threshold without hits: NaN, by design
        median_lead = np.nanmedian(member_lead, axis=-1) if happened.size else np.full(len(far), np.nan)
    return {"false_alarm": np.array(far), "hit_rate": np.array(hit), "median_lead": median_lead,
            "member_lead": member_lead}


LeadBasis = Literal["false_alarm", "alarm_threshold", "no_events"]


def read_lead(curve: dict[str, np.ndarray], thresholds: np.ndarray, *, max_false_alarm: float,
              alarm_threshold: float, n_boot: int = 2000, level: float = 0.95, seed: int = 0
              ) -> dict[str, float | str]:
    """The median lead of :func:`lead_time_curve`'s ``curve``, read where it means something.

    - Members with and without the event (``basis="false_alarm"``): at the lowest threshold
      whose false-alarm rate is at most ``max_false_alarm`` (NaN threshold and lead when none is).
    - Every member has the event (``basis="alarm_threshold"``): a false-alarm rate is undefined,
      so the lead is read at the fixed ``alarm_threshold`` instead, and ``hit_rate`` says which
      share of the members that threshold catches. (Read at the lowest threshold it would
      alarm on every member and report the mere time left until the event.)
    - No member has the event (``basis="no_events"``): there is no lead; NaN.

    Returns:
        ``median_lead`` with its percentile bootstrap interval ``lo``, ``hi`` (over the hits,
        ``level``), ``threshold``, ``hit_rate``, ``false_alarm``, ``n_hits`` and ``basis``.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    far, hit = curve["false_alarm"], curve["hit_rate"]
    if np.isnan(hit).all():
        basis: LeadBasis = "no_events"
        i = None
    elif np.isnan(far).all():
        basis = "alarm_threshold"
        near = np.flatnonzero(np.isclose(thresholds, alarm_threshold))
        if near.size == 0:
            raise ValueError(f"read_lead: alarm_threshold={alarm_threshold!r} is not among the "
                             f"thresholds {thresholds}")
        i = int(near[0])
    else:
        basis = "false_alarm"
        ok = np.flatnonzero(far <= max_false_alarm)
        i = int(ok[0]) if ok.size else None
    out: dict[str, float | str] = {"median_lead": np.nan, "lo": np.nan, "hi": np.nan, "threshold": np.nan,
                                   "hit_rate": np.nan, "false_alarm": np.nan, "n_hits": 0, "basis": basis}
    if i is None:
        return out
    lead = curve["member_lead"][i]
    lead = lead[np.isfinite(lead)]
    out.update(threshold=float(thresholds[i]), hit_rate=float(hit[i]), false_alarm=float(far[i]),
               n_hits=int(lead.size))
    if lead.size:
        est, lo, hi = bootstrap_ci(lead, axis=0, stat=np.median, n_boot=n_boot, level=level, seed=seed)
        out.update(median_lead=float(est), lo=float(lo), hi=float(hi))
    return out


def paired_difference(a: np.ndarray, b: np.ndarray, *, stat=np.mean, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0, groups: np.ndarray | None = None
                      ) -> tuple[float, float, float]:
    """``stat(a) - stat(b)`` over the same members, with a paired percentile bootstrap interval.

    ``a`` and ``b`` are per-member arrays (1-d, same members in the same order), or tuples of
    arrays passed to ``stat`` together (e.g. ``(score, label)`` with ``stat=auroc``): members
    are resampled jointly. Members where any input is NaN are dropped. ``groups`` (per-member
    labels, same order) resamples whole groups instead of members (a cluster bootstrap).

    Returns:
        ``(estimate, lo, hi)``.
    """
    a_t = a if isinstance(a, tuple) else (a,)
    b_t = b if isinstance(b, tuple) else (b,)
    a_t = tuple(np.asarray(x).ravel() for x in a_t)
    b_t = tuple(np.asarray(x).ravel() for x in b_t)
    keep = np.ones(a_t[0].shape, bool)
    for x in a_t + b_t:
        if x.shape != keep.shape:
            raise ValueError(f"paired_difference: every input must hold the same members, got shapes "
                             f"{[y.shape for y in a_t + b_t]}")
        if x.dtype.kind == "f":
            keep &= np.isfinite(x)
    if groups is not None and np.shape(groups) != keep.shape:
        raise ValueError(f"paired_difference: groups must label every member, got shape "
                         f"{np.shape(groups)} for {keep.shape}")
    a_t = tuple(x[keep] for x in a_t)
    b_t = tuple(x[keep] for x in b_t)
    est = float(stat(*a_t) - stat(*b_t))
    n = int(keep.sum())
    labels = np.arange(n) if groups is None else np.asarray(groups).ravel()[keep]
    diffs = bootstrap_groups(lambda idx: stat(*(x[idx] for x in a_t)) - stat(*(x[idx] for x in b_t)),
                             labels, n_boot=n_boot, seed=seed)
    lo, hi = np.nanquantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi)
