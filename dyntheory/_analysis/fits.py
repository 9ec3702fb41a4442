"""Scaling-law fits with bootstrap intervals and a lack-of-fit check.

``fit_power_law`` fits ``y = E + A x^-alpha``; ``fit_scaling_law`` fits the Chinchilla form
``L = E + A N^-alpha + B D^-beta`` (Hoffmann et al. 2022, arXiv 2203.15556, eq. 2). Both are fitted
in log space (residual ``log y - log model``), as Hoffmann et al. do, so every decade of ``y``
counts alike. The optimiser is a batched Levenberg-Marquardt in numpy on log-parameters, started
from the best points of a coarse grid; every bootstrap resample (pairs bootstrap: points drawn with
replacement, expressed as multinomial weights) is one more row of the same batch, so intervals
cost one vectorised solve. A lack-of-fit line reports the RMS log residual and a Wald-Wolfowitz
runs test on the residual signs (too few runs = systematic curvature the form misses).
``dyntheory._analysis.compute_optimal`` turns a fitted Chinchilla law into its compute-optimal allocation.

Example:
    >>> x = np.geomspace(1e2, 1e6, 12)
    >>> fit = fit_power_law(x, 0.5 + 30.0 * x**-0.4, n_boot=50)
    >>> round(fit.params["alpha"], 3), round(fit.params["E"], 3)
    (0.4, 0.5)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

__all__ = ["PowerLawFit", "ScalingLawFit", "fit_power_law", "fit_scaling_law"]

_LOG_BOUND = 50.0   # log-amplitudes (data are normalised to O(1) first)
_EXP_BOUND = 10.0   # exponents
_E_FRACTIONS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)  # starting E as a fraction of min(y)

Model = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _objective(r: np.ndarray, w: np.ndarray, loss: str, delta: float) -> np.ndarray:
    if loss == "l2":
        return 0.5 * (w * r**2).sum(-1)
    a = np.abs(r)
    return (w * np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))).sum(-1)


def _levenberg_marquardt(model: Model, theta: np.ndarray, ylog: np.ndarray, w: np.ndarray, *,
                         loss: str, delta: float, bounds: np.ndarray, n_iter: int = 200
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Minimise the loss of ``ylog - model(theta)`` for a batch of problems ``(B, p)`` at once.

    Huber enters by iteratively reweighted least squares (psi(r)/r scales the weights). A problem
    leaves the active set once its loss stops improving (relative gain < 1e-9, 6 times running),
    so stragglers do not make the whole batch pay. Returns parameters and losses (inf: never
    finite).
    """
    theta = theta.copy()
    eye = np.eye(theta.shape[1])
    with np.errstate(all="ignore"):
        m, J = model(theta)
        r = ylog - m
        f = _objective(r, w, loss, delta)
        f = np.where(np.isfinite(f), f, np.inf)
        lam = np.full(theta.shape[0], 1e-3)
        stall = np.zeros(theta.shape[0], dtype=int)
        act = np.flatnonzero(np.isfinite(f))
        for _ in range(n_iter):
            if act.size == 0:
                break
            ra, Ja, wa, fa = r[act], J[act], w[act], f[act]
            if loss == "huber":
                wa = wa * np.minimum(1.0, delta / np.maximum(np.abs(ra), 1e-300))
            JW = Ja * wa[..., None]
            H = np.matmul(JW.transpose(0, 2, 1), Ja)
            g = np.matmul(JW.transpose(0, 2, 1), ra[..., None])[..., 0]
            diag = np.einsum("bpp->bp", H)
            damp = lam[act, None] * (diag + 1e-9 * diag.max(-1, keepdims=True) + 1e-12)
            A = H + damp[..., None] * eye
            bad = ~np.isfinite(A).all((-1, -2)) | ~np.isfinite(g).all(-1)
            A[bad], g[bad] = eye, 0.0
            cand = np.clip(theta[act] + np.linalg.solve(A, g[..., None])[..., 0], *bounds)
            m_c, J_c = model(cand)
            r_c = ylog - m_c
            f_c = _objective(r_c, w[act], loss, delta)
            ok = np.isfinite(f_c) & (f_c < fa)
            gain = np.where(ok, fa - f_c, 0.0)
            stall[act] = np.where(gain > 1e-9 * fa + 1e-30, 0, stall[act] + 1)
            acc = act[ok]
            theta[acc], r[acc], J[acc], f[acc] = cand[ok], r_c[ok], J_c[ok], f_c[ok]
            lam[act] = np.clip(np.where(ok, lam[act] / 3.0, lam[act] * 4.0), 1e-12, 1e12)
            act = act[stall[act] < 6]
    return theta, f


def _sum_of_powers(lxs: list[np.ndarray], irreducible: bool) -> Model:
    """``log(E + sum_j A_j x_j^-alpha_j)`` and its Jacobian; theta = (log A_j, alpha_j)..., log E."""

    def model(theta):
        terms = [np.exp(theta[:, 2 * j:2 * j + 1] - theta[:, 2 * j + 1:2 * j + 2] * lx)
                 for j, lx in enumerate(lxs)]
        e = np.exp(theta[:, -1:]) if irreducible else 0.0
        s = sum(terms) + e
        cols = [c for t, lx in zip(terms, lxs) for c in (t / s, -lx * t / s)]
        if irreducible:
            cols.append(np.broadcast_to(e / s, s.shape))
        return np.log(s), np.stack(cols, -1)

    return model


def _runs_test(resid: np.ndarray, order: np.ndarray) -> tuple[float, float]:
    """Wald-Wolfowitz runs test on residual signs in ``order``; one-sided p for too few runs."""
    s = np.sign(resid[order])
    s = s[s != 0]
    n1, n2 = int((s > 0).sum()), int((s < 0).sum())
    n = n1 + n2
    var = 2.0 * n1 * n2 * (2.0 * n1 * n2 - n) / (n**2 * (n - 1.0)) if n > 2 else 0.0
    if var <= 0:
        return float("nan"), float("nan")
    z = (1 + int((s[1:] != s[:-1]).sum()) - 2.0 * n1 * n2 / n - 1.0) / math.sqrt(var)
    return z, 0.5 * math.erfc(-z / math.sqrt(2.0))


def _validate(where: str, loss: str, n_starts: int, n_boot: int, level: float, **arrays: np.ndarray):
    if loss not in ("l2", "huber"):
        raise ValueError(f"{where}: loss must be 'l2' or 'huber', got {loss!r}")
    if int(n_starts) != n_starts or n_starts < 1:
        raise ValueError(f"{where}: n_starts must be a positive integer, got {n_starts!r}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"{where}: n_boot must be a non-negative integer, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"{where}: level must lie in (0, 1), got {level!r}")
    shape = None
    for name, a in arrays.items():
        if a.ndim != 1 or (shape is not None and a.shape != shape):
            raise ValueError(f"{where}: {name} has shape {a.shape}, expected 1-d like the others")
        shape = a.shape
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{where}: {name} must be finite and > 0 (log-space fit), got "
                             f"{name}[{i}]={float(a[i])!r}; drop diverged members before fitting")


def _fit(xs: list[np.ndarray], y: np.ndarray, *, irreducible: bool, exps: np.ndarray, loss: str,
         delta: float, n_starts: int, n_boot: int, seed: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``E + sum_j A_j x_j^-alpha_j`` in log space, data fit and bootstrap rows in one batch.

    Starts: for every E on a grid of fractions of min(y) and every exponent combination in
    ``exps``, the amplitudes solve weighted linear least squares; the ``n_starts`` best grid points
    of each row go to Levenberg-Marquardt. Returns physical parameters ``(1 + n_boot, 2k + 1)`` as
    (A_j, alpha_j)..., E, the losses, and the log residuals of row 0 (the data themselves).
    """
    k, n = len(xs), y.size
    x0s = [np.exp(np.log(x).mean()) for x in xs]
    y0 = np.exp(np.log(y).mean())
    lxs, ylog = [np.log(x / x0) for x, x0 in zip(xs, x0s)], np.log(y / y0)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=int(n_boot))
    w = np.concatenate([np.ones((1, n)), counts])  # row 0: the data; then pairs-bootstrap weights
    ymin = float(np.exp(ylog.min()))
    grid = []
    for frac in _E_FRACTIONS if irreducible else (0.0,):
        target = np.exp(ylog) - frac * ymin
        for alphas in itertools.product(exps, repeat=k):
            Z = np.stack([np.exp(-a * lx) for a, lx in zip(alphas, lxs)], -1)   # (n, k)
            G = np.einsum("bn,ni,nj->bij", w, Z, Z) + 1e-12 * np.eye(k)
            amp = np.linalg.solve(G, np.einsum("bn,ni,n->bi", w, Z, target)[..., None])[..., 0]
            cols = [c for j in range(k) for c in (np.log(np.maximum(amp[:, j], 1e-3 * ymin)),
                                                  np.full(amp.shape[0], alphas[j]))]
            if irreducible:
                cols.append(np.full(amp.shape[0], np.log(frac * ymin) if frac > 0 else -30.0))
            grid.append(np.stack(cols, -1))
    grid = np.stack(grid)                                                      # (G, B, p)
    G, B, p = grid.shape
    bounds = np.array([[-_LOG_BOUND, -_EXP_BOUND] * k + [-_LOG_BOUND] * irreducible,
                       [_LOG_BOUND, _EXP_BOUND] * k + [_LOG_BOUND] * irreducible])
    model = _sum_of_powers(lxs, irreducible)
    with np.errstate(all="ignore"):
        f_grid = np.stack([_objective(ylog - model(grid[g])[0], w, loss, delta) for g in range(G)])
    s = min(n_starts, G)
    pick = np.argsort(np.where(np.isfinite(f_grid), f_grid, np.inf), axis=0, kind="stable")[:s]
    starts = np.take_along_axis(grid, pick[..., None], axis=0).reshape(s * B, p)
    theta, f = _levenberg_marquardt(model, starts, ylog, np.tile(w, (s, 1)), loss=loss,
                                    delta=delta, bounds=bounds)
    best = np.argmin(f.reshape(s, B), axis=0)
    theta, f = theta.reshape(s, B, p)[best, np.arange(B)], f.reshape(s, B)[best, np.arange(B)]
    phys = []
    with np.errstate(all="ignore"):
        for j in range(k):
            phys += [y0 * np.exp(theta[:, 2 * j]) * x0s[j] ** theta[:, 2 * j + 1], theta[:, 2 * j + 1]]
        phys.append(y0 * np.exp(theta[:, -1]) if irreducible else np.zeros(B))
    return np.stack(phys, -1), f, ylog - model(theta[:1])[0][0]


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class _LawFit:
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    level: float
    n_points: int
    loss: str
    rms_log_resid: float
    runs_z: float
    runs_p: float
    chi2_red: float | None
    n_boot_ok: int
    boot: dict[str, np.ndarray] = dataclasses.field(repr=False)

    def _term(self, name: str) -> str:
        lo, hi = self.intervals[name]
        return f"{self.params[name]:.3g} [{lo:.3g}, {hi:.3g}]"

    def _fit_line(self) -> str:
        chi2 = f", chi2_red {self.chi2_red:.3g}" if self.chi2_red is not None else ""
        return (f"n={self.n_points}, {self.loss}, rms log resid {self.rms_log_resid:.3g}, "
                f"runs p={self.runs_p:.2g}{chi2}, {int(100 * self.level)}% CI from "
                f"{self.n_boot_ok} resamples")


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class PowerLawFit(_LawFit):
    """``y = E + A x^-alpha`` fitted in log space.

    Attributes:
        params: ``{"A", "alpha", "E"}`` point estimates (``E`` is 0 when not irreducible).
        intervals: percentile bootstrap interval of each parameter at ``level``.
        rms_log_resid: RMS of ``log y - log fit``.
        runs_z, runs_p: runs test on residual signs ordered by ``x`` (small p: lack of fit).
        chi2_red: reduced chi^2 of the log residuals when ``sigma`` was given, else None.
        n_boot_ok: bootstrap resamples whose fit reached a finite loss.
        boot: bootstrap draws of each parameter.
    """

    irreducible: bool = True

    def predict(self, x: Any) -> np.ndarray:
        return self.params["E"] + self.params["A"] * np.asarray(x, dtype=float) ** -self.params["alpha"]

    def __str__(self) -> str:
        e = f"{self._term('E')} + " if self.irreducible else ""
        return f"y = {e}{self._term('A')} * x^-({self._term('alpha')});  {self._fit_line()}"


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ScalingLawFit(_LawFit):
    """``L = E + A N^-alpha + B D^-beta`` fitted in log space.

    Attributes are those of :class:`PowerLawFit` with params ``{"A", "alpha", "B", "beta", "E"}``;
    the runs test orders residuals by fitted ``L``.
    """

    form: str = "chinchilla"

    def predict(self, N: Any, D: Any) -> np.ndarray:
        p = self.params
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]

    def __str__(self) -> str:
        return (f"L = {self._term('E')} + {self._term('A')} * N^-({self._term('alpha')}) + "
                f"{self._term('B')} * D^-({self._term('beta')});  {self._fit_line()}")


def _summarise(cls, *, phys: np.ndarray, f: np.ndarray, names: tuple[str, ...], resid: np.ndarray,
               order: np.ndarray, sigma: Any, n_free: int, level: float, loss: str, **extra):
    ok = np.isfinite(f[1:]) & np.isfinite(phys[1:]).all(-1)
    boot = {k: phys[1:][ok, i] for i, k in enumerate(names)}
    q = [(1.0 - level) / 2, (1.0 + level) / 2]
    intervals = {k: tuple(map(float, np.quantile(v, q))) if v.size else (np.nan, np.nan)
                 for k, v in boot.items()}
    chi2 = None
    if sigma is not None:
        sigma = np.broadcast_to(np.asarray(sigma, dtype=float), resid.shape)
        chi2 = float(((resid / sigma) ** 2).sum() / max(resid.size - n_free, 1))
    z, p = _runs_test(resid, order)
    return cls(params={k: float(v) for k, v in zip(names, phys[0])}, intervals=intervals,
               level=level, n_points=resid.size, loss=loss, runs_z=z, runs_p=p, chi2_red=chi2,
               rms_log_resid=float(np.sqrt(np.mean(resid**2))), n_boot_ok=int(ok.sum()),
               boot=boot, **extra)


def fit_power_law(x: Any, y: Any, *, irreducible: bool = True, loss: Literal["l2", "huber"] = "l2",
                  huber_delta: float = 1e-3, n_starts: int = 8, n_boot: int = 500,
                  level: float = 0.95, seed: int = 0, sigma: Any = None) -> PowerLawFit:
    """Fit ``y = E + A x^-alpha`` (``E = 0`` unless ``irreducible``) in log space.

    Args:
        x: positive abscissae (repeats allowed, e.g. one point per member).
        y: positive values, same shape as ``x``.
        irreducible: include the irreducible term ``E > 0``.
        loss: ``"l2"`` or ``"huber"`` on log residuals (Hoffmann et al. use Huber, delta 1e-3).
        huber_delta: Huber transition point, in log units.
        n_starts: optimiser starts per problem, the best points of a coarse (alpha, E) grid.
        n_boot: pairs-bootstrap resamples for the intervals (0: no intervals).
        level: confidence level of the intervals.
        seed: bootstrap seed.
        sigma: optional standard error of ``log y`` per point, for a reduced chi^2.

    Returns:
        A :class:`PowerLawFit`.

    Example:
        >>> x = np.geomspace(1.0, 1e4, 10)
        >>> fit = fit_power_law(x, 2.0 * x**-0.7, irreducible=False, n_boot=20)
        >>> round(fit.params["alpha"], 4), round(float(fit.predict(1.0)), 4)
        (0.7, 2.0)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    _validate("fit_power_law", loss, n_starts, n_boot, level, x=x, y=y)
    n_free = 3 if irreducible else 2
    if np.unique(x).size < n_free + 1:
        raise ValueError(f"fit_power_law: need at least {n_free + 1} distinct x for "
                         f"{n_free} parameters, got {np.unique(x).size}")
    phys, f, resid = _fit([x], y, irreducible=irreducible, exps=np.geomspace(0.02, 4.0, 24),
                          loss=loss, delta=huber_delta, n_starts=n_starts, n_boot=n_boot, seed=seed)
    return _summarise(PowerLawFit, phys=phys, f=f, names=("A", "alpha", "E"), resid=resid,
                      order=np.argsort(x, kind="stable"), sigma=sigma, n_free=n_free, level=level,
                      loss=loss, irreducible=irreducible)


def fit_scaling_law(N: Any, D: Any, L: Any, *, form: str = "chinchilla",
                    loss: Literal["l2", "huber"] = "l2", huber_delta: float = 1e-3,
                    n_starts: int = 8, n_boot: int = 500, level: float = 0.95, seed: int = 0,
                    sigma: Any = None) -> ScalingLawFit:
    """Fit ``L = E + A N^-alpha + B D^-beta`` (``form="chinchilla"``) in log space.

    Same treatment as :func:`fit_power_law`, the grid of starts running over (alpha, beta, E).

    Args:
        N: model sizes (parameters), positive.
        D: data sizes (tokens or samples), positive.
        L: final losses, positive.
        form: only ``"chinchilla"`` for now.
        loss, huber_delta, n_starts, n_boot, level, seed, sigma: as in :func:`fit_power_law`.

    Returns:
        A :class:`ScalingLawFit`.

    Example:
        >>> N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e3, 1e6, 5), np.geomspace(1e4, 1e8, 5)))
        >>> fit = fit_scaling_law(N, D, 1.7 + 400 * N**-0.34 + 410 * D**-0.28, n_boot=20)
        >>> round(fit.params["alpha"], 2), round(fit.params["beta"], 2)
        (0.34, 0.28)
    """
    if form != "chinchilla":
        raise ValueError(f"fit_scaling_law: form must be 'chinchilla', got {form!r}")
    N, D, L = (np.asarray(a, dtype=float) for a in (N, D, L))
    _validate("fit_scaling_law", loss, n_starts, n_boot, level, N=N, D=D, L=L)
    if N.size < 6:
        raise ValueError(f"fit_scaling_law: need at least 6 points for 5 parameters, got {N.size}")
    phys, f, resid = _fit([N, D], L, irreducible=True, exps=np.geomspace(0.05, 2.0, 8), loss=loss,
                          delta=huber_delta, n_starts=n_starts, n_boot=n_boot, seed=seed)
    return _summarise(ScalingLawFit, phys=phys, f=f, names=("A", "alpha", "B", "beta", "E"),
                      resid=resid, order=np.argsort(np.log(L) - resid, kind="stable"),
                      sigma=sigma, n_free=5, level=level, loss=loss, form=form)
