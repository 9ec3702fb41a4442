"""The kinds of rule (``dyntheory._analysis.rules``): the claim each states and how it is judged.

- :class:`Invariance`: an argmin over one axis does not move along another;
- :class:`Exponent`: a log-log slope equals a value;
- :class:`Monotone`: the member mean moves one way at every step along an axis;
- :class:`Ordering`: one procedure beats another, as a paired difference.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
import xarray as xr

from dyntheory._analysis.rules import Rule, _axis_values, _one_sided, _two_sided
from dyntheory._analysis.slopes import _wls_line
from dyntheory._analysis.verdict import Verdict

__all__ = ["Exponent", "Invariance", "Monotone", "Ordering"]


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
    (same-seed) difference: the advantage ``d = worse - better`` for a loss
    (``lower_is_better``), else ``better - worse``.

    With ``margin >= 0`` it is a superiority claim: ``better`` is better by more than ``margin``.
    With ``margin = -m < 0`` it is a non-inferiority claim: ``better`` is not worse than ``worse``
    by more than ``m`` (a cheaper procedure that may cost at most ``m``; Wellek 2010, "Testing
    Statistical Hypotheses of Equivalence and Noninferiority", ch. 2). Either way, with
    ``[lo, hi]`` the bootstrap interval of the mean of ``d`` over seeds:

    - PASS: ``lo > margin`` (non-inferiority: even the interval's worst case loses less than
      ``m``);
    - FAIL: ``hi < margin`` (shown worse by more than ``m``);
    - INCONCLUSIVE: the interval contains ``margin``; ``seeds_to_settle`` says roughly how many
      seeds would decide it.

    Example:
        >>> rule = Ordering(name="wsd_beats_cosine", metric="test_loss", axis="schedule",
        ...                 better="wsd", worse="cosine")
        >>> cheap = Ordering(name="wsd_not_worse", metric="test_loss", axis="schedule",
        ...                  better="wsd", worse="cosine", margin=-0.01)
    """

    axis: str = "schedule"
    better: Any = None
    worse: Any = None
    margin: float = 0.0
    lower_is_better: bool = True

    _signed_margin: ClassVar[bool] = True

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
        if self.margin < 0:
            detail += f"; non-inferiority: {self.better} no worse than {self.worse} by more than {-self.margin:.3g}"
        return _one_sided(self, est, lo, hi, self.margin, d.size, n_members=2 * d.size,
                          label="paired diff", detail=detail, n_excluded=int((~ok).sum()))
