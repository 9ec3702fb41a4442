"""Curve-only forecasts: fit each member's own early curve and extrapolate it, with bootstrap.

Each family is linear in some parameters and nonlinear in one or two; the nonlinear ones run
over a fixed grid and the linear ones are solved exactly at every grid point (variable
projection, Golub & Pereyra 1973, SIAM J. Numer. Anal. 10:413), so a whole population and all
its bootstrap resamples are fitted by a few matrix products, without starting values.

- :class:`LastValue`: the recent level carried forward (the mean of the last ``k`` values, with
  their spread as Gaussian noise).
- :class:`PowerLaw`: ``y = E + A (t + 1)^-alpha`` (a learning curve with an offset; e.g.
  Hestness et al. 2017, arXiv 1712.00409, fit this form across data sizes).
- :class:`Exponential`: ``y = E + A exp(-k t)``.
- :class:`SigmoidJump`: a plateau then a jump to the level the metric saturates at,
  ``y = a (1 - s) + c s`` with ``s = 1 / (1 + exp(-(t - t0) / w))`` and ``c`` the Event's
  ceiling: the shape of a grokking curve.

Uncertainty is a residual bootstrap (Efron & Tibshirani 1993, ch. 9): residuals of the best fit,
inflated by ``sqrt(T / (T - p))``, are resampled onto the fitted curve and the family is refitted
per resample; a value forecast adds one more resampled residual (a prediction, not a confidence,
interval). Residuals are treated as independent: autocorrelated training noise makes these
intervals too narrow, which is what the scores then show.

Example:
    >>> t = np.arange(1.0, 41.0)
    >>> fam = PowerLaw(n_boot=8)
    >>> curves, _ = fam.sample(t, (0.5 + 2.0 * (t + 1) ** -0.5)[None], np.array([100.0]), seed=0)
    >>> bool(abs(curves[0, :, 0].mean() - (0.5 + 2.0 * 101 ** -0.5)) < 1e-6)
    True
"""

from __future__ import annotations

import abc

import dataclasses

import numpy as np

from dyntheory._analysis.forecast_targets import Event, Window

__all__ = ["Exponential", "LastValue", "PowerLaw", "SigmoidJump", "first_crossing"]

_CHUNK_ROWS = 4096  # rows (members x resamples) fitted per matrix product (~10-40 MB)


def _project(basis: np.ndarray, offset: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best grid point and linear coefficients of ``y ~ offset_g + basis_g c`` per row of ``y``.

    ``basis`` (G, T, p) holds each grid point's columns, ``offset`` (G, T) a fixed curve per grid
    point, ``y`` (M, T). The least-squares error at grid point g is
    ``||y - o_g||^2 - ||Q_g^T (y - o_g)||^2`` with ``Q_g`` an orthonormal basis of the columns,
    so every row and grid point is a few matrix products. Ill-conditioned grid points
    (collinear columns) are skipped. Returns ``(g, coef)``, (M,), (M, p).
    """
    q, r = np.linalg.qr(basis)  # (G, T, p), (G, p, p)
    diag = np.abs(np.diagonal(r, axis1=1, axis2=2))
    bad = diag.min(-1) < 1e-8 * np.maximum(diag.max(-1), 1e-300)
    g_n, t_n, p_n = q.shape
    q_flat = q.transpose(1, 0, 2).reshape(t_n, g_n * p_n)
    oq = np.einsum("gt,gtp->gp", offset, q)  # o_g projected
    oo = (offset**2).sum(-1)
    g_out, c_out = np.empty(len(y), int), np.empty((len(y), p_n))
    for lo in range(0, len(y), _CHUNK_ROWS):
        yy = y[lo:lo + _CHUNK_ROWS]
        proj = (yy @ q_flat).reshape(len(yy), g_n, p_n) - oq[None]
        sse = (yy**2).sum(-1)[:, None] - 2 * yy @ offset.T + oo[None] - (proj**2).sum(-1)
        g = np.argmin(np.where(bad[None], np.inf, sse), axis=1)
        pg = proj[np.arange(len(yy)), g]
        g_out[lo:lo + len(yy)] = g
        c_out[lo:lo + len(yy)] = np.linalg.solve(r[g], pg[..., None])[..., 0]
    return g_out, c_out


def first_crossing(curves: np.ndarray, steps: np.ndarray, threshold: float, up: bool
                   ) -> np.ndarray:
    """First time each curve (..., T) over ``steps`` reaches ``threshold``, linearly
    interpolated; NaN where it never does. A curve already past it at ``steps[0]`` crosses there."""
    with np.errstate(invalid="ignore"):
        hit = curves >= threshold if up else curves <= threshold
    any_hit = hit.any(-1)
    i = np.argmax(hit, -1)
    prev = np.maximum(i - 1, 0)
    v0 = np.take_along_axis(curves, prev[..., None], -1)[..., 0]
    v1 = np.take_along_axis(curves, i[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((threshold - v0) / (v1 - v0), 0.0, 1.0)
    t = np.where(i > 0, steps[prev] + np.nan_to_num(frac) * (steps[i] - steps[prev]), steps[i])
    return np.where(any_hit, t, np.nan)


def _solve_rows(basis: np.ndarray, offset: np.ndarray, y: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``y - offset`` on each row's own columns: (M, T, p <= 2), (M, T), (M, T).

    Closed-form normal equations (one or two columns), so a batch of many small problems costs
    a few array operations, not one LAPACK call per row. Returns ``(sse, coef)``; ``sse`` is inf
    where the columns are (nearly) collinear.
    """
    z = y - offset
    a = np.einsum("mtp,mtq->mpq", basis, basis)
    rhs = np.einsum("mtp,mt->mp", basis, z)
    with np.errstate(all="ignore"):
        if basis.shape[-1] == 1:
            det = a[:, 0, 0]
            coef = rhs / det[:, None]
            bad = ~(det > 1e-12 * np.abs(basis).max((1, 2))**2)
        elif basis.shape[-1] == 2:
            det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] ** 2
            coef = np.stack([a[:, 1, 1] * rhs[:, 0] - a[:, 0, 1] * rhs[:, 1],
                             a[:, 0, 0] * rhs[:, 1] - a[:, 0, 1] * rhs[:, 0]], -1) / det[:, None]
            bad = ~(det > 1e-10 * a[:, 0, 0] * a[:, 1, 1])
        else:
            raise ValueError("curve families have one or two linear parameters")
        sse = ((z - np.einsum("mtp,mp->mt", basis, coef)) ** 2).sum(-1)
    bad |= ~np.isfinite(sse)
    return np.where(bad, np.inf, sse), np.where(bad[:, None], 0.0, coef)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Family(abc.ABC):
    """A curve family fitted per member by variable projection, with a residual bootstrap.

    A family gives a grid of its nonlinear parameters ``theta`` (G, d), in coordinates where the
    grid is even, with spacing ``step`` (d,), and ``columns(t, theta)``: the linear columns
    (..., T, p) and a fixed offset curve (..., T). The grid's best point is then refined per row
    by a coordinate search that halves its step ``refine`` times.
    """

    n_boot: int = 200
    refine: int = 8

    name = "curve"

    @abc.abstractmethod
    def grid(self, scale: float, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """The grid of nonlinear parameters ``theta`` (G, d) and its spacing ``step`` (d,)."""

    @abc.abstractmethod
    def columns(self, t: np.ndarray, theta: np.ndarray, scale: float, ceiling: float
                ) -> tuple[np.ndarray, np.ndarray]:
        """The linear columns (..., T, p) and the fixed offset curve (..., T) at ``theta``."""

    def _fit(self, t, y, scale, ceiling, horizon):
        grid, step = self.grid(scale, horizon)
        basis, offset = self.columns(t, grid, scale, ceiling)
        g, _ = _project(basis, offset, y)
        theta = grid[g].copy()
        sse, coef = self._rows(t, theta, y, scale, ceiling)
        step = step.copy()
        for _ in range(self.refine):
            step = step / 2
            for d in range(theta.shape[1]):
                for sign in (-1.0, 1.0):
                    trial = theta.copy()
                    trial[:, d] += sign * step[d]
                    s2, c2 = self._rows(t, trial, y, scale, ceiling)
                    better = s2 < sse
                    theta[better], sse[better], coef[better] = trial[better], s2[better], c2[better]
        return theta, coef

    def _rows(self, t, theta, y, scale, ceiling):
        parts = []
        for lo in range(0, len(y), _CHUNK_ROWS):
            b, o = self.columns(t, theta[lo:lo + _CHUNK_ROWS], scale, ceiling)
            parts.append(_solve_rows(b, o, y[lo:lo + _CHUNK_ROWS]))
        sse = np.concatenate([p[0] for p in parts])
        coef = np.concatenate([p[1] for p in parts])
        return sse, coef

    def _curve(self, t, theta, coef, scale, ceiling):
        out = []
        for lo in range(0, len(theta), _CHUNK_ROWS):
            b, o = self.columns(t, theta[lo:lo + _CHUNK_ROWS], scale, ceiling)
            out.append(np.einsum("mtp,mp->mt", b, coef[lo:lo + _CHUNK_ROWS]) + o)
        return np.concatenate(out)

    def sample(self, t: np.ndarray, y: np.ndarray, future: np.ndarray, *, seed: int,
               ceiling: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap curves at ``future`` (M, B, Tf) and predictive noise draws (M, B).

        Rows of ``y`` (M, T) with a non-finite value give NaN.
        """
        m, n_t = y.shape
        ok = np.isfinite(y).all(-1)
        y0 = np.where(ok[:, None], y, 0.0)
        scale = float(t[-1]) if t[-1] > 0 else 1.0
        horizon = float(max(future.max(), t[-1]))
        theta, coef = self._fit(t, y0, scale, ceiling, horizon)
        fitted = self._curve(t, theta, coef, scale, ceiling)
        n_par = coef.shape[1] + theta.shape[1]
        resid = (y0 - fitted) * np.sqrt(n_t / max(n_t - n_par, 1))
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n_t, (m, self.n_boot, n_t))
        y_star = fitted[:, None, :] + np.take_along_axis(resid[:, None, :], idx, -1)
        tb, cb = self._fit(t, y_star.reshape(-1, n_t), scale, ceiling, horizon)
        curves = self._curve(future, tb, cb, scale, ceiling).reshape(m, self.n_boot, -1)
        noise = np.take_along_axis(resid, rng.integers(0, n_t, (m, self.n_boot)), -1)
        curves = np.where(ok[:, None, None], curves, np.nan)
        return curves, np.where(ok[:, None], noise, np.nan)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PowerLaw(_Family):
    """``y = E + A (t + 1)^-alpha``, ``ln alpha`` searched over [ln 0.01, ln 5]."""

    name = "power_law"

    def grid(self, scale, horizon):
        g = np.linspace(np.log(0.01), np.log(5.0), 48)
        return g[:, None], np.array([g[1] - g[0]])

    def columns(self, t, theta, scale, ceiling):
        x = (t + 1.0) ** -np.exp(theta[..., :1])
        return np.stack([np.ones_like(x), x], -1), np.zeros_like(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Exponential(_Family):
    """``y = E + A exp(-k t)``, ``ln(k * window length)`` searched over [ln 0.05, ln 50]."""

    name = "exponential"

    def grid(self, scale, horizon):
        g = np.linspace(np.log(0.05), np.log(50.0), 48)
        return g[:, None], np.array([g[1] - g[0]])

    def columns(self, t, theta, scale, ceiling):
        x = np.exp(-np.exp(theta[..., :1]) / scale * t)
        return np.stack([np.ones_like(x), x], -1), np.zeros_like(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SigmoidJump(_Family):
    """A plateau ``a`` then a logistic jump, centred at ``t0`` with width ``w``, to the Event's
    ceiling ``c``: ``y = a (1 - s) + c s``. ``t0`` is searched from 0 to 3x the end of the run
    (a jump beyond the window forecasts a late jump, or none), ``ln(w / window)`` over
    [ln 0.01, ln 1]. A flat window fits every late ``t0`` equally well: the tie goes to the
    latest (the grid runs from late to early), i.e. no sign of a jump forecasts none."""

    name = "sigmoid_jump"

    def grid(self, scale, horizon):
        t0 = np.linspace(3.0 * horizon / scale, 0.0, 60)
        lw = np.linspace(np.log(0.01), np.log(1.0), 10)
        g = np.stack(np.meshgrid(t0, lw, indexing="ij"), -1).reshape(-1, 2)
        return g, np.array([t0[0] - t0[1], lw[1] - lw[0]])

    def columns(self, t, theta, scale, ceiling):
        t0, w = theta[..., :1] * scale, np.exp(theta[..., 1:2]) * scale
        s = 0.5 * (1 + np.tanh((t - t0) / (2 * w)))
        return (1.0 - s)[..., None], ceiling * s


@dataclasses.dataclass(frozen=True, kw_only=True)
class LastValue:
    """The mean of the last ``k`` recorded values carried forward, with Gaussian noise of their
    spread (sample standard deviation); an Event then never happens after the cutoff unless that
    level already lies past its threshold."""

    k: int = 5
    n_boot: int = 200
    name = "last_value"

    def sample(self, t, y, future, *, seed, ceiling=1.0):
        last = y[:, -min(self.k, y.shape[1]):]
        level = last.mean(-1)
        sd = last.std(-1, ddof=1) if last.shape[1] > 1 else np.zeros(len(y))
        noise = sd[:, None] * np.random.default_rng(seed).standard_normal((len(y), self.n_boot))
        curves = np.broadcast_to(level[:, None, None], (len(y), self.n_boot, future.size))
        return np.array(curves), noise


def curve_forecast(family, win: Window, metric: str | None = None) -> dict[str, np.ndarray]:
    """Forecast ``win.target`` for every member from its own window with ``family``.

    Returns ``{"quantiles": (N, K)}`` for a Value, ``{"p_event": (N,), "t_quantiles": (N, K)}``
    for an Event (time quantiles conditional on the event; NaN where no resample crosses).
    """
    metric = metric or win.target.metric
    y = np.asarray(win.values[metric], dtype=float)
    target = win.target
    if isinstance(target, Event):
        curves, _ = family.sample(win.steps, y, win.future, seed=win.seed, ceiling=target.ceiling)
        t = first_crossing(curves, win.future, target.threshold, target.direction == "up")
        crossed = np.isfinite(t)
        p = np.where(np.isfinite(curves[..., 0]).all(-1), crossed.mean(-1), np.nan)
        with np.errstate(all="ignore"):
            tq = _nanquantile_rows(t, win.levels)
        return {"p_event": p, "t_quantiles": tq}
    at = win.future[-1] if target.at is None else float(target.at)
    if at not in win.future:
        raise ValueError(f"forecast: Value.at={target.at} is not a recorded step after the cutoff "
                         f"{win.cutoff:g}")
    curves, noise = family.sample(win.steps, y, np.array([at]), seed=win.seed)
    samples = curves[..., 0] + noise
    return {"quantiles": np.quantile(samples, win.levels, axis=-1).T}


def _nanquantile_rows(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of each row's finite values (N, B) -> (N, K); NaN rows stay NaN, no warning."""
    out = np.full((x.shape[0], levels.size), np.nan)
    some = np.isfinite(x).any(-1)
    if some.any():
        out[some] = np.nanquantile(x[some], levels, axis=-1).T
    return out
