"""In-context linear regression: the two Bayes-optimal estimators and their error by context length.

Statement:
    Sequences ``y_i = w . x_i + sigma eps_i`` with ``x_i ~ N(0, I_D)``, ``eps_i ~ N(0, 1)``.

    - Ridge: under the prior ``w ~ N(0, I_D)`` the posterior of ``w`` after ``n`` pairs is
      Gaussian with mean ``(X^T X + sigma^2 I)^{-1} X^T y``, ridge regression with
      ``lambda = sigma^2``, and covariance ``sigma^2 (X^T X + sigma^2 I)^{-1}``. ``derive_ridge``
      obtains both from the log posterior with ``sympy.solve`` and ``diff`` (one direction of the
      isotropic problem, ``S_xx = sum x^2``, ``S_xy = sum x y``; the isotropic prior makes every
      eigendirection of ``X^T X`` the same problem). Its error at a fresh query is the noise plus
      the posterior variance there: ``E[(y_q - yhat)^2] = sigma^2 (1 + E tr (X^T X + sigma^2 I)^{-1})``.
    - dMMSE: under the prior "uniform over the pool ``w_1..w_M``" the posterior is a softmax over
      the pool, ``p_m ∝ exp(-sum_i (y_i - w_m . x_i)^2 / (2 sigma^2))`` (``derive_pool_log_odds``:
      the log odds of two pool tasks from the Gaussian likelihood), and the prediction is
      ``x_q . sum_m p_m w_m``. Its error on a task ``w`` is ``sigma^2 + ||w - sum p_m w_m||^2``.

    The expectations over ``X`` (ridge) and over pools, tasks and data (dMMSE) have no closed form
    at finite ``D, n``; ``ridge_error`` and ``dmmse_error`` compute them numerically with the
    inner expectation (over the query and its noise) exact and the rest averaged over many draws,
    returning the mean and its standard error.

Regime and assumptions:
    Gaussian ``x``, ``w`` and noise, known ``sigma``, the query independent of the context.
    dMMSE on *unseen* tasks is the claim's point of comparison (Raventós et al.): below a task
    diversity ``M*`` a trained transformer behaves like dMMSE (it predicts with the pool it saw, so
    its error on fresh tasks is high); above it, like ridge. ``M*`` is measured, not derived.

Reference:
    A. Raventós, M. Paul, F. Chen, S. Ganguli (2023), "Pretraining task diversity and the
    emergence of non-Bayesian in-context learning for regression", arXiv 2306.15063;
    S. Garg, D. Tsipras, P. Liang, G. Valiant (2022), "What can transformers learn in-context?",
    arXiv 2208.01066.

Example:
    >>> out = ridge_posterior()(s_xx=3.0, s_xy=1.5, sigma=1.0)
    >>> float(out["w_post"]), float(out["var_post"])
    (0.375, 0.25)
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from dyntheory import TheoryResult

__all__ = ["CITATION", "derive_pool_log_odds", "derive_ridge", "dmmse_error", "dmmse_predict",
           "ridge_error", "ridge_posterior", "ridge_predict"]

CITATION = ("Raventós, Paul, Chen, Ganguli (2023), Pretraining task diversity and the emergence of "
            "non-Bayesian in-context learning for regression, arXiv:2306.15063; Garg, Tsipras, "
            "Liang, Valiant (2022), arXiv:2208.01066")

w, w_a, w_b = sp.symbols("w w_a w_b", real=True)
s_xx = sp.Symbol("S_xx", nonnegative=True)
s_xy, s_yy = sp.symbols("S_xy S_yy", real=True)
sigma = sp.Symbol("sigma", positive=True)


def _log_likelihood(weight):
    """``log p(y | X, w)`` up to a constant, through the sufficient statistics of one direction."""
    return -(s_yy - 2 * weight * s_xy + weight ** 2 * s_xx) / (2 * sigma ** 2)


@functools.cache
def derive_ridge() -> dict[str, sp.Expr]:
    """Posterior mean and variance of ``w`` under ``N(0, 1)``: the stationary point and the inverse
    curvature of the log posterior (exact for a Gaussian).

    Example:
        >>> derive_ridge()["w_post"]
        S_xy/(S_xx + sigma**2)
    """
    log_post = -w ** 2 / 2 + _log_likelihood(w)
    (mean,) = sp.solve(sp.diff(log_post, w), w)
    var = sp.simplify(-1 / sp.diff(log_post, w, 2))
    return {"w_post": sp.simplify(mean), "var_post": var}


@functools.cache
def derive_pool_log_odds() -> sp.Expr:
    """``log p(w_a | data) - log p(w_b | data)`` under a uniform prior on the pool: the softmax's
    logit difference (only ``S_xy`` and ``S_xx`` enter).

    Example:
        >>> sp.factor(derive_pool_log_odds())
        -(w_a - w_b)*(S_xx*w_a + S_xx*w_b - 2*S_xy)/(2*sigma**2)
    """
    return sp.simplify(_log_likelihood(w_a) - _log_likelihood(w_b))


@functools.cache
def ridge_posterior() -> TheoryResult:
    """The ridge posterior in one direction; inputs ``s_xx, s_xy, sigma``."""
    return TheoryResult(
        name="icl_ridge_posterior", outputs=derive_ridge(),
        symbols={"s_xx": (s_xx, "sum of x^2"), "s_xy": (s_xy, "sum of x y"), "sigma": (sigma, "noise")},
        citation=CITATION, assumptions="Gaussian prior N(0, I), Gaussian noise of known sigma",
        domain={"s_xx": (0.0, 50.0), "s_xy": (-20.0, 20.0), "sigma": (0.05, 3.0)})


def ridge_predict(x, y, x_query, sigma2: float):
    """Ridge (posterior-mean) predictions ``x_query . w_post`` for a batch of contexts.

    ``x`` ``(n, k, D)``, ``y`` ``(n, k)``, ``x_query`` ``(n, D)``; numpy, float64.
    """
    x, y, xq = (np.asarray(a, float) for a in (x, y, x_query))
    a = np.einsum("nki,nkj->nij", x, x) + sigma2 * np.eye(x.shape[-1])
    w_post = np.linalg.solve(a, np.einsum("nki,nk->ni", x, y)[..., None])[..., 0]
    return np.einsum("ni,ni->n", xq, w_post)


def _pool_mean(x, y, pool, sigma2):
    resid = y[:, None, :] - np.einsum("nki,mi->nmk", x, pool)           # (n, M, k)
    logits = -np.sum(resid ** 2, axis=-1) / (2 * sigma2)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p @ pool                                                      # (n, D)


def dmmse_predict(x, y, x_query, pool, sigma2: float):
    """dMMSE predictions ``x_query . sum_m p_m w_m`` (softmax posterior over the pool ``(M, D)``)."""
    x, y, xq, pool = (np.asarray(a, float) for a in (x, y, x_query, pool))
    return np.einsum("ni,ni->n", xq, _pool_mean(x, y, pool, sigma2))


def ridge_error(n: int, d: int, sigma: float, *, samples: int = 20000, seed: int = 0
                ) -> tuple[float, float]:
    """``E[(y_q - yhat)^2]`` of ridge after ``n`` context pairs: ``(mean, standard error)``.

    ``sigma^2 (1 + tr (X^T X + sigma^2 I)^{-1})`` averaged over ``X``; exact ``sigma^2 + d`` at
    ``n = 0``.

    Example:
        >>> ridge_error(0, 3, 0.5)
        (3.25, 0.0)
    """
    s2 = sigma ** 2
    if n == 0:
        return s2 + d, 0.0
    x = np.random.default_rng(seed).standard_normal((samples, n, d))
    lam = np.linalg.eigvalsh(np.einsum("ski,skj->sij", x, x))
    err = s2 * (1 + np.sum(1 / (lam + s2), axis=-1))
    return float(err.mean()), float(err.std(ddof=1) / np.sqrt(samples))


def dmmse_error(n: int, d: int, sigma: float, n_tasks: int, *, source: str = "fresh",
                pools: int = 64, per_pool: int = 256, seed: int = 0) -> tuple[float, float]:
    """``E[(y_q - yhat)^2]`` of dMMSE with a pool of ``n_tasks`` after ``n`` pairs, on ``fresh``
    tasks ``w ~ N(0, I)`` or on ``pool`` tasks: ``(mean, standard error over pools)``.

    The query is integrated exactly (``sigma^2 + ||w - wbar||^2``); pools, tasks and contexts are
    drawn. Example: ``dmmse_error(0, 2, 0.5, 1)`` is about ``sigma^2 + 2 d`` on fresh tasks.
    """
    if source not in ("fresh", "pool"):
        raise ValueError(f"dmmse_error source must be 'fresh' or 'pool', got {source!r}")
    rng = np.random.default_rng(seed)
    per = []
    for _ in range(pools):
        pool = rng.standard_normal((n_tasks, d))
        w_true = (rng.standard_normal((per_pool, d)) if source == "fresh"
                  else pool[rng.integers(0, n_tasks, per_pool)])
        x = rng.standard_normal((per_pool, n, d))
        y = np.einsum("ski,si->sk", x, w_true) + sigma * rng.standard_normal((per_pool, n))
        wbar = _pool_mean(x, y, pool, sigma ** 2)
        per.append(np.mean(sigma ** 2 + np.sum((w_true - wbar) ** 2, axis=-1)))
    per = np.asarray(per)
    return float(per.mean()), float(per.std(ddof=1) / np.sqrt(pools))
