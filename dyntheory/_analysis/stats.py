"""Equivalence: does a population of simulated members agree with theory, within a tolerance?

:func:`bootstrap_ci` gives the percentile interval of a statistic over members, vectorised over
every other axis; :func:`equivalence` turns it into a :class:`~dyntheory._analysis.verdict.Verdict`.
Members whose metric is not finite (diverged runs) are excluded and counted, never silently
averaged in.

Equivalence, not "no significant difference": :func:`equivalence` passes only when the whole
confidence interval of the discrepancy lies inside ``±tol`` (two one-sided tests, TOST: Schuirmann
1987; the ``level`` interval is a TOST at alpha = (1 - level) / 2). With several coordinates it
passes only when every coordinate passes, an intersection-union test that needs no multiplicity
correction (Berger 1982). Too few members therefore fail, they do not pass by default.
A one-sided verdict (``side="above"`` or ``"below"``) is one half of that test: the whole interval
of the member statistic must clear a bound (a threshold of the claim, e.g. "the median delay
ratio exceeds 2"). ``statistic="median"`` judges the member median instead of the mean, for
heavy-tailed members (a minority of runs with mode competition, censored crossing times).

Example:
    >>> import numpy as np, xarray as xr
    >>> sim = xr.DataArray(1.0 + 0.01 * np.random.default_rng(0).standard_normal(64), dims="seed")
    >>> v = equivalence(sim, 1.0, tol=0.05, name="toy")
    >>> v.passed, v.n_members
    (True, 64)

:func:`binomial_ci` is the Wilson score interval of a proportion ``k / n`` (the coverage of a
forecast's intervals, a hit rate): exact in closed form, never outside ``[0, 1]``, and honest at
``k = 0`` and ``k = n``, where the Wald interval collapses to a point.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.verdict import Verdict, check_margin, check_side, holds

__all__ = ["binomial_ci", "bootstrap_ci", "bootstrap_groups", "equivalence"]

# With nan_policy="omit" the resample carries NaN padding, so the statistic must skip NaNs.
_NAN_VERSIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.mean: np.nanmean, np.median: np.nanmedian, np.std: np.nanstd, np.var: np.nanvar,
    np.min: np.nanmin, np.max: np.nanmax, np.sum: np.nansum,
}
_STATISTICS: dict[str, Callable[..., Any]] = {"mean": np.mean, "median": np.median}
_CHUNK_ELEMENTS = 1 << 22  # bound the (batch, n_boot, n) resample array to ~32 MB per chunk


def _check_level(level: float, where: str) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"{where}: level must lie in (0, 1), got {level!r}")


def binomial_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``.

    The interval holds the proportions ``p`` whose score test ``|k/n - p| / sqrt(p (1 - p) / n)``
    does not reject at ``1 - level``: ``(p_hat + z^2/2n -+ z sqrt(p_hat (1 - p_hat)/n + z^2/4n^2))
    / (1 + z^2/n)`` with ``z`` the normal quantile at ``(1 + level) / 2``. E. B. Wilson (1927),
    "Probable inference, the law of succession, and statistical inference", JASA 22:209-212;
    recommended over the Wald interval by L. D. Brown, T. T. Cai, A. DasGupta (2001), "Interval
    estimation for a binomial proportion", Statistical Science 16:101-133.

    Args:
        successes: the count ``k``, an integer in ``[0, n]``.
        n: the number of trials, a positive integer (no trials hold no information: refused).
        level: two-sided confidence level in ``(0, 1)``.

    Returns:
        ``(estimate, lo, hi)`` as floats: ``k / n`` and the interval's bounds, inside ``[0, 1]``
        (``lo`` is exactly 0 at ``k = 0`` and ``hi`` exactly 1 at ``k = n``).

    Raises:
        ValueError: ``n`` not a positive integer, ``successes`` not an integer in ``[0, n]``, or
            ``level`` outside ``(0, 1)``; the message names the argument and its value.

    Example:
        >>> est, lo, hi = binomial_ci(36, 40)
        >>> round(est, 3), round(lo, 3), round(hi, 3)
        (0.9, 0.769, 0.96)
    """
    for name, v in (("successes", successes), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"binomial_ci: {name} must be an integer count, got {v!r}")
    k, n = int(successes), int(n)
    if n < 1:
        raise ValueError(f"binomial_ci: n must be a positive number of trials, got n={n!r}")
    if not 0 <= k <= n:
        raise ValueError(f"binomial_ci: successes must lie in [0, n={n}], got successes={k!r}")
    _check_level(level, "binomial_ci")
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    ph, z2 = k / n, z * z
    mid = (ph + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(ph * (1 - ph) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At k = 0 (k = n) the bound is 0 (1) exactly; the formula leaves a rounding residue there.
    lo = 0.0 if k == 0 else max(0.0, mid - half)
    hi = 1.0 if k == n else min(1.0, mid + half)
    return ph, lo, hi


def bootstrap_ci(samples: Any, *, axis: int, stat: Callable[..., Any] = np.mean, n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0,
                 nan_policy: Literal["propagate", "omit"] = "propagate") -> tuple[Any, Any, Any]:
    """Percentile bootstrap interval of ``stat`` over one axis, vectorised over all other axes.

    Members are resampled jointly across the other axes (the same resampled seeds at every
    coordinate), which keeps the correlation between coordinates that share a seed.

    Args:
        samples: array of members; the resampled axis is ``axis``.
        axis: the member axis (e.g. the ``seed`` axis).
        stat: reduction called as ``stat(array, axis=-1)``.
        n_boot: number of bootstrap resamples.
        level: two-sided confidence level of the percentile interval.
        seed: seed of the numpy generator that draws the resamples.
        nan_policy: ``"propagate"`` (NaN in, NaN out) or ``"omit"``: each coordinate resamples
            only its non-NaN members, keeping its own sample size. ``np.mean``,
            ``np.median`` and friends are swapped for their ``nan`` versions; a custom ``stat``
            must ignore NaN itself.

    Returns:
        ``(estimate, lo, hi)``, each shaped like ``samples`` without ``axis`` (numpy scalars for
        1-d input). Coordinates with no usable member give NaN.

    Example:
        >>> est, lo, hi = bootstrap_ci(np.arange(10.0), axis=0, n_boot=500)
        >>> float(est), bool(lo < 4.5 < hi)
        (4.5, True)
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim == 0:
        raise ValueError("bootstrap_ci: samples must have at least one axis, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"bootstrap_ci: axis={axis!r} out of range for samples of shape {x.shape}")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"bootstrap_ci: n_boot must be a positive integer, got {n_boot!r}")
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"bootstrap_ci: nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")
    _check_level(level, "bootstrap_ci")
    x = np.moveaxis(x, axis, -1)
    batch_shape, n = x.shape[:-1], x.shape[-1]
    if n == 0:
        raise ValueError(f"bootstrap_ci: axis {axis} of samples has length 0")
    flat = x.reshape(-1, n)
    omit = nan_policy == "omit"
    fn = _NAN_VERSIONS.get(stat, stat) if omit else stat
    rng = np.random.default_rng(seed)
    if omit:
        present = ~np.isnan(flat)
        k = present.sum(-1)
        # Non-NaN members first, so drawing index floor(u * k) resamples only them.
        flat = np.take_along_axis(flat, np.argsort(~present, axis=-1, kind="stable"), -1)
        keep = (np.arange(n) < k[:, None])[:, None, :]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, flat.size))
    boots = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN coordinates give NaN, by design
        estimate = fn(flat, axis=-1)
        for start in range(0, int(n_boot), chunk):
            b = min(chunk, int(n_boot) - start)
            if omit:
                idx = np.floor(rng.random((b, n))[None] * k[:, None, None]).astype(np.int64)
                idx = np.minimum(idx, np.maximum(k - 1, 0)[:, None, None])
                res = np.where(keep, np.take_along_axis(flat[:, None, :], idx, axis=-1), np.nan)
            else:
                res = flat[:, rng.integers(0, n, size=(b, n))]
            boots.append(np.asarray(fn(res, axis=-1), dtype=float))
    boot = np.concatenate(boots, axis=-1)
    alpha = 1.0 - level
    # inverted_cdf picks order statistics: no interpolation between +inf values (censored times).
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=-1, method="inverted_cdf")
    shape = lambda a: np.asarray(a, dtype=float).reshape(batch_shape)[()]  # noqa: E731
    return shape(estimate), shape(lo), shape(hi)


def _cluster_ci(flat: np.ndarray, clusters: int, stat: Callable[..., Any], n_boot: int, level: float,
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bootstrap_ci`` of ``flat (coords, points x clusters)`` (NaN omitted) resampling whole
    clusters: the last ``clusters`` positions of the point axis vary fastest."""
    fn = _NAN_VERSIONS.get(stat, stat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN coordinates give NaN, by design
        estimate = fn(flat, axis=-1)
        boot = bootstrap_groups(lambda idx: fn(flat[:, idx], axis=-1), np.arange(flat.shape[1]) % clusters,
                                n_boot=int(n_boot), seed=seed)
    alpha = 1.0 - level
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=-1, method="inverted_cdf")
    return estimate, lo, hi


def bootstrap_groups(stat, groups: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """``stat(idx)`` over ``n_boot`` resamples of whole groups: each draws as many groups as
    ``groups`` (per-member labels) holds, with replacement, and ``idx`` lists their members.
    ``stat`` may return an array (one value per coordinate, say): the result stacks them last."""
    groups = np.asarray(groups).ravel()
    _, inv = np.unique(groups, return_inverse=True)
    n_g = int(inv.max()) + 1 if inv.size else 0
    single = n_g == inv.size  # one member per group: the plain bootstrap, without the gathering
    order = np.argsort(inv, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inv, minlength=n_g))[:-1]) if not single else None
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_g, n_g)
        out.append(stat(order[pick] if single else np.concatenate([members[g] for g in pick])))
    return np.stack(out, axis=-1)


def _coord_label(da: xr.DataArray, flat_index: int) -> str:
    pos = np.unravel_index(flat_index, da.shape)
    return ", ".join(f"{d}={da[d].values[i].item() if d in da.coords else i}"
                     for d, i in zip(da.dims, pos))


def equivalence(sim: xr.DataArray, theory: xr.DataArray | float, *,
                over: str | tuple[str, ...] = "seed",
                tol: float | None = None, side: Literal["both", "above", "below"] = "both",
                statistic: Literal["mean", "median"] = "mean", relative: bool | None = None,
                where: xr.DataArray | None = None, level: float = 0.95, name: str,
                n_boot: int = 2000, seed: int = 0, min_members: int = 2, cluster: str | None = None) -> Verdict:
    """Check that a member statistic of ``sim`` matches ``theory`` within ``±tol``, or clears it.

    Two-sided (``side="both"``, the default): at each coordinate (every dim of ``sim`` but
    ``over``), the bootstrap CI of ``stat(sim) - theory`` (or ``(stat(sim) - theory) / |theory|``
    when ``relative``) must lie inside ``[-tol, tol]``; ``stat`` is the member mean, or the median
    with ``statistic="median"``. One-sided (``side="above"`` or ``"below"``): ``theory`` is a bound
    and the whole CI of ``stat(sim)`` itself must lie strictly above (below) it at every
    coordinate; the verdict reports the statistic and the bound. The verdict names the worst
    coordinate: the one whose interval reaches furthest from zero (two-sided) or comes closest to
    the bound. Members whose value is NaN, or for the mean not finite, are excluded per
    coordinate and counted (a median keeps ``±inf``: a censored crossing time is "later than
    every finite one"); a coordinate with fewer than ``min_members`` usable members fails.

    Args:
        sim: simulated metric with a member dimension ``over``.
        theory: prediction or bound, a number or a DataArray broadcast against ``sim`` by name
            (its shared coordinates must match exactly).
        over: the member dimension (resampled by the bootstrap), or a tuple of dimensions whose
            points are pooled into one member axis (e.g. ``("weight_decay", "seed")``).
        tol: equivalence margin, in the units of the effect (relative or absolute); required
            for ``side="both"``, not allowed one-sided (the bound is ``theory`` itself).
        side: ``"both"``, ``"above"`` or ``"below"`` (see above).
        statistic: ``"mean"`` or ``"median"`` over members.
        relative: compare relative errors instead of differences (default: True two-sided;
            one-sided verdicts compare the statistic itself and reject True).
        where: boolean over some of the non-member dims: the coordinates to judge. The others
            (outside a validity region, below a resolution floor) are skipped: not judged, not
            counted, their theory not checked. A coordinate's numbers do not depend on which
            others are judged (the resamples are shared).
        level: confidence level of the interval (0.90 is the classic TOST at alpha = 0.05).
        name: identifier printed in the verdict.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        min_members: fewest usable members a coordinate needs to be judged.
        cluster: with ``over`` a tuple, the one of its dims whose points are resampled whole:
            each bootstrap draws ``cluster`` values (seeds, say) with replacement and takes every
            point of each, at all the other pooled coordinates. Points that share a seed share its
            data and initialisation across the other dims and their values correlate; resampled
            one by one they would count as independent members and narrow the interval.

    Returns:
        A :class:`Verdict`; ``per_coord`` holds the per-coordinate estimate, interval, count and
        pass flag (and the bound, one-sided).

    Example:
        >>> sim = xr.DataArray(np.full((3, 8), 2.0) + np.linspace(0, 0.02, 8), dims=("lr", "seed"),
        ...                    coords={"lr": [0.1, 0.2, 0.3]})
        >>> print(equivalence(sim, 2.0, tol=0.1, name="flat", n_boot=200))
        PASS flat: rel.err 0.005 [0.00304, 0.00732] within ±0.1 (n=24 members); worst at lr=0.1
        >>> print(equivalence(sim, 1.5, side="above", statistic="median", name="big", n_boot=200))
        PASS big: median 2.01 [2, 2.02] above 1.5 (n=24 members); worst at lr=0.1
    """
    if not isinstance(sim, xr.DataArray):
        raise TypeError(f"equivalence {name!r}: sim must be an xarray.DataArray, got {type(sim).__name__}")
    pooled = (over,) if isinstance(over, str) else tuple(over)
    if not pooled or any(d not in sim.dims for d in pooled):
        raise ValueError(f"equivalence {name!r}: over={over!r} is not a dimension of sim {sim.dims}")
    if isinstance(theory, xr.DataArray) and set(pooled) & set(theory.dims):
        raise ValueError(f"equivalence {name!r}: theory must not have the member dim over={over!r}")
    if cluster is not None and (isinstance(over, str) or cluster not in pooled):
        raise ValueError(f"equivalence {name!r}: cluster={cluster!r} must be one of the pooled dims of a "
                         f"tuple over, got over={over!r}")
    clusters = sim.sizes[cluster] if cluster is not None else None
    if not isinstance(over, str):  # pool the points of several dims into one member axis (cluster last)
        pooled = tuple(d for d in pooled if d != cluster) + ((cluster,) if cluster else ())
        sim = sim.stack(_member=pooled).drop_vars(["_member", *pooled], errors="ignore")
        over = "_member"
    check_side(f"equivalence {name!r}", side)
    if statistic not in _STATISTICS:
        raise ValueError(f"equivalence {name!r}: statistic must be 'mean' or 'median', got {statistic!r}")
    one_sided = side != "both"
    if one_sided and (tol is not None or relative):
        raise ValueError(f"equivalence {name!r}: side={side!r} compares the {statistic} itself with the "
                         f"bound theory; tol and relative=True do not apply (got tol={tol!r}, "
                         f"relative={relative!r})")
    check_margin(f"equivalence {name!r}", side, tol, statistic)
    relative = (not one_sided) if relative is None else relative
    _check_level(level, f"equivalence {name!r}")
    if not isinstance(theory, xr.DataArray) and np.ndim(theory) != 0:
        raise TypeError(f"equivalence {name!r}: theory must be a number or a DataArray with named "
                        f"dims, got an array of shape {np.shape(theory)}")
    th = theory if isinstance(theory, xr.DataArray) else xr.DataArray(float(theory))
    if over in th.dims:
        raise ValueError(f"equivalence {name!r}: theory must not have the member dim over={over!r}")
    try:
        sim_a, th_a = xr.align(sim, th, join="exact")
    except ValueError as err:
        raise ValueError(f"equivalence {name!r}: sim and theory coordinates differ: {err}") from None
    th_b = th_a.broadcast_like(sim_a.isel({over: 0}, drop=True))
    judged = _judged(where, th_b, over, name)
    jv = judged.values
    for bad, why in ((~np.isfinite(th_b.values), "not finite"),
                     ((th_b.values == 0) & relative, "0 (relative=True divides by it)")):
        if (bad & jv).any():
            at = _coord_label(th_b, int(np.flatnonzero((bad & jv).ravel())[0])) or "the scalar"
            raise ValueError(f"equivalence {name!r}: theory is {why} at {at}")
    usable = ~np.isnan(sim_a) if statistic == "median" else np.isfinite(sim_a)
    with np.errstate(divide="ignore", invalid="ignore"):  # skipped coordinates may divide by 0
        effect = sim_a if one_sided else (sim_a - th_b) / (abs(th_b) if relative else 1.0)
    effect = effect.where(usable).transpose(..., over)
    counts = effect.notnull().sum(over)
    n = counts.values
    judged = judged.transpose(*counts.dims).values
    flat = effect.values.reshape(-1, effect.sizes[over])[judged.ravel()]
    est, lo, hi = (np.full(n.shape, np.nan) for _ in range(3))
    ci = (bootstrap_ci(flat, axis=-1, stat=_STATISTICS[statistic], n_boot=n_boot, level=level, seed=seed,
                       nan_policy="omit") if clusters is None else
          _cluster_ci(flat, clusters, _STATISTICS[statistic], n_boot, level, seed))
    for full, part in zip((est, lo, hi), ci):
        full[judged] = part
    bound = th_b.transpose(*counts.dims).values
    ok = (n >= min_members) & holds(lo, hi, side, tol if side == "both" else bound)
    if side == "both":
        reach = np.maximum(-lo, hi)  # worst: the interval reaching furthest from zero
    else:
        reach = (bound - lo) if side == "above" else (hi - bound)  # worst: closest to the bound
    with np.errstate(invalid="ignore"):  # unjudgeable coordinates first, skipped ones last
        reach = np.where(np.isnan(lo + hi + reach) | (n < min_members), np.inf, reach)
    reach, ok = np.where(judged, reach, -np.inf), ok | ~judged
    worst = int(np.argmax(reach))
    at, n_worst = _coord_label(counts, worst), int(n.ravel()[worst])
    detail = f"worst at {at}" if at else ""
    if n_worst < min_members:
        usable_word = "finite" if statistic == "mean" else "non-NaN"
        detail += (": " if detail else "") + f"only {n_worst} {usable_word} member(s), need {min_members}"
    if (~ok).sum() > 1:
        detail += f"; {int((~ok).sum())} of {int(judged.sum())} coordinates fail"
    columns = {"estimate": est, "lo": lo, "hi": hi, "n_members": n, "passed": ok}
    if where is not None:
        columns["judged"] = judged
    if one_sided:
        columns["bound"] = bound
    per_coord = xr.Dataset({k: (counts.dims, np.reshape(v, n.shape)) for k, v in columns.items()},
                           coords=counts.coords)
    if one_sided:
        label = statistic
    else:
        label = ("rel.err" if relative else "diff") if statistic == "mean" else \
            f"median {'rel.err' if relative else 'diff'}"
    return Verdict(
        name=name, passed=bool(ok.all()), effect=float(est.ravel()[worst]),
        interval=(float(lo.ravel()[worst]), float(hi.ravel()[worst])),
        tolerance=float(np.ravel(bound)[worst]) if one_sided else float(tol), side=side,
        n_members=int(n[judged].sum()), detail=detail, label=label,
        n_excluded=int(judged.sum() * effect.sizes[over] - n[judged].sum()), per_coord=per_coord)


def _judged(where: xr.DataArray | None, template: xr.DataArray, over: str, name: str
            ) -> xr.DataArray:
    """``where`` broadcast like ``template`` (the non-member dims), as a boolean DataArray."""
    if where is None:
        return xr.ones_like(template, dtype=bool)
    if not isinstance(where, xr.DataArray) or where.dtype != bool:
        raise TypeError(f"equivalence {name!r}: where must be a boolean DataArray, got {where!r:.80}")
    if over in where.dims or not set(where.dims) <= set(template.dims):
        raise ValueError(f"equivalence {name!r}: where dims {where.dims} must be among the "
                         f"non-member dims {template.dims}")
    judged = where.broadcast_like(template).transpose(*template.dims)
    if not judged.any():
        raise ValueError(f"equivalence {name!r}: where selects no coordinate to judge")
    return judged
