"""Transition times: when does each member's metric first cross a threshold, and how sharply?

A member that never crosses is *censored*: its crossing time is NaN and ``censored`` is True.
Summaries treat a censored member as "later than the end of training" (+inf) for the median,
which is what a Kaplan-Meier median gives when every run stops at the same step, and report the
censored fraction next to it. Censored members are never silently dropped.

A crossing between two records is interpolated: linearly by default, or in the logit of the
metric (``interpolate="logit"``), which is exact for a logistic rise and resolves a sigmoidal
transition recorded coarsely.

Example:
    >>> import numpy as np, xarray as xr
    >>> acc = xr.DataArray([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]], dims=("seed", "step"),
    ...                    coords={"step": [0, 10, 20, 30]})
    >>> ds = transition_times(acc, threshold=0.5)
    >>> ds.t_cross.values.tolist(), ds.censored.values.tolist()
    ([15.0, nan], [False, True])
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.stats import bootstrap_ci

__all__ = ["summarize_transitions", "transition_times", "value_at"]


def _first_crossing(v: np.ndarray, s: np.ndarray, level: np.ndarray, up: np.ndarray,
                    interpolate: str | None, ceiling: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """First time ``v`` (..., T) reaches ``level`` (...) from below (``up``) or above.

    Returns ``(t, crossed)``; ``t`` is NaN where the level is never reached. Already at or past
    the level at the first step counts as crossing at ``s[0]``. ``interpolate`` is None (the
    first recorded step past the level), ``"linear"`` or ``"logit"`` (linear in
    ``ln(v / (ceiling - v))``, falling back to linear where a neighbour lies outside
    ``(0, ceiling)``).
    """
    lv, upv = level[..., None], up[..., None]
    with np.errstate(invalid="ignore"):
        hit = np.where(upv, v >= lv, v <= lv)
    crossed = hit.any(-1) & np.isfinite(level)
    i = np.argmax(hit, axis=-1)
    t = s[i].astype(float)
    if interpolate is not None:
        prev = np.maximum(i - 1, 0)
        v0 = np.take_along_axis(v, prev[..., None], -1)[..., 0]
        v1 = np.take_along_axis(v, i[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (level - v0) / (v1 - v0)
            if interpolate == "logit":
                logit = lambda u: np.log(u / (ceiling - u))  # noqa: E731
                frac_w = (logit(level) - logit(v0)) / (logit(v1) - logit(v0))
                inside = (v0 > 0) & (v1 > 0) & (v0 < ceiling) & (v1 < ceiling)
                frac = np.where(inside, frac_w, frac)
            usable = (i > 0) & np.isfinite(frac) & (frac >= 0) & (frac <= 1)
            t = np.where(usable, s[prev] + np.where(usable, frac, 0.0) * (s[i] - s[prev]), t)
    return np.where(crossed, t, np.nan), crossed


def _edge_values(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last finite value along the last axis (NaN when none)."""
    fin = np.isfinite(v)
    any_fin = fin.any(-1)
    first = np.take_along_axis(v, np.argmax(fin, -1)[..., None], -1)[..., 0]
    last = np.take_along_axis(v, (v.shape[-1] - 1 - np.argmax(fin[..., ::-1], -1))[..., None], -1)[..., 0]
    return np.where(any_fin, first, np.nan), np.where(any_fin, last, np.nan)


def _per_member(value: float | xr.DataArray, what: str, moved: xr.DataArray, dim: str
                ) -> np.ndarray:
    """``value`` broadcast to ``moved``'s dims without ``dim`` (a number or a named DataArray)."""
    template = moved.isel({dim: 0}, drop=True)
    if not isinstance(value, xr.DataArray):
        if np.ndim(value) != 0:
            raise TypeError(f"transition_times: {what} must be a number or a DataArray with named "
                            f"dims, got an array of shape {np.shape(value)}")
        return np.full(template.shape, float(value))
    if dim in value.dims or not set(value.dims) <= set(template.dims):
        raise ValueError(f"transition_times: {what} dims {value.dims} must be among {template.dims}")
    return np.asarray(value.broadcast_like(template).transpose(*template.dims).values, dtype=float)


def transition_times(da: xr.DataArray, *, threshold: float | xr.DataArray, dim: str = "step",
                     direction: Literal["up", "down"] = "up",
                     interpolate: bool | Literal["linear", "logit"] = True,
                     ceiling: float | xr.DataArray | None = None) -> xr.Dataset:
    """Per-member first crossing of ``threshold`` along ``dim``, and the 10-90% jump width.

    Args:
        da: a metric over ``dim`` (e.g. test accuracy per sweep coordinate, seed and step).
        threshold: the level to cross: a number, or a DataArray broadcast against ``da`` by name
            (without ``dim``), e.g. a fraction of each mode's own ceiling.
        dim: the time dimension; its coordinate (the recorded steps) must increase strictly.
            Without a coordinate, positions 0, 1, ... are used.
        direction: ``"up"`` (first value >= threshold, e.g. accuracy) or ``"down"`` (first
            value <= threshold, e.g. loss).
        interpolate: ``True`` or ``"linear"``: linearly interpolate between the two recorded
            steps around the crossing; ``"logit"``: interpolate linearly in
            ``ln(v / (ceiling - v))``, exact for a logistic rise from 0 to ``ceiling`` (a
            two-layer linear network's mode strength), so a coarse record resolves the crossing;
            ``False``: report the first recorded step past it.
        ceiling: the value a logistic metric saturates at (a number or a DataArray broadcast
            like ``threshold``); required with ``interpolate="logit"`` and used only there.

    Returns:
        A Dataset over every other dim of ``da`` with

        - ``t_cross``: first crossing time (NaN when censored). A metric already past the
          threshold at the first record crosses at that first step.
        - ``censored``: True where the threshold is never reached (including members that
          diverge to NaN first).
        - ``width``: steps between reaching 10% and 90% of the way from the metric's first to its
          last finite value (NaN when censored or when those two values are equal).

    Example:
        >>> loss = xr.DataArray([4.0, 3.0, 1.0, 0.5], dims="step", coords={"step": [0, 1, 2, 3]})
        >>> float(transition_times(loss, threshold=2.0, direction="down").t_cross)
        1.5
        >>> u = xr.DataArray(2.0 / (1.0 + np.exp(-(np.arange(0.0, 40, 10) - 17))), dims="step")
        >>> round(float(transition_times(u, threshold=1.0, interpolate="logit", ceiling=2.0).t_cross), 9)
        1.7
    """
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"transition_times: da must be an xarray.DataArray, got {type(da).__name__}")
    if dim not in da.dims:
        raise ValueError(f"transition_times: dim={dim!r} is not a dimension of da {da.dims}")
    if direction not in ("up", "down"):
        raise ValueError(f"transition_times: direction must be 'up' or 'down', got {direction!r}")
    modes = {True: "linear", False: None, "linear": "linear", "logit": "logit"}
    if not isinstance(interpolate, (bool, str)) or interpolate not in modes:
        raise ValueError(f"transition_times: interpolate must be True, False, 'linear' or 'logit', "
                         f"got {interpolate!r}")
    mode = modes[interpolate]
    if (mode == "logit") != (ceiling is not None):
        raise ValueError("transition_times: ceiling is required with interpolate='logit' and used "
                         f"only there (interpolate={interpolate!r}, ceiling={ceiling!r})")
    steps = np.asarray(da[dim].values if dim in da.coords else np.arange(da.sizes[dim]), dtype=float)
    if steps.size == 0:
        raise ValueError(f"transition_times: dim={dim!r} has length 0")
    if not (np.isfinite(steps).all() and (np.diff(steps) > 0).all()):
        raise ValueError(f"transition_times: coordinate {dim!r} must increase strictly, got {steps}")
    moved = da.transpose(..., dim)
    v = np.asarray(moved.values, dtype=float)
    batch = v.shape[:-1]
    level = _per_member(threshold, "threshold", moved, dim)
    if not np.isfinite(level).all():
        raise ValueError(f"transition_times: threshold must be finite, got {threshold!r}")
    cap = None if ceiling is None else _per_member(ceiling, "ceiling", moved, dim)
    t, crossed = _first_crossing(v, steps, level, np.full(batch, direction == "up"), mode, cap)
    start, end = _edge_values(v)
    rising = end > start
    t10, _ = _first_crossing(v, steps, start + 0.1 * (end - start), rising, mode, cap)
    t90, _ = _first_crossing(v, steps, start + 0.9 * (end - start), rising, mode, cap)
    width = np.where(crossed & (end != start), t90 - t10, np.nan)
    dims = moved.dims[:-1]
    coords = {k: c for k, c in da.coords.items() if dim not in c.dims}
    ds = xr.Dataset({"t_cross": (dims, t), "censored": (dims, ~crossed), "width": (dims, width)},
                    coords=coords)
    ds.attrs.update(threshold=float(threshold) if np.ndim(threshold) == 0 else "per member",
                    direction=direction, dim=dim, interpolate=str(mode),
                    last_step=float(steps[-1]), metric=str(da.name) if da.name is not None else "")
    return ds


def value_at(da: xr.DataArray, t: xr.DataArray | float, *, dim: str = "step") -> xr.DataArray:
    """``da`` linearly interpolated along ``dim`` at each member's own time ``t``.

    The partner of :func:`transition_times`: the value of one metric at the moment another one
    crossed (e.g. the weight norm when test accuracy reached 0.9). NaN where ``t`` is NaN (a
    censored member) or outside the recorded steps.

    Args:
        da: a metric over ``dim`` and the member dims.
        t: times, a number or a DataArray over some of ``da``'s other dims.
        dim: the time dimension (its coordinate must increase strictly).

    Returns:
        A DataArray over ``da``'s dims without ``dim`` (broadcast against ``t``).

    Example:
        >>> norm = xr.DataArray([[4.0, 2.0, 1.0]], dims=("seed", "step"), coords={"step": [0, 10, 20]})
        >>> value_at(norm, xr.DataArray([15.0], dims="seed")).values.tolist()
        [1.5]
    """
    if dim not in da.dims:
        raise ValueError(f"value_at: dim={dim!r} is not a dimension of da {da.dims}")
    steps = np.asarray(da[dim].values if dim in da.coords else np.arange(da.sizes[dim]), dtype=float)
    if not (np.diff(steps) > 0).all():
        raise ValueError(f"value_at: coordinate {dim!r} must increase strictly, got {steps}")
    moved = da.transpose(..., dim)
    tt = xr.DataArray(t) if not isinstance(t, xr.DataArray) else t
    tt = tt.broadcast_like(moved.isel({dim: 0}, drop=True)).transpose(*moved.dims[:-1])
    v = moved.broadcast_like(tt).transpose(*tt.dims, dim).values.reshape(-1, steps.size)
    out = np.array([np.interp(ti, steps, vi, left=np.nan, right=np.nan) if np.isfinite(ti) else np.nan
                    for ti, vi in zip(tt.values.ravel(), v)]).reshape(tt.shape)
    return tt.copy(data=out)


def summarize_transitions(ds: xr.Dataset, *, over: str = "seed", n_boot: int = 2000,
                          level: float = 0.95, seed: int = 0) -> xr.Dataset:
    """Per-coordinate summary of :func:`transition_times` across members ``over``.

    Args:
        ds: output of :func:`transition_times` (needs ``t_cross`` and ``censored``).
        over: the member dimension to summarise across.
        n_boot: bootstrap resamples (members resampled jointly across coordinates).
        level: confidence level.
        seed: bootstrap seed.

    Returns:
        A Dataset over the remaining dims with

        - ``t_median`` / ``_lo`` / ``_hi``: median crossing time, censored members counted as
          +inf (so it is ``inf`` when more than half never crossed, and ``_hi`` is ``inf`` when
          that cannot be excluded);
        - ``t_mean_crossed`` / ``_lo`` / ``_hi``: mean over members that crossed only (NaN if
          none did), to be read together with ``frac_censored``;
        - ``width_median``: median 10-90% width over members that crossed;
        - ``frac_censored``, ``n_censored``, ``n_members``.

    Example:
        >>> acc = xr.DataArray(np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]], float),
        ...                    dims=("seed", "step"))
        >>> s = summarize_transitions(transition_times(acc, threshold=0.5), n_boot=200)
        >>> float(s.t_median), float(s.frac_censored), int(s.n_members)
        (1.5, 0.3333333333333333, 3)
    """
    for var in ("t_cross", "censored"):
        if var not in ds:
            raise ValueError(f"summarize_transitions: ds lacks {var!r}; pass transition_times output")
    if over not in ds["t_cross"].dims:
        raise ValueError(f"summarize_transitions: over={over!r} is not a dimension of t_cross "
                         f"{ds['t_cross'].dims}")
    t = ds["t_cross"].transpose(..., over)
    cens = ds["censored"].transpose(..., over).values.astype(bool)
    dims = t.dims[:-1]
    t_inf = np.where(cens, np.inf, t.values)
    med, med_lo, med_hi = bootstrap_ci(t_inf, axis=-1, stat=np.median, n_boot=n_boot, level=level,
                                       seed=seed, nan_policy="omit")
    t_crossed = np.where(cens, np.nan, t.values)
    mean, mean_lo, mean_hi = bootstrap_ci(t_crossed, axis=-1, stat=np.mean, n_boot=n_boot,
                                          level=level, seed=seed, nan_policy="omit")
    out = {
        "t_median": med, "t_median_lo": med_lo, "t_median_hi": med_hi,
        "t_mean_crossed": mean, "t_mean_crossed_lo": mean_lo, "t_mean_crossed_hi": mean_hi,
        "frac_censored": cens.mean(-1), "n_censored": cens.sum(-1),
        "n_members": np.full(cens.shape[:-1], cens.shape[-1]),
    }
    if "width" in ds:
        w = ds["width"].transpose(..., over).values
        with np.errstate(all="ignore"):
            finite = np.isfinite(w)
            sorted_w = np.sort(np.where(finite, w, np.inf), axis=-1)
            k = finite.sum(-1)
            # median of the finite widths without nanmedian's all-NaN warning
            lo_i, hi_i = np.maximum((k - 1) // 2, 0), np.maximum(k // 2, 0)
            pick = lambda i: np.take_along_axis(sorted_w, i[..., None], -1)[..., 0]  # noqa: E731
            out["width_median"] = np.where(k > 0, 0.5 * (pick(lo_i) + pick(hi_i)), np.nan)
    coords = {k: c for k, c in t.coords.items() if over not in c.dims}
    res = xr.Dataset({k: (dims, np.asarray(v)) for k, v in out.items()}, coords=coords)
    res.attrs.update(ds.attrs, level=level, n_boot=n_boot, over=over)
    return res
