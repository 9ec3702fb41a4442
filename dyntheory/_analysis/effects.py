"""Paired effects of an intervention: treated members against their twins, with bootstrap intervals.

A member of a branched run (``dt.branch``) keeps its task, init, data and noise streams, so it
and the same coordinates of its parent (or of a sibling branch from the same checkpoint) differ
only by the intervention: a paired design. ``effect`` takes the per-member difference of a
metric at one step and averages it over seeds, with a paired percentile bootstrap interval per
sweep coordinate (the seeds resampled jointly across coordinates). ``event_effect`` does the same
for an event (a metric crossing a threshold): the change in the rate of reaching it (recovery
rate) and in the time to reach it, with members that never reach it censored at the last common
step (the restricted mean time to the event; Royston & Parmar 2013, BMC Med. Res. Methodol.
13:152), so a treatment that prevents the event is not scored on the members that still reach it.

Twins are found from the runs' metadata: the treated run must be a branch whose parent is the
control's store, both branches of one parent at one step, or a run of the same sweep and key
with interventions (``dt.interventions``) against the run without them. Anything else is refused, unless the
caller asserts the pairing by coordinates (``pairs="coords"``: two runs of one key whose members
share streams by coordinate).
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.stats import _check_level, bootstrap_ci
from dyntheory._analysis.transitions import transition_times


def _dataset(x: Any, name: str) -> xr.Dataset:
    ds = getattr(x, "metrics", x)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"effect: {name} must be a run (dt.train, dt.branch, dt.load) or its metrics "
                        f"Dataset, got {type(x).__name__}")
    return ds


def _config(ds: xr.Dataset) -> dict:
    try:
        return json.loads(ds.attrs["config"])
    except (KeyError, TypeError, ValueError):
        return {}


def _same_path(a: Any, b: Any) -> bool:
    return a not in (None, "None") and b not in (None, "None") and os.path.realpath(str(a)) == os.path.realpath(str(b))


def twins(treated: xr.Dataset, control: xr.Dataset) -> str:
    """How ``treated`` and ``control`` pair (``"parent"`` or ``"siblings"``), or raise saying why not."""
    t, c = _config(treated).get("branch"), _config(control).get("branch")
    if t is None and c is None and treated.attrs.get("key") == control.attrs.get("key"):
        # Two runs of one key that differ only in their interventions: every member's streams
        # are its coordinates', so the same coordinates are twins.
        tc, cc = _config(treated), _config(control)
        if tc and {k: v for k, v in tc.items() if k != "interventions"} == \
                {k: v for k, v in cc.items() if k != "interventions"} and tc != cc:
            return "interventions"
    if t is None:
        raise ValueError("effect: treated is not a branched run (its config has no 'branch'); twins come "
                         "from dt.branch, or pass pairs='coords' to pair members by coordinates")
    if _same_path(t["parent"], control.attrs.get("dyntheory_store")):
        return "parent"
    if c is not None and _same_path(t["parent"], c["parent"]) and t["step"] == c["step"]:
        return "siblings"
    if t["parent"] in (None, "None") and treated.attrs.get("key") == control.attrs.get("key"):
        # An in-memory parent has no path: same key, and the control holds the branch step.
        if "step" in control.dims and t["step"] in control["step"].values:
            return "parent"
    raise ValueError(f"effect: treated branched from {t['parent']!r} at step {t['step']}, and control is neither "
                     f"that run ({control.attrs.get('dyntheory_store')!r}) nor a branch of it at that step; "
                     "pass pairs='coords' to pair members by coordinates")


def _aligned(treated: xr.Dataset, control: xr.Dataset, metric: str, pairs: str, over: str
             ) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, int | None]:
    if pairs not in ("auto", "coords"):
        raise ValueError(f"effect: pairs must be 'auto' or 'coords', got {pairs!r}")
    how = twins(treated, control) if pairs == "auto" else "coords"
    origin = _config(treated).get("branch")
    after = origin["step"] if origin else None  # a branch's own records start after its step
    if how == "interventions":  # compare from where the first intervention can act
        after = min((i.get("step", 0) for i in _config(treated).get("interventions", [])), default=0) - 1
    for name, ds in (("treated", treated), ("control", control)):
        if metric not in ds:
            raise ValueError(f"effect: metric {metric!r} is not in {name} (has {sorted(ds.data_vars)})")
        if over not in ds[metric].dims:
            raise ValueError(f"effect: over={over!r} is not a dim of {name}[{metric!r}] {ds[metric].dims}")
    t, c = treated[metric], control[metric]
    dims_t = [d for d in t.dims if d != "step"]
    dims_c = [d for d in c.dims if d != "step"]
    if sorted(dims_t) != sorted(dims_c):
        raise ValueError(f"effect: treated dims {dims_t} and control dims {dims_c} differ")
    for d in dims_t:
        if list(map(str, t[d].values)) != list(map(str, c[d].values)):
            raise ValueError(f"effect: coordinate {d!r} differs: treated {t[d].values.tolist()}, "
                             f"control {c[d].values.tolist()}")
    c = c.transpose(*t.dims).assign_coords({d: t[d].values for d in dims_t})
    mask = treated["branched"] if "branched" in treated else xr.ones_like(t.isel(step=0, drop=True), dtype=bool)
    return t, c, mask, after


def _common_steps(t: xr.DataArray, c: xr.DataArray, after: int | None) -> np.ndarray:
    steps = np.intersect1d(t["step"].values, c["step"].values)
    if after is not None:
        steps = steps[steps > after]
    if steps.size == 0:
        raise ValueError("effect: treated and control share no recorded step"
                         + ("" if after is None else f" after the branch step {after}"))
    return steps


def _paired_summary(diff: xr.DataArray, over: str, n_boot: int, level: float, seed: int, name: str
                    ) -> xr.Dataset:
    moved = diff.transpose(..., over)
    est, lo, hi = bootstrap_ci(moved.values, axis=-1, n_boot=n_boot, level=level, seed=seed, nan_policy="omit")
    dims = moved.dims[:-1]
    coords = {k: v for k, v in moved.coords.items() if over not in v.dims}
    n = np.isfinite(moved.values).sum(-1)
    return xr.Dataset({name: (dims, np.asarray(est)), f"{name}_lo": (dims, np.asarray(lo)),
                       f"{name}_hi": (dims, np.asarray(hi)), "n_pairs": (dims, n)}, coords=coords)


def effect(treated: Any, control: Any, metric: str, *, step: int | None = None, over: str = "seed",
           pairs: Literal["auto", "coords"] = "auto", n_boot: int = 2000, level: float = 0.95,
           seed: int = 0) -> xr.Dataset:
    """Paired average treatment effect of an intervention on ``metric`` at one step.

    Args:
        treated: the intervened run (``dt.branch``'s result, or its metrics); only its
            ``branched`` members are counted.
        control: its twin: the parent run, or a sibling branch from the same checkpoint.
        metric: a recorded metric.
        step: the step compared (default: the last step both recorded after the branch step).
        over: the dimension averaged over (the seeds: each member is paired with its twin).
        pairs: ``"auto"`` (twins checked from the runs' metadata) or ``"coords"`` (members paired
            by coordinates; the caller vouches that they share streams).
        n_boot, level, seed: the paired percentile bootstrap.

    Returns:
        A Dataset over the other sweep dims: ``ate`` (mean of treated - control over ``over``)
        with ``ate_lo``/``ate_hi``, ``n_pairs`` (pairs with finite values), ``n_excluded``
        (treated members whose value or twin's is not finite, e.g. diverged), ``treated_mean``,
        ``control_mean``, and per member ``diff``. ``attrs``: metric, step, pairing, level.

    Example:
        >>> eff = effect(twin, run, "test_loss")  # doctest: +SKIP
        >>> eff.ate.sel(lr=0.1).item(), eff.ate_lo.sel(lr=0.1).item()  # doctest: +SKIP
    """
    _check_level(level, "effect")
    tds, cds = _dataset(treated, "treated"), _dataset(control, "control")
    t, c, mask, after = _aligned(tds, cds, metric, pairs, over)
    steps = _common_steps(t, c, after)
    if step is None:
        step = int(steps[-1])
    elif step not in steps:
        raise ValueError(f"effect: step={step!r} is not a step both runs recorded after the branch; "
                         f"common steps: {steps.tolist()}")
    tv, cv = t.sel(step=step, drop=True), c.sel(step=step, drop=True)
    diff = (tv - cv).where(mask)
    out = _paired_summary(diff, over, n_boot, level, seed, "ate")
    out["n_excluded"] = (mask & ~np.isfinite(diff)).sum(over)
    out["treated_mean"] = tv.where(mask & np.isfinite(diff)).mean(over)
    out["control_mean"] = cv.where(mask & np.isfinite(diff)).mean(over)
    out["diff"] = diff
    out.attrs.update(metric=metric, step=int(step), pairing=pairs if pairs == "coords" else twins(tds, cds),
                     level=level, over=over)
    return out


def event_effect(treated: Any, control: Any, metric: str, *, threshold: float,
                 direction: Literal["up", "down"] = "down", over: str = "seed",
                 pairs: Literal["auto", "coords"] = "auto", n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> xr.Dataset:
    """Paired effect of an intervention on an event: ``metric`` crossing ``threshold``.

    Both runs are read over the steps they share after the branch step. A member that never
    crosses (or diverges first) is censored at the last common step.

    Returns:
        A Dataset over the other sweep dims: ``rate_treated``, ``rate_control`` and ``rate_diff``
        (with ``_lo``/``_hi``): the fraction of pairs reaching the event; ``time_diff`` (with
        ``_lo``/``_hi``): the paired mean change in restricted time to the event (censored
        members at the last common step); ``n_pairs``; per member ``t_treated``, ``t_control``,
        ``reached_treated``, ``reached_control``.

    Example:
        >>> ev = event_effect(twin, run, "train_loss", threshold=0.1)  # doctest: +SKIP
    """
    _check_level(level, "event_effect")
    tds, cds = _dataset(treated, "treated"), _dataset(control, "control")
    t, c, mask, after = _aligned(tds, cds, metric, pairs, over)
    steps = _common_steps(t, c, after)
    last = float(steps[-1])
    tt = transition_times(t.sel(step=steps), threshold=threshold, direction=direction)
    tc = transition_times(c.sel(step=steps), threshold=threshold, direction=direction)
    reached_t, reached_c = ~tt.censored, ~tc.censored
    time_t, time_c = tt.t_cross.fillna(last), tc.t_cross.fillna(last)
    rate = (reached_t.astype(float) - reached_c.astype(float)).where(mask)
    out = _paired_summary(rate, over, n_boot, level, seed, "rate_diff")
    times = _paired_summary((time_t - time_c).where(mask), over, n_boot, level, seed, "time_diff")
    for v in ("time_diff", "time_diff_lo", "time_diff_hi"):
        out[v] = times[v]
    out["rate_treated"] = reached_t.where(mask).mean(over)
    out["rate_control"] = reached_c.where(mask).mean(over)
    out["t_treated"], out["t_control"] = tt.t_cross.where(mask), tc.t_cross.where(mask)
    out["reached_treated"], out["reached_control"] = reached_t & mask, reached_c & mask
    out.attrs.update(metric=metric, threshold=float(threshold), direction=direction, last_step=last,
                     pairing=pairs if pairs == "coords" else twins(tds, cds), level=level, over=over)
    return out
