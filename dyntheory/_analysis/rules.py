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
  paired (same seed) difference lies above ``margin``. A negative margin ``-m`` states
  non-inferiority: ``better`` is not worse than ``worse`` by more than ``m``.

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
    >>> from dyntheory._analysis.rule_kinds import Exponent
    >>> print(check_rule(Exponent(name="flat", metric="dh", along="widths", slope=0.0,
    ...                           margin=0.1), ds).status)
    PASS
"""

from __future__ import annotations

import abc
import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.verdict import Verdict

__all__ = ["Rule", "check_rule", "seeds_to_settle"]

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
class Rule(abc.ABC):
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

    # A kind whose margin may be negative (Ordering: a non-inferiority claim) sets this.
    _signed_margin: ClassVar[bool] = False

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
        signed = self._signed_margin
        if not (isinstance(margin, (int, float)) and not isinstance(margin, bool) and math.isfinite(margin)
                and (signed or margin >= 0)):
            raise ValueError(f"{where}: margin must be a finite number{'' if signed else ' >= 0'}, "
                             f"got {margin!r}")
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

    @abc.abstractmethod
    def judge(self, da: xr.DataArray) -> Verdict:
        """The verdict on ``da`` (``measure``'s output); each kind states its own claim."""

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


def check_rule(rule: Rule, data: Any) -> Verdict:
    """Judge ``rule`` on a run (``dt.Run``) or a Dataset with the rule's dims and ``seed``.

    Returns:
        A :class:`Verdict`: ``status`` is ``PASS``, ``FAIL`` or ``INCONCLUSIVE`` (then
        ``seeds_to_settle`` says roughly how many seeds would decide it).

    Example:
        >>> import numpy as np, xarray as xr
        >>> ds = xr.Dataset({"loss": (("schedule", "seed"), [[1.0, 1.1, 1.2], [0.9, 1.0, 1.0]])},
        ...                 coords={"schedule": ["cosine", "wsd"]})
        >>> from dyntheory._analysis.rule_kinds import Ordering
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
