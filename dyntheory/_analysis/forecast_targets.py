"""What a forecast predicts (:class:`Value`, :class:`Event`), its observed outcome, and splits.

A run's metrics are a Dataset over ``(*sweep axes, seed, step)``; every dimension except
``step`` indexes members. Forecasting code works on members flattened to one axis
(:class:`Members`) and puts the labelled dims back at the end.

A split (:func:`split_members`) gives each member one role: ``"fit"`` (its whole trajectory may
train a population predictor), ``"calibrate"`` (its outcome calibrates that predictor) or
``"test"`` (only its early window is ever read; it is what gets scored). Splitting by ``seed``
holds out seeds; splitting by a sweep axis holds out whole hyperparameter values (unseen
configurations).

Example:
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"acc": (("seed", "step"), np.array([[0, 0.2, 1.0], [0, 0.1, 0.2]]))},
    ...                 coords={"step": [0, 10, 20]})
    >>> out = outcome(ds, Event(metric="acc", threshold=0.9))
    >>> out.happened.values.tolist(), out.t_event.values.tolist()
    ([True, False], [18.75, nan])
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.transitions import transition_times

__all__ = ["ROLES", "Event", "Members", "Value", "Window", "outcome", "split_members"]

ROLES = ("fit", "calibrate", "test")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Value:
    """A metric's value at a later step, e.g. the final test loss.

    Attributes:
        metric: the metric's name in the run's Dataset.
        at: the step to predict (a recorded step); None: the last recorded step.
    """

    metric: str
    at: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """A transition, as :func:`~dyntheory.transition_times` defines it: the first crossing of
    ``threshold`` by ``metric``; members that never cross by the end of the run are censored.

    Attributes:
        metric: the metric's name, e.g. ``"test_acc"``.
        threshold: the level to cross.
        direction: ``"up"`` (reach ``>= threshold``) or ``"down"``.
        ceiling: the level the metric saturates at after the transition (1.0 for an accuracy),
            used by the sigmoid curve baseline.
    """

    metric: str
    threshold: float
    direction: Literal["up", "down"] = "up"
    ceiling: float = 1.0

    def __post_init__(self):
        if self.direction not in ("up", "down"):
            raise ValueError(f"Event.direction must be 'up' or 'down', got {self.direction!r}")
        if not np.isfinite(self.threshold):
            raise ValueError(f"Event.threshold must be finite, got {self.threshold!r}")


def _steps(metrics: xr.Dataset) -> np.ndarray:
    if "step" not in metrics.dims:
        raise ValueError(f"forecast: the metrics have no 'step' dimension (dims {dict(metrics.sizes)})")
    return np.asarray(metrics["step"].values, dtype=float)


def _metric(metrics: xr.Dataset, name: str) -> xr.DataArray:
    if name not in metrics:
        raise ValueError(f"forecast: no metric {name!r}; the run has {sorted(metrics.data_vars)}")
    return metrics[name]


def outcome(metrics: xr.Dataset, target: Value | Event) -> xr.Dataset:
    """The observed outcome of ``target`` for every member (the truth a forecast is scored on).

    Returns:
        For a :class:`Value`: ``y``. For an :class:`Event`: ``happened`` (crossed by the end of
        the run) and ``t_event`` (the interpolated crossing step, NaN when censored). Over the
        member dims; ``attrs["last_step"]`` is the end of the run.
    """
    steps = _steps(metrics)
    da = _metric(metrics, target.metric)
    if isinstance(target, Value):
        at = steps[-1] if target.at is None else float(target.at)
        if at not in steps:
            raise ValueError(f"Value.at={target.at} is not a recorded step")
        out = xr.Dataset({"y": da.sel(step=at, drop=True).astype(float)})
    elif isinstance(target, Event):
        tt = transition_times(da, threshold=target.threshold, direction=target.direction)
        out = xr.Dataset({"happened": ~tt.censored, "t_event": tt.t_cross})
    else:
        raise TypeError(f"forecast: target must be a Value or an Event, got {type(target).__name__}")
    out.attrs["last_step"] = float(steps[-1])
    return out


@dataclasses.dataclass(frozen=True)
class Members:
    """The member dims of a run's metric, flattened to one axis (and back)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    coords: dict

    @classmethod
    def of(cls, metrics: xr.Dataset) -> Members:
        da = next(v for v in metrics.data_vars.values() if "step" in v.dims)
        dims = tuple(d for d in da.dims if d != "step")
        coords = {k: c for k, c in da.coords.items() if "step" not in c.dims}
        return cls(dims, tuple(da.sizes[d] for d in dims), coords)

    @property
    def n(self) -> int:
        return int(np.prod(self.shape))

    def flat(self, da: xr.DataArray) -> np.ndarray:
        """``da`` as (members, *rest) with rest the dims not among the member dims (e.g. step)."""
        rest = [d for d in da.dims if d not in self.dims]
        da = da.broadcast_like(xr.DataArray(np.zeros(self.shape), dims=self.dims)) \
            if set(self.dims) - set(da.dims) else da
        v = np.asarray(da.transpose(*self.dims, *rest).values)
        return v.reshape(self.n, *v.shape[len(self.dims):])

    def unflat(self, v: np.ndarray, extra: tuple[str, ...] = ()) -> xr.DataArray:
        v = np.asarray(v)
        return xr.DataArray(v.reshape(*self.shape, *v.shape[1:]), dims=self.dims + extra,
                            coords=self.coords)

    def hyperparameters(self) -> dict[str, np.ndarray]:
        """Each sweep axis (every member dim but ``seed``) as a per-member array."""
        grid = np.meshgrid(*[np.arange(s) for s in self.shape], indexing="ij")
        out = {}
        for axis, (d, idx) in enumerate(zip(self.dims, grid)):
            if d == "seed" or d not in self.coords:
                continue
            vals = np.asarray(self.coords[d].values)
            if vals.dtype.kind in "fiu":
                out[d] = vals[idx.ravel()].astype(float)
        return out


def split_members(metrics: xr.Dataset, *, by: str = "seed",
                  fractions: tuple[float, float, float] = (0.5, 0.25, 0.25),
                  test: tuple | list | None = None, calibrate_by: str | None = None,
                  key: int = 0) -> xr.DataArray:
    """Assign each member a role, ``"fit"``, ``"calibrate"`` or ``"test"``, by one dimension.

    Args:
        metrics: a run's metrics.
        by: the dimension whose values are dealt out: ``"seed"`` (held-out seeds) or a sweep
            axis (held-out hyperparameter values: the test members' configurations are unseen).
        fractions: shares of the values for fit, calibrate and test (rounded; each role gets at
            least one value).
        test: explicit test values of ``by`` (then the others are dealt to fit and calibrate in
            the ratio ``fractions[0] : fractions[1]``).
        calibrate_by: with ``test``, deal the remaining members to fit and calibrate by this
            dimension instead (e.g. hold out weight decays for testing, but calibrate on held-out
            seeds of the seen weight decays: more calibration members, exchangeable with the fit
            ones rather than with the test ones).
        key: seed of the shuffle.

    Returns:
        A string DataArray over the member dims.

    Example:
        >>> ds = xr.Dataset({"m": (("seed", "step"), np.zeros((8, 2)))})
        >>> sorted(split_members(ds, key=1).values.tolist()).count("test")
        2
    """
    members = Members.of(metrics)
    if by not in members.dims:
        raise ValueError(f"split_members: by={by!r} is not a member dimension {members.dims}")
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ValueError(f"split_members: fractions must be three shares >= 0, got {fractions}")
    n = metrics.sizes[by]
    values = np.asarray(metrics[by].values) if by in metrics.coords else np.arange(n)
    order = np.random.default_rng(key).permutation(n)
    role = np.empty(n, dtype=object)
    if test is not None:
        is_test = np.isin(values, np.asarray(test))
        if not is_test.any() or is_test.all():
            raise ValueError(f"split_members: test={test} must name some but not all values of {by!r}")
        role[is_test] = "test"
        cal_dim = by if calibrate_by is None else calibrate_by
        if cal_dim not in members.dims:
            raise ValueError(f"split_members: calibrate_by={calibrate_by!r} is not a member dimension "
                             f"{members.dims}")
        rest = [i for i in order if not is_test[i]] if cal_dim == by else \
            list(np.random.default_rng(key).permutation(metrics.sizes[cal_dim]))
        n_fit = int(round(len(rest) * fractions[0] / (fractions[0] + fractions[1])))
        n_fit = min(max(n_fit, 1), len(rest) - 1)
        if cal_dim != by:
            grid = np.meshgrid(*[np.arange(s) for s in members.shape], indexing="ij")
            by_idx, cal_idx = grid[members.dims.index(by)], grid[members.dims.index(cal_dim)]
            fit_vals = np.isin(cal_idx, rest[:n_fit])
            out = np.where(is_test[by_idx], "test", np.where(fit_vals, "fit", "calibrate"))
            da = xr.DataArray(out.astype(str), dims=members.dims, coords=members.coords, name="role")
            da.attrs["by"] = by
            return da
        role[rest[:n_fit]] = "fit"
        role[rest[n_fit:]] = "calibrate"
    else:
        if n < 3:
            raise ValueError(f"split_members: {by!r} has {n} values; three roles need at least 3")
        share = np.asarray(fractions, float) / sum(fractions)
        counts = np.maximum(np.round(share * n).astype(int), 1)
        counts[0] = n - counts[1] - counts[2]
        if counts[0] < 1:
            raise ValueError(f"split_members: {n} values of {by!r} cannot give every role one")
        bounds = np.cumsum(counts)
        role[order[:bounds[0]]] = "fit"
        role[order[bounds[0]:bounds[1]]] = "calibrate"
        role[order[bounds[1]:]] = "test"
    idx = np.meshgrid(*[np.arange(s) for s in members.shape], indexing="ij")[members.dims.index(by)]
    out = xr.DataArray(role[idx].astype(str), dims=members.dims, coords=members.coords, name="role")
    out.attrs["by"] = by
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Window:
    """What a predictor may read: every member's metrics up to the cutoff, and the outcomes of
    the fit and calibration members only (NaN / False elsewhere, so a test member's future
    cannot leak into a prediction).

    Attributes:
        target: the :class:`Value` or :class:`Event` to predict.
        steps: recorded steps up to and including the cutoff, (Tw,).
        future: recorded steps after the cutoff, up to the end of the run, (Tf,).
        cutoff: the cutoff step.
        values: per metric, (N, Tw) values up to the cutoff.
        hyperparameters: per numeric sweep axis, (N,) values.
        theory: (N,) a theory's value per member, or None.
        role: (N,) ``"fit"``, ``"calibrate"``, ``"test"`` (or ``""`` for members not in a split).
        y: (N,) the Value target's outcome, NaN except for fit and calibration members.
        happened: (N,) the Event's outcome, False except for fit and calibration members.
        t_event: (N,) the Event's time, NaN except for fit and calibration members.
        levels: forecast quantile levels, (K,).
        seed: seed of any resampling.
    """

    target: Value | Event
    steps: np.ndarray
    future: np.ndarray
    cutoff: float
    values: dict
    hyperparameters: dict
    theory: np.ndarray | None
    role: np.ndarray
    y: np.ndarray
    happened: np.ndarray
    t_event: np.ndarray
    levels: np.ndarray
    seed: int

    @property
    def n(self) -> int:
        return len(self.role)

    @property
    def at_risk(self) -> np.ndarray:
        """Members whose Event has not happened by the cutoff (all members for a Value)."""
        if not isinstance(self.target, Event):
            return np.ones(self.n, bool)
        v = self.values[self.target.metric]
        with np.errstate(invalid="ignore"):
            past = v >= self.target.threshold if self.target.direction == "up" else v <= self.target.threshold
        return ~past.any(-1)
