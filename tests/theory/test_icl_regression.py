"""theory/icl_regression.py: the ridge and dMMSE posteriors, and their errors by context length."""

import numpy as np
import pytest
import sympy as sp

from theory.icl_regression import (derive_pool_log_odds, derive_ridge, dmmse_error, dmmse_predict, ridge_error,
                                   ridge_posterior, ridge_predict, s_xx, s_xy, sigma, w_a, w_b)


def test_ridge_is_the_posterior_mean_with_lambda_sigma_squared():
    out = derive_ridge()
    assert sp.simplify(out["w_post"] - s_xy / (s_xx + sigma ** 2)) == 0
    assert sp.simplify(out["var_post"] - sigma ** 2 / (s_xx + sigma ** 2)) == 0
    assert ridge_posterior().check_lambdified(20) < 1e-10


def test_pool_log_odds_is_the_gaussian_likelihood_ratio():
    lo = derive_pool_log_odds()
    assert sp.simplify(lo.subs(w_b, w_a)) == 0  # equal tasks: even odds
    # the softmax weight depends on the data through S_xy, S_xx only, linearly in S_xy
    assert sp.diff(lo, s_xy, 2) == 0 and sp.simplify(sp.diff(lo, s_xy) - (w_a - w_b) / sigma ** 2) == 0


def test_predictors_against_direct_numpy_formulas():
    rng = np.random.default_rng(0)
    x, wt = rng.standard_normal((5, 6, 3)), rng.standard_normal((5, 3))
    y = np.einsum("nki,ni->nk", x, wt) + 0.3 * rng.standard_normal((5, 6))
    xq = rng.standard_normal((5, 3))
    direct = [xq[i] @ np.linalg.inv(x[i].T @ x[i] + 0.09 * np.eye(3)) @ x[i].T @ y[i] for i in range(5)]
    np.testing.assert_allclose(ridge_predict(x, y, xq, 0.09), direct, rtol=1e-10)
    pool = rng.standard_normal((4, 3))
    ll = np.array([[-np.sum((y[i] - x[i] @ pool[m]) ** 2) / 0.18 for m in range(4)] for i in range(5)])
    p = np.exp(ll - ll.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(dmmse_predict(x, y, xq, pool, 0.09), np.einsum("ni,ni->n", xq, p @ pool), rtol=1e-10)
    # one-task pool: dMMSE predicts with that task whatever the data
    np.testing.assert_allclose(dmmse_predict(x, y, xq, pool[:1], 0.09), xq @ pool[0], rtol=1e-12)


def test_ridge_error_is_exact_in_one_dimension_and_falls_with_context():
    # D = 1: E[s2 (1 + 1/(chi2_n + s2))], by quadrature of the chi-square density
    from scipy import integrate, stats
    for n in (1, 3, 8):
        exact = 0.25 * (1 + integrate.quad(lambda u: stats.chi2.pdf(u, n) / (u + 0.25), 0, np.inf)[0])
        mean, se = ridge_error(n, 1, 0.5, samples=40000)
        assert abs(mean - exact) < 4 * se, (n, mean, exact, se)
    errs = [ridge_error(n, 4, 0.5)[0] for n in (0, 2, 4, 8, 16)]
    assert errs[0] == 4.25 and np.all(np.diff(errs) < 0) and errs[-1] > 0.25


@pytest.mark.parametrize("n", [0, 4, 12])
def test_dmmse_on_fresh_tasks_is_never_better_than_ridge_and_tracks_it_for_a_huge_pool(n):
    r = ridge_error(n, 2, 0.5)
    small = dmmse_error(n, 2, 0.5, 2, pools=32, per_pool=128)
    big = dmmse_error(n, 2, 0.5, 4096, pools=4, per_pool=128)
    # ridge is Bayes-optimal on fresh tasks; a large pool approaches the Gaussian prior
    assert small[0] > r[0] - 3 * small[1] and big[0] > r[0] - 3 * big[1]
    assert abs(big[0] - r[0]) / r[0] < 0.15
    if n:  # with data, a 2-task pool is far worse on unseen tasks
        assert small[0] > 1.5 * r[0]


def test_dmmse_on_its_pool_beats_ridge():
    for n in (2, 8):
        pool = dmmse_error(n, 3, 0.5, 4, source="pool", pools=16, per_pool=128)
        assert pool[0] + 3 * pool[1] < ridge_error(n, 3, 0.5)[0]
    with pytest.raises(ValueError, match="source"):
        dmmse_error(1, 2, 0.5, 4, source="seen")
