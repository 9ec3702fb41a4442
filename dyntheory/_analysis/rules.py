"""Rules: a claim about a training procedure, stated over a sweep and judged with an interval.

A rule is a value: what to measure (a variable of a run's Dataset, or a function of it), along
which axes, and the claim with its margin. :func:`check_rule` reads a run (or any Dataset with the
rule's dims and ``seed``) and returns a :class:`~dyntheory._analysis.verdict.Verdict` whose effect
is the measured quantity (a slope, a paired difference) and whose interval is a percentile
bootstrap over seeds, resampled jointly across the sweep (members with one seed share their
initialisation and data). The kinds:

- :class:`Invariance`: the argmin of a loss over one axis (the learning rate) does not move along
  another (the width): the slope of ``log argmin`` against ``log along`` lies within ``±margin``
  of ``slope`` (0 by default). The argmin is refined by a parabola through the grid minimum and
  its two neighbours (in log lr and log loss), so it is continuous under resampling.
- :class:`Exponent`: the log-log slope of the member mean against an axis equals ``slope``
  within ``±margin`` (a coordinate check: ``|delta h|`` against width).
- :class:`Monotone`: the member mean rises (or falls) at every step along an axis: the smallest
  step, in the claimed direction, lies above ``margin``.
- :class:`Ordering`: procedure ``better`` beats ``worse`` (a lower metric, by default): the
  paired (same seed) difference lies above ``margin``.

Each rule has three outcomes, not two. PASS: the interval lies inside the margin (two-sided) or
above the bound (one-sided). FAIL: it lies wholly outside (or below): the claim is refuted at
this size. INCONCLUSIVE otherwise: the interval straddles the margin's edge, so neither is shown;
the verdict then says roughly how many seeds would settle it, if the estimate stayed where it is
and the interval's half-width shrank as ``1/sqrt(seeds)``.

Example:
    >>> import numpy as np, xarray as xr
    >>> w = np.array([64, 128, 256, 512]); rng = np.random.default_rng(0)
    >>> dh = w[:, None] ** 0.0 * np.exp(0.05 * rng.standard_normal((4, 16)))
    >>> ds = xr.Dataset({"dh": (("widths", "seed"), dh)}, coords={"widths": w})
    >>> print(check_rule(Exponent(name="flat", metric="dh", along="widths", slope=0.0,
    ...                           margin=0.1), ds).status)
    PASS
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.slopes import _wls_line
from dyntheory._analysis.verdict import Verdict

__all__ = ["Exponent", "Invariance", "Monotone", "Ordering", "Rule", "check_rule", "seeds_to_settle"]

Metric = str | Callable[[xr.Dataset], xr.DataArray]


def seeds_to_settle(estimate: float, interval: tuple[float, float], edge: float, n: int) -> int | None:
    """Seeds at which an interval around ``estimate`` would clear ``edge`` (one side or the
    other), if its half-width shrank as ``1/sqrt(n)`` and the estimate stayed put.

    Example:
        >>> seeds_to_settle(0.0, (-0.2, 0.2), 0.1, 8)   # half-width 0.2 -> 0.1 needs 4x seeds
        32
    """
    half = (interval[1] - interval[0]) / 2
    gap = abs(estimate - edge)
    if not (math.isfinite(half) and math.isfinite(gap)) or gap == 0 or n < 1:
        return None
    return max(n + 1, math.ceil(n * (half / gap) ** 2))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """Fields every rule shares.

    Attributes:
        name: identifier printed in the verdict.
        metric: a variable of the Dataset, or ``fn(ds) -> DataArray``.
        step: which recorded step to judge, ``"last"`` or a step (ignored without a ``step`` dim).
        sel: coordinates to select first, e.g. ``{"parametrization": "mup"}``.
        level: confidence level of the bootstrap interval.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        sweep: optionally, ``fn() -> dt.Sweep``: the sweep that measures this rule
            (``dyntheory.design.measure`` trains it).
    """

    name: str
    metric: Metric
    step: int | Literal["last"] = "last"
    sel: Mapping[str, Any] | tuple = ()
    level: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    sweep: Callable[[], Any] | None = dataclasses.field(default=None, compare=False)

    dims: tuple[str, ...] = dataclasses.field(default=(), init=False, repr=False)

    def __post_init__(self):
        where = f"{type(self).__name__} {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"{type(self).__name__}.name must be a non-empty string, got {self.name!r}")
        if not (isinstance(self.metric, str) or callable(self.metric)):
            raise ValueError(f"{where}: metric must be a variable name or fn(ds) -> DataArray, "
                             f"got {self.metric!r}")
        if not (self.step == "last" or (isinstance(self.step, int) and not isinstance(self.step, bool))):
            raise ValueError(f"{where}: step must be 'last' or an int, got {self.step!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"{where}: level must lie in (0, 1), got {self.level!r}")
        if int(self.n_boot) != self.n_boot or self.n_boot < 100:
            raise ValueError(f"{where}: n_boot must be an integer >= 100, got {self.n_boot!r}")
        margin = getattr(self, "margin", 0.0)
        if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
            raise ValueError(f"{where}: margin must be a finite number >= 0, got {margin!r}")
        object.__setattr__(self, "sel", tuple(sorted(dict(self.sel).items())))

    def measure(self, ds: xr.Dataset) -> xr.DataArray:
        """The judged values, dims exactly ``self.dims + ("seed",)`` (in that order)."""
        where = f"{type(self).__name__} {self.name!r}"
        if self.sel:
            ds = ds.sel(dict(self.sel))
        da = self.metric(ds) if callable(self.metric) else ds[self.metric]
        if not isinstance(da, xr.DataArray):
            raise TypeError(f"{where}: metric gave a {type(da).__name__}, not a DataArray")
        if "step" in da.dims:
            da = da.isel(step=-1) if self.step == "last" else da.sel(step=self.step)
        want = (*self.dims, "seed")
        if set(da.dims) != set(want):
            raise ValueError(f"{where}: the metric has dims {da.dims}, the rule needs exactly {want}; "
                             f"select the others with sel={{...}}")
        return da.transpose(*want).astype(float)

    def judge(self, da: xr.DataArray) -> Verdict:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def _boot_index(self, n: int) -> np.ndarray:
        return np.random.default_rng(self.seed).integers(0, n, size=(int(self.n_boot), n))

    def _quantiles(self, boot: np.ndarray) -> tuple[float, float]:
        a = (1 - self.level) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(boot, [a, 1 - a], axis=0)
        return lo, hi


def _axis_values(da: xr.DataArray, dim: str, where: str, positive: bool) -> np.ndarray:
    try:
        x = np.asarray(da[dim].values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: axis {dim!r} needs numeric coordinates, got {da[dim].values!r}") from None
    if positive and (x <= 0).any():
        raise ValueError(f"{where}: axis {dim!r} needs positive values for a log-log slope, got {x}")
    return x


def _two_sided(rule: Rule, est: float, lo: float, hi: float, target: float, n: int, *,
               n_members: int, label: str, detail: str, censored: bool = False,
               per_coord: xr.Dataset | None = None) -> Verdict:
    """Equivalence of ``est`` with ``target`` within ``±rule.margin``, three ways."""
    m = rule.margin
    d, dlo, dhi = est - target, lo - target, hi - target
    if not np.isfinite([d, dlo, dhi]).all():
        return Verdict(name=rule.name, passed=False, effect=float(d), interval=(dlo, dhi), tolerance=m,
                       n_members=n_members, label=label, inconclusive=True,
                       detail=detail + "; the estimate is not finite", per_coord=per_coord)
    inside = dlo >= -m and dhi <= m
    outside = dhi < -m or dlo > m
    inconclusive = (not inside and not outside) or (inside and censored)
    settle = None
    if inconclusive:
        settle = seeds_to_settle(d, (dlo, dhi), m if d >= 0 else -m, n)
        if censored and inside:
            detail += "; a pass that rests on an unbracketed optimum is not shown: widen the grid"
    return Verdict(name=rule.name, passed=inside and not inconclusive, effect=float(d),
                   interval=(dlo, dhi), tolerance=m, n_members=n_members, label=label, detail=detail,
                   inconclusive=inconclusive, seeds_to_settle=settle, per_coord=per_coord)


def _one_sided(rule: Rule, est: float, lo: float, hi: float, bound: float, n: int, *,
               n_members: int, label: str, detail: str, n_excluded: int = 0) -> Verdict:
    """``est`` above ``bound``, three ways: shown above, shown below, or straddling."""
    above, below = lo > bound, hi < bound
    inconclusive = not above and not below
    return Verdict(name=rule.name, passed=bool(above), effect=float(est), interval=(lo, hi),
                   tolerance=float(bound), side="above", n_members=n_members, label=label,
                   detail=detail, n_excluded=n_excluded, inconclusive=bool(inconclusive),
                   seeds_to_settle=seeds_to_settle(est, (lo, hi), bound, n) if inconclusive else None)


def _log_argmin(loss: np.ndarray, log_lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log lr*`` along the last axis of ``loss`` (non-finite = worst), parabola-refined in
    (log lr, log loss) through the grid minimum and its neighbours; and whether the minimum sat
    on the grid's edge (the optimum is not bracketed)."""
    k = loss.shape[-1]
    y = np.where(np.isfinite(loss), loss, np.inf)
    all_bad = ~np.isfinite(y).any(-1)
    i = np.argmin(np.where(np.isnan(y), np.inf, y), axis=-1)
    edge = (i == 0) | (i == k - 1)
    j = np.clip(i, 1, k - 2)
    take = lambda a, o: np.take_along_axis(a, (j + o)[..., None], -1)[..., 0]  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.log(np.where(y > 0, y, np.nan)) if (y[np.isfinite(y)] > 0).all() else y
        x0, x1, x2 = log_lr[j - 1], log_lr[j], log_lr[j + 1]
        y0, y1, y2 = take(ly, -1), take(ly, 0), take(ly, 1)
        # Vertex of the parabola through three points (unequal spacing allowed).
        num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        vertex = x1 - 0.5 * num / den
    ok = ~edge & np.isfinite(vertex) & (den < 0) & np.isfinite(y0 + y1 + y2)
    out = np.where(ok, np.clip(vertex, x0, x2), log_lr[i])
    return np.where(all_bad, np.nan, out), edge & ~all_bad


@dataclasses.dataclass(frozen=True, kw_only=True)
class Invariance(Rule):
    """The optimum of ``metric`` over ``argmin`` does not move along ``along``.

    Judged by the slope of ``log argmin*`` against ``log along`` (within ``±margin`` of
    ``slope``); ``metric`` is a loss (lower is better; a diverged member counts as the worst).

    Example:
        >>> rule = Invariance(name="lr_transfer", metric="test_loss", argmin="lr", along="widths",
        ...                   margin=0.25)
    """

    argmin: str = "lr"
    along: str = "widths"
    slope: float = 0.0
    margin: float = 0.25

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "dims", (self.along, self.argmin))

    def measure(self, ds: xr.Dataset) -> xr.DataArray:
        da = super().measure(ds)
        if "diverged_at" in ds and not callable(self.metric):  # a diverged member is the worst
            div = ds["diverged_at"].sel(dict(self.sel)) if self.sel else ds["diverged_at"]
            da = da.where(div.transpose(*da.dims) < 0, np.inf)
        return da

    def judge(self, da: xr.DataArray) -> Verdict:
        where = f"Invariance {self.name!r}"
        x = _axis_values(da, self.along, where, positive=True)
        lr = _axis_values(da, self.argmin, where, positive=True)
        order = np.argsort(lr)
        y = da.values[:, order, :]  # (along, argmin, seed)
        log_lr, log_x = np.log(lr[order]), np.log(x)
        if y.shape[0] < 3 or y.shape[1] < 3:
            raise ValueError(f"{where}: needs >= 3 values of {self.along!r} and of {self.argmin!r}, "
                             f"got {y.shape[:2]}")
        n = y.shape[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            star, edge = _log_argmin(np.mean(y, -1), log_lr)
            boot_star, _ = _log_argmin(np.moveaxis(np.mean(y[:, :, self._boot_index(n)], -1), -1, 0), log_lr)
        fit = lambda s: _wls_line(np.broadcast_to(log_x, s.shape), s, np.ones_like(s))[0]  # noqa: E731
        est, boot = float(fit(star)), fit(boot_star)
        lo, hi = self._quantiles(boot)
        slo, shi = self._quantiles(boot_star)
        per_coord = xr.Dataset({"lr_star": (self.along, np.exp(star)), "lo": (self.along, np.exp(slo)),
                                "hi": (self.along, np.exp(shi)), "at_edge": (self.along, edge)},
                               coords={self.along: da[self.along].values})
        stars = ", ".join(f"{v:g}: {np.exp(s):.3g}" for v, s in zip(da[self.along].values, star))
        detail = f"log {self.argmin}* vs log {self.along}: slope {est:.3g} [{lo:.3g}, {hi:.3g}]; {self.argmin}* {stars}"
        if edge.any():
            detail += (f"; {self.argmin}* on the grid's edge at {self.along}="
                       f"{list(da[self.along].values[edge])}")
        return _two_sided(self, est, lo, hi, self.slope, n, n_members=int(np.isfinite(y).sum()),
                          label="slope-pred", detail=detail, censored=bool(edge.any()),
                          per_coord=per_coord)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Exponent(Rule):
    """The log-log slope of the member mean of ``metric`` against ``along`` is ``slope`` ±
    ``margin`` (members resampled jointly across ``along``).

    Example:
        >>> rule = Exponent(name="coord_check", metric="dh", along="widths", slope=0.0, margin=0.15)
    """

    along: str = "widths"
    slope: float = 0.0
    margin: float = 0.15

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "dims", (self.along,))

    def judge(self, da: xr.DataArray) -> Verdict:
        where = f"Exponent {self.name!r}"
        x = _axis_values(da, self.along, where, positive=True)
        if x.size < 3:
            raise ValueError(f"{where}: needs >= 3 values of {self.along!r}, got {x.size}")
        y = np.where(np.isfinite(da.values), da.values, np.nan)
        n = y.shape[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(y, 1)
            boot_mean = np.nanmean(y[:, self._boot_index(n)], -1).T  # (n_boot, along)
        if not (mean > 0).all():
            raise ValueError(f"{where}: a log-log slope needs a positive mean at every {self.along}, "
                             f"got {mean}")
        lx = np.log(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            est = float(_wls_line(lx, np.log(mean), np.ones_like(lx))[0])
            lb = np.log(np.where(boot_mean > 0, boot_mean, np.nan))
            boot = _wls_line(np.broadcast_to(lx, lb.shape), lb, np.ones_like(lb))[0]
        lo, hi = self._quantiles(boot)
        detail = (f"log-log slope {est:.3g} [{lo:.3g}, {hi:.3g}] vs {self.slope:g} over "
                  f"{self.along} {x.min():g}..{x.max():g} ({x.size} points)")
        return _two_sided(self, est, lo, hi, self.slope, n, n_members=int(np.isfinite(y).sum()),
                          label="slope-pred", detail=detail)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Monotone(Rule):
    """The member mean of ``metric`` rises (``"increasing"``) or falls at every step along
    ``along``: the smallest step in that direction (of ``log`` means when ``log``) lies above
    ``margin``.

    Example:
        >>> rule = Monotone(name="deeper_is_better", metric="test_loss", along="depth",
        ...                 direction="decreasing")
    """

    along: str = "widths"
    direction: Literal["increasing", "decreasing"] = "increasing"
    margin: float = 0.0
    log: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.direction not in ("increasing", "decreasing"):
            raise ValueError(f"Monotone {self.name!r}: direction must be 'increasing' or 'decreasing', "
                             f"got {self.direction!r}")
        object.__setattr__(self, "dims", (self.along,))

    def judge(self, da: xr.DataArray) -> Verdict:
        where = f"Monotone {self.name!r}"
        x = _axis_values(da, self.along, where, positive=False)
        y = np.where(np.isfinite(da.values), da.values, np.nan)[np.argsort(x)]
        n = y.shape[1]
        sign = 1.0 if self.direction == "increasing" else -1.0

        def stat(means):
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log(np.where(means > 0, means, np.nan)) if self.log else means
            return np.min(sign * np.diff(v, axis=0), axis=0)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            est = float(stat(np.nanmean(y, 1)))
            boot = stat(np.nanmean(y[:, self._boot_index(n)], -1))
        lo, hi = self._quantiles(boot)
        detail = (f"smallest {'rise' if sign > 0 else 'fall'}{' (log)' if self.log else ''} between "
                  f"neighbouring {self.along}: {est:.3g} [{lo:.3g}, {hi:.3g}]")
        return _one_sided(self, est, lo, hi, self.margin, n, n_members=int(np.isfinite(y).sum()),
                          label="min step", detail=detail)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ordering(Rule):
    """Procedure ``better`` beats ``worse`` on ``metric`` by more than ``margin``, as a paired
    (same-seed) difference: ``worse - better`` for a loss (``lower_is_better``), else
    ``better - worse``.

    Example:
        >>> rule = Ordering(name="wsd_beats_cosine", metric="test_loss", axis="schedule",
        ...                 better="wsd", worse="cosine")
    """

    axis: str = "schedule"
    better: Any = None
    worse: Any = None
    margin: float = 0.0
    lower_is_better: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.better is None or self.worse is None or self.better == self.worse:
            raise ValueError(f"Ordering {self.name!r}: better and worse must name two values of "
                             f"{self.axis!r}, got {self.better!r} and {self.worse!r}")
        object.__setattr__(self, "dims", (self.axis,))

    def measure(self, ds: xr.Dataset) -> xr.DataArray:
        da = super().measure(ds)
        have = list(da[self.axis].values)
        for v in (self.better, self.worse):
            if v not in have:
                raise ValueError(f"Ordering {self.name!r}: {v!r} is not a value of {self.axis!r} ({have})")
        return da.sel({self.axis: [self.better, self.worse]})

    def judge(self, da: xr.DataArray) -> Verdict:
        b, w = da.values
        diff = (w - b) if self.lower_is_better else (b - w)
        ok = np.isfinite(diff)
        d = diff[ok]
        if d.size < 2:
            raise ValueError(f"Ordering {self.name!r}: fewer than 2 seeds with both values finite")
        est = float(d.mean())
        boot = d[self._boot_index(d.size)].mean(-1)
        lo, hi = self._quantiles(boot)
        sense = "lower" if self.lower_is_better else "higher"
        detail = (f"paired {self.better} vs {self.worse} ({sense} is better): advantage {est:.3g} "
                  f"[{lo:.3g}, {hi:.3g}] over {d.size} seeds")
        return _one_sided(self, est, lo, hi, self.margin, d.size, n_members=2 * d.size,
                          label="paired diff", detail=detail, n_excluded=int((~ok).sum()))


def check_rule(rule: Rule, data: Any) -> Verdict:
    """Judge ``rule`` on a run (``dt.Run``) or a Dataset with the rule's dims and ``seed``.

    Returns:
        A :class:`Verdict`: ``status`` is ``PASS``, ``FAIL`` or ``INCONCLUSIVE`` (then
        ``seeds_to_settle`` says roughly how many seeds would decide it).

    Example:
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"loss": (("schedule", "seed"), [[1.0, 1.1, 1.2], [0.9, 1.0, 1.0]])},
        ...                 coords={"schedule": ["cosine", "wsd"]})
        >>> rule = Ordering(name="wsd", metric="loss", axis="schedule", better="wsd", worse="cosine",
        ...                 n_boot=200)
        >>> check_rule(rule, ds).status
        'PASS'
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"check_rule: rule must be a Rule (Invariance, Exponent, Monotone, Ordering), "
                        f"got {type(rule).__name__}")
    ds = getattr(data, "metrics", data)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"check_rule {rule.name!r}: data must be a run or an xarray.Dataset, "
                        f"got {type(data).__name__}")
    return rule.judge(rule.measure(ds))
