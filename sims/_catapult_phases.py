"""Catapult phases read off recorded trajectories, and the member-level verdicts of ``catapult_uv``.

A member's phase is read from its loss and the engine's overflow flag alone: divergent
(``diverged_at >= 0``), catapult (ended below its initial loss after the loss rose between two
records), lazy (converged with a loss that never rose), unsettled (none of these by the last step).
The codes of the first three are those of ``theory/catapult_uv.py``'s :func:`classify_phase`, so
simulated and predicted phases compare by equality.

:func:`member_fraction` flattens the (learning rate, width, seed) members into one axis, so that
:func:`dyntheory.equivalence` reports the fraction of members that agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from theory import catapult_uv as cu

__all__ = ["CATAPULT", "DENSE", "DIVERGENT", "FLOOR", "LAZY", "PHASES", "PHASE_TOL", "SPIKE",
           "UNSETTLED", "brackets", "dense_then_sparse", "member_fraction", "sim_phase", "valid"]

LAZY, CATAPULT, DIVERGENT, UNSETTLED = cu.LAZY, cu.CATAPULT, cu.DIVERGENT, 3
PHASES = {LAZY: "lazy", CATAPULT: "catapult", DIVERGENT: "divergent", UNSETTLED: "unsettled"}

DENSE = 100  # every step recorded up to here (catapults and divergences happen early), then every 5th
SPIKE = 1e-3        # "the loss rose": L at one record > (1 + SPIKE) L at the previous one,
FLOOR = 1e-8        # counted only while L > FLOOR L_0 (below, rounding of f moves L by O(1))
PHASE_TOL = 0.05    # fraction of members allowed in the wrong phase (CI must stay above 0.95)


def dense_then_sparse(steps: int) -> tuple[int, ...]:
    """Every step up to ``DENSE``, then every 5th, and always the last."""
    return tuple(sorted(set(range(min(DENSE, steps) + 1)) | set(range(DENSE, steps + 1, 5)) | {steps}))


def valid(m: xr.Dataset) -> xr.DataArray:
    """True at record steps whose parameters are the member's own (not frozen after overflow).

    ``diverged_at = d`` means update ``d`` overflowed, so step ``d`` is the last finite state."""
    return (m.diverged_at < 0) | (m.step <= m.diverged_at)


def sim_phase(loss: xr.DataArray, diverged_at: xr.DataArray) -> xr.DataArray:
    """Phase read off a trajectory: divergent (the engine's overflow flag); catapult (converged,
    i.e. ended below its initial loss, after the loss rose between two records); lazy (converged
    with a loss that never rose: in the linearised dynamics every mode contracts, so it cannot);
    unsettled (none of these by the last step)."""
    l0, lT = loss.isel(step=0), loss.isel(step=-1)
    rose = ((loss.shift(step=-1) > (1 + SPIKE) * loss) & (loss > FLOOR * l0)).any("step")
    converged = np.isfinite(lT) & (lT < l0)
    phase = xr.where(converged, xr.where(rose, CATAPULT, LAZY), UNSETTLED)
    return xr.where(diverged_at >= 0, DIVERGENT, phase).astype(int)


def brackets(c: np.ndarray, flag: np.ndarray) -> tuple[float, float]:
    """(last c before ``flag`` first fails, first c where it fails) along a sorted grid."""
    bad = np.flatnonzero(~flag)
    if bad.size == 0:
        return float(c[-1]), np.inf
    i = int(bad[0])
    return (float(c[i - 1]) if i > 0 else np.nan), float(c[i])


def member_fraction(flag: xr.DataArray, keep: xr.DataArray, name: str, what: str) -> dt.Verdict:
    """Equivalence of the fraction of kept members where ``flag`` holds with 1."""
    dims = list(flag.dims)
    flat = flag.where(keep).astype(float).stack(member=dims)
    flat = flat.isel(member=np.flatnonzero(keep.stack(member=dims).values))
    flat = flat.drop_vars(["member", *dims], errors="ignore")
    v = dt.equivalence(flat.assign_coords(member=np.arange(flat.sizes["member"])), 1.0, over="member",
                       relative=False, tol=PHASE_TOL, name=name)
    bad = int((flat < 1).sum())
    return dataclasses.replace(v, label="frac-1", detail=f"{bad} of {flat.sizes['member']} {what}")
