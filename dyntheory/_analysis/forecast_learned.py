"""Population-learned forecasts: learn from fit members' outcomes, calibrate on others, apply.

Features come only from each member's window (its metrics up to the cutoff), its sweep
coordinates, and optionally a theory's value for it; outcomes come only from fit and
calibration members (:class:`~dyntheory._analysis.forecast_targets.Window` hides the rest).

- Values: linear quantile regression (Koenker & Bassett 1978, Econometrica 46:33) at every
  forecast level, fitted by iteratively reweighted least squares with a ridge, on the log of a
  positive target; then conformalized per central interval on the calibration members (CQR:
  Romano, Patterson & Candes 2019, arXiv 1905.03222; split conformal: Lei, G'Sell, Rinaldo,
  Tibshirani & Wasserman 2018, arXiv 1604.04173), which makes each central interval's coverage
  at least nominal for members exchangeable with the calibration ones.
- Events: ridge logistic regression of "the event happens by the end of the run" over members
  at risk at the cutoff, recalibrated on the calibration members by a one-feature logistic fit
  of its logit (Platt 1999, "Probabilistic outputs for support vector machines"); the event
  time, conditional on the event, by conformalized quantile regression of its log.

Plain numpy: the problems are a few hundred rows by a few dozen features, solved exactly in
milliseconds, and scikit-learn would be a new dependency for two small solvers.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((400, 1)); y = 2 * x[:, 0] + rng.standard_normal(400)
    >>> b = quantile_regression(np.c_[np.ones(400), x], y, np.array([0.5]))
    >>> bool(abs(b[0, 1] - 2) < 0.2)
    True
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dyntheory._analysis.forecast_targets import Event, Window

__all__ = ["Population", "conformalize", "features", "logistic_regression",
           "quantile_regression", "theory_only"]


def quantile_regression(x: np.ndarray, y: np.ndarray, levels: np.ndarray, *, ridge: float = 1e-3,
                        n_iter: int = 100) -> np.ndarray:
    """Linear quantile regression at each level: coefficients (K, d), column 0 unpenalised.

    Minimises ``sum_i rho_tau(y_i - x_i b) + ridge * n * |b[1:]|^2 / 2`` by IRLS: the check loss
    ``rho_tau(r)`` is replaced by ``w r^2`` with ``w = rho_tau(r) / r^2`` at the current
    residual (floored at 1e-6 of the residual scale), a majorize-minimize step.
    """
    n, d = x.shape
    pen = ridge * n * np.diag(np.r_[0.0, np.ones(d - 1)])
    b = np.linalg.solve(x.T @ x + pen + 1e-9 * np.eye(d), x.T @ y)
    b = np.tile(b, (levels.size, 1))
    eps = 1e-6 * (np.std(y) + 1e-12)
    tau = levels[:, None]
    for _ in range(n_iter):
        r = y[None] - b @ x.T  # (K, n)
        w = np.where(r >= 0, tau, 1 - tau) / np.maximum(np.abs(r), eps)
        a = np.einsum("kn,nd,ne->kde", w, x, x) + 2 * pen
        rhs = np.einsum("kn,nd,n->kd", w, x, y)
        b_new = np.linalg.solve(a, rhs[..., None])[..., 0]
        if np.max(np.abs(b_new - b)) < 1e-8:
            return b_new
        b = b_new
    return b


def logistic_regression(x: np.ndarray, y: np.ndarray, *, ridge: float = 1e-2,
                        n_iter: int = 50) -> np.ndarray:
    """Ridge logistic regression by Newton's method; column 0 unpenalised. Returns (d,)."""
    n, d = x.shape
    pen = ridge * n * np.diag(np.r_[0.0, np.ones(d - 1)])
    b = np.zeros(d)
    for _ in range(n_iter):
        p = 1 / (1 + np.exp(-np.clip(x @ b, -30, 30)))
        grad = x.T @ (p - y) + pen @ b
        hess = (x * (p * (1 - p))[:, None]).T @ x + pen + 1e-9 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        b -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def conformalize(q_cal: np.ndarray, y_cal: np.ndarray, q: np.ndarray, levels: np.ndarray
                 ) -> np.ndarray:
    """Widen each central interval ``(levels[k], levels[K-1-k])`` of ``q`` (N, K) by CQR.

    The conformity score of a calibration member is ``max(lo - y, y - hi)``; the interval is
    widened (or narrowed) on both sides by its ``ceil((n + 1)(1 - alpha)) / n`` empirical
    quantile, ``alpha = 1 - (hi level - lo level)``. The median (if a level) is left alone.
    Quantiles are re-sorted so they stay monotone.

    Raises:
        ValueError: too few calibration members for the widest interval.
    """
    n = len(y_cal)
    out = q.copy()
    k_n = levels.size
    for k in range(k_n // 2):
        lo, hi = k, k_n - 1 - k
        alpha = 1 - (levels[hi] - levels[lo])
        rank = math.ceil((n + 1) * (1 - alpha))
        if rank > n:
            raise ValueError(f"forecast: {n} calibration members cannot calibrate a "
                             f"{1 - alpha:.0%} interval; need at least {math.ceil(1 / alpha) - 1}")
        score = np.maximum(q_cal[:, lo] - y_cal, y_cal - q_cal[:, hi])
        adj = np.sort(score)[rank - 1]
        out[:, lo] -= adj
        out[:, hi] += adj
    return np.sort(out, axis=-1)


def _signal_features(v: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Level near the cutoff and the change over the last half and the quarter before."""
    n_t = len(steps)
    last = np.nanmean(v[:, -min(3, n_t):], -1)
    half = v[:, int(np.searchsorted(steps, steps[-1] / 2, side="right")) - 1]
    quarter = v[:, int(np.searchsorted(steps, steps[-1] / 4, side="right")) - 1]
    return np.stack([last, last - half, half - quarter], -1)


def features(win: Window, signals: tuple[str, ...] | None, hyperparameters: bool,
             theory: bool) -> tuple[np.ndarray, list[str]]:
    """Per-member features (N, d) and their names, from the window only.

    A signal positive throughout every member's window enters as its log; so do positive
    hyperparameters and the theory value.
    """
    cols, names = [], []
    for m in (sorted(win.values) if signals is None else signals):
        if m not in win.values:
            raise ValueError(f"forecast: signal {m!r} is not a metric of the run ({sorted(win.values)})")
        v = np.asarray(win.values[m], dtype=float)
        fin = v[np.isfinite(v)]
        if fin.size and (fin > 0).all():
            v, m = np.log(v), f"log_{m}"
        f = _signal_features(v, win.steps)
        cols.append(f)
        names += [f"{m}@cutoff", f"{m}:last_half", f"{m}:quarter_before"]
    if hyperparameters:
        for k, v in sorted(win.hyperparameters.items()):
            cols.append((np.log(v) if (v > 0).all() else v)[:, None])
            names.append(f"log_{k}" if (v > 0).all() else k)
    if theory:
        if win.theory is None:
            raise ValueError("forecast: this predictor uses a theory value; pass theory=")
        t = np.asarray(win.theory, dtype=float)
        positive = (t[np.isfinite(t)] > 0).all()
        cols.append((np.log(t) if positive else t)[:, None])
        names.append("log_theory" if positive else "theory")
    if not cols:
        raise ValueError("forecast: the predictor has no features")
    return np.concatenate(cols, -1), names


def _design(x: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Standardise with the fit members' mean and spread; non-finite entries to the mean."""
    mu = np.nanmean(x[fit], 0)
    sd = np.nanstd(x[fit], 0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)
    z = np.where(np.isfinite(z), z, 0.0)
    return np.c_[np.ones(len(x)), z]


def _need(mask: np.ndarray, what: str, k: int = 2) -> None:
    if mask.sum() < k:
        raise ValueError(f"forecast: only {int(mask.sum())} {what}; the population predictor needs "
                         f"at least {k}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Population:
    """Learn a forecast from fit members' windows and outcomes; calibrate on calibration members.

    Attributes:
        signals: metrics to read from the window (None: every metric recorded over steps).
        hyperparameters: add the sweep coordinates as features.
        theory: add the run's theory value (``forecast(..., theory=...)``) as a feature.
        ridge: ridge penalty (per member) of both regressions.
        name: the predictor's label in outputs.
    """

    signals: tuple[str, ...] | None = None
    hyperparameters: bool = True
    theory: bool = False
    ridge: float = 1e-2
    name: str = "population"

    def predict(self, win: Window) -> dict[str, np.ndarray]:
        x, _ = features(win, self.signals, self.hyperparameters, self.theory)
        fit, cal = win.role == "fit", win.role == "calibrate"
        z = _design(x, fit)
        levels = win.levels
        if not isinstance(win.target, Event):
            y = win.y
            log = bool((y[fit | cal] > 0).all())
            yt = np.log(y) if log else y
            f, c = fit & np.isfinite(yt), cal & np.isfinite(yt)
            # the ridge keeps fewer members than features solvable
            _need(f, "fit members with a finite outcome", z.shape[1] if self.ridge == 0 else 5)
            _need(c, "calibration members with a finite outcome")
            b = quantile_regression(z[f], yt[f], levels, ridge=self.ridge)
            q = conformalize(z[c] @ b.T, yt[c], z @ b.T, levels)
            return {"quantiles": np.exp(q) if log else q}
        risk = win.at_risk
        f, c = fit & risk, cal & risk
        _need(f, "fit members at risk at the cutoff")
        _need(c, "calibration members at risk at the cutoff")
        happened = win.happened.astype(float)
        if 0 < happened[f].mean() < 1:
            b = logistic_regression(z[f], happened[f], ridge=self.ridge)
            logit = z @ b
        else:  # one class among fit members: a constant forecast, its frequency
            logit = np.full(len(z), 30.0 if happened[f].mean() == 1 else -30.0)
        if 0 < happened[c].mean() < 1:
            # a small ridge: a separable calibration set would send the slope to infinity
            a = logistic_regression(np.c_[np.ones(c.sum()), logit[c]], happened[c], ridge=1e-3)
            logit = a[0] + a[1] * logit
        p = 1 / (1 + np.exp(-np.clip(logit, -30, 30)))
        tq = np.full((len(z), levels.size), np.nan)
        fe, ce = f & win.happened, c & win.happened
        if fe.sum() >= 5 and ce.sum() >= math.ceil(1 / (1 - (levels[-1] - levels[0]))) - 1:
            lt = np.log(np.where(win.happened, win.t_event, np.nan))
            b = quantile_regression(z[fe], lt[fe], levels, ridge=self.ridge)
            tq = np.exp(conformalize(z[ce] @ b.T, lt[ce], z @ b.T, levels))
        return {"p_event": p, "t_quantiles": tq}


def theory_only(*, ridge: float = 1e-2) -> Population:
    """The theory's value as the forecast, recalibrated on the population: its log is the only
    feature (the quantile and logistic fits then map the theory's scale to the outcome's)."""
    return Population(signals=(), hyperparameters=False, theory=True, ridge=ridge, name="theory")
