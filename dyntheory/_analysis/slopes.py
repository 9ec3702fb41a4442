"""Slope fits: a (log-log) least-squares slope with a bootstrap interval, and its verdict.

:func:`fit_slope` fits the slope of a member mean against a sweep axis (an exponent when
``log``), resampling members jointly across the axis (they share seeds) or, without members, the
points. :func:`slope_verdict` holds the fitted slope against a predicted one with the same
equivalence rule as :func:`~dyntheory._analysis.stats.equivalence`: the whole interval of
``fitted - predicted`` must lie inside ``±tol`` (or, one-sided, the slope's interval must clear a
bound).

Example:
    >>> x = np.array([1.0, 2.0, 4.0, 8.0])
    >>> fit = fit_slope(x, 3 * x**-0.5)
    >>> round(fit.slope, 6), fit.log
    (-0.5, True)
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import numpy as np

from dyntheory._analysis.stats import _check_level
from dyntheory._analysis.verdict import Verdict, check_margin, check_side, holds

__all__ = ["SlopeFit", "fit_slope", "slope_verdict"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlopeFit:
    """A least-squares slope with a bootstrap interval.

    Attributes:
        slope: fitted slope (log-log when ``log``).
        intercept: fitted intercept (of ``log y`` on ``log x`` when ``log``).
        interval: ``(lo, hi)`` percentile bootstrap interval of the slope.
        level: confidence level of ``interval``.
        n_members: replicate members used (1 when ``y`` had no member axis).
        n_excluded: non-finite values of ``y`` excluded.
        log: whether the fit was log-log.
    """

    slope: float
    intercept: float
    interval: tuple[float, float]
    level: float
    n_members: int
    n_excluded: int
    log: bool


def _wls_line(X: np.ndarray, Y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares line, vectorised over leading axes; zero weight drops a point."""
    W = np.where(np.isfinite(Y), W, 0.0)
    Y = np.where(W > 0, Y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = W.sum(-1)
        mx, my = (W * X).sum(-1) / sw, (W * Y).sum(-1) / sw
        dx = X - mx[..., None]
        sxx = (W * dx**2).sum(-1)
        slope = (W * dx * (Y - my[..., None])).sum(-1) / sxx
        slope = np.where(sxx > 1e-12 * np.maximum(sw, 1e-300), slope, np.nan)
    return slope, my - slope * mx


def fit_slope(x: Any, y: Any, *, log: bool = True, n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> SlopeFit:
    """Fit the slope of ``y`` (member mean) against ``x``, with a bootstrap interval.

    ``y`` is ``(len(x),)`` or ``(len(x), members)``. With members, the line is fitted to the
    member mean at each ``x`` (``log`` of the mean when ``log``) and the bootstrap resamples
    members (jointly across ``x``, as they share seeds). Without, it resamples points. Non-finite
    values are excluded and counted.

    Args:
        x: the abscissae, positive when ``log``.
        y: values, shape ``(len(x),)`` or ``(len(x), members)``.
        log: fit ``log y`` against ``log x`` (a power-law exponent) instead of ``y`` on ``x``.
        n_boot: bootstrap resamples.
        level: confidence level.
        seed: bootstrap seed.

    Returns:
        A :class:`SlopeFit`.

    Example:
        >>> x = np.array([1.0, 2.0, 4.0, 8.0])
        >>> round(fit_slope(x, 3 * x**-0.5).slope, 6)
        -0.5
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"fit_slope: x must be 1-d with at least 2 points, got shape {x.shape}")
    if y.ndim not in (1, 2) or y.shape[0] != x.size:
        raise ValueError(f"fit_slope: y must have shape ({x.size},) or ({x.size}, members), got {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"fit_slope: x must be finite, got {x}")
    if log and (x <= 0).any():
        raise ValueError(f"fit_slope: log=True needs x > 0, got x={float(x[x <= 0][0])!r}")
    _check_level(level, "fit_slope")
    members = y.ndim == 2
    y2 = np.where(np.isfinite(y), y, np.nan).reshape(x.size, -1)
    X = np.log(x) if log else x
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points: dropped by _wls_line
        mean = np.nanmean(y2, axis=1)
        if log and (mean <= 0).any():
            bad = int(np.flatnonzero(mean <= 0)[0])
            raise ValueError(f"fit_slope: log=True needs mean y > 0, got {float(mean[bad])!r} "
                             f"at x={float(x[bad])!r}")
        if np.isfinite(mean).sum() < 2:
            raise ValueError("fit_slope: fewer than 2 points have a finite y")
        fy = (lambda m: np.log(np.where(m > 0, m, np.nan))) if log else (lambda m: m)
        slope, intercept = _wls_line(X, fy(mean), np.ones_like(X))
        if members:  # resample members, jointly across x (they share seeds)
            idx = rng.integers(0, y2.shape[1], size=(int(n_boot), y2.shape[1]))
            boot_mean = np.nanmean(y2[:, idx], axis=-1).T  # (n_boot, len(x))
            boot, _ = _wls_line(X, fy(boot_mean), np.ones_like(boot_mean))
        else:  # pairs bootstrap as multinomial weights: the same resample, no copies
            counts = rng.multinomial(x.size, np.full(x.size, 1.0 / x.size), size=int(n_boot))
            boot, _ = _wls_line(X, np.broadcast_to(fy(mean), counts.shape), counts.astype(float))
    lo, hi = np.nanquantile(boot, [(1.0 - level) / 2, (1.0 + level) / 2])
    return SlopeFit(slope=float(slope), intercept=float(intercept), interval=(float(lo), float(hi)),
                    level=level, n_members=y2.shape[1] if members else 1,
                    n_excluded=int(np.isnan(y2).sum()), log=log)


def slope_verdict(x: Any, y_samples: Any, *, predicted: float, tol: float | None = None, name: str,
                  side: Literal["both", "above", "below"] = "both", log: bool = True,
                  mode: Literal["ci", "point"] = "ci", level: float = 0.95, n_boot: int = 2000,
                  seed: int = 0) -> Verdict:
    """Check a fitted (log-log) slope against a predicted exponent, or against a bound.

    ``mode="ci"`` (default) passes iff the whole bootstrap interval of ``fitted - predicted``
    lies within ``±tol``: the same equivalence rule as :func:`equivalence`, so an under-powered
    sweep fails instead of passing on a lucky point estimate. ``mode="point"`` passes iff
    ``|fitted - predicted| <= tol`` (a diffrax-style order test); the interval is reported either
    way. ``tol`` absorbs known finite-size corrections to an asymptotic exponent. One-sided
    (``side="above"`` or ``"below"``), ``predicted`` is a bound: the slope's interval (its point
    estimate with ``mode="point"``) must lie strictly above (below) it, and the verdict reports
    the slope itself, e.g. "the plateau grows with ``n``": slope above 0.

    Args:
        x: sweep values (e.g. widths), shape ``(P,)``.
        y_samples: metric, shape ``(P,)`` or ``(P, members)``.
        predicted: the theory's slope, or the bound of a one-sided verdict.
        tol: allowed deviation of the slope; required two-sided, not allowed one-sided.
        name: identifier printed in the verdict.
        side: ``"both"``, ``"above"`` or ``"below"``.
        log: log-log slope (an exponent) instead of a linear slope.
        mode: ``"ci"`` or ``"point"`` (see above).
        level: confidence level.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        A :class:`Verdict` whose effect is ``fitted - predicted`` (two-sided) or the fitted slope
        (one-sided).

    Example:
        >>> x = np.array([1.0, 2.0, 4.0, 8.0])
        >>> slope_verdict(x, 3 * x**-0.5, predicted=-0.5, tol=0.01, name="exp").passed
        True
        >>> print(slope_verdict(x, 3 * x**0.5, predicted=0.0, side="above", name="grows"))
        PASS grows: slope 0.5 [0.5, 0.5] above 0 (n=1 members); log-log slope 0.5 [0.5, 0.5] (ci rule)
    """
    if mode not in ("ci", "point"):
        raise ValueError(f"slope_verdict {name!r}: mode must be 'ci' or 'point', got {mode!r}")
    check_side(f"slope_verdict {name!r}", side)
    check_margin(f"slope_verdict {name!r}", side, tol, "slope")
    fit = fit_slope(x, y_samples, log=log, n_boot=n_boot, level=level, seed=seed)
    slope_text = (f"{'log-log ' if log else ''}slope {fit.slope:.4g} [{fit.interval[0]:.4g}, "
                  f"{fit.interval[1]:.4g}]")
    if side != "both":
        lo, hi = fit.interval if mode == "ci" else (fit.slope, fit.slope)
        passed = holds(lo, hi, side, predicted)
        return Verdict(name=name, passed=bool(passed), effect=fit.slope, interval=fit.interval,
                       tolerance=float(predicted), side=side, n_members=fit.n_members,
                       detail=f"{slope_text} ({mode} rule)", label="slope",
                       n_excluded=fit.n_excluded)
    lo, hi = fit.interval[0] - predicted, fit.interval[1] - predicted
    effect = fit.slope - predicted
    passed = holds(lo, hi, side, tol) if mode == "ci" else abs(effect) <= tol
    detail = f"{slope_text} vs predicted {predicted:.4g} ({mode} rule)"
    return Verdict(name=name, passed=bool(passed), effect=effect, interval=(lo, hi),
                   tolerance=float(tol), n_members=fit.n_members, detail=detail,
                   label="slope-pred", n_excluded=fit.n_excluded)
