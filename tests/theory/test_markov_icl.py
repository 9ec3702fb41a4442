"""theory/markov_icl.py: Dirichlet predictive, exact first position, strategy losses by position."""

import math

import numpy as np
import pytest
import sympy as sp

from theory.markov_icl import alpha, derive_predictive, expected_losses, first_position, n1, n2, strategy_losses


def test_predictive_is_add_alpha():
    assert sp.simplify(derive_predictive() - (n1 + alpha) / (n1 + n2 + 2 * alpha)) == 0
    # The Beta integral it rests on, checked by quadrature at a few exponents.
    p = sp.Symbol("p")
    for a_, b_ in ((1.5, 2.0), (3.0, 0.5), (0.7, 4.2)):
        quad = float(sp.Integral(p ** (a_ - 1) * (1 - p) ** (b_ - 1), (p, 0, 1)).evalf())
        assert abs(quad - float(sp.gamma(a_) * sp.gamma(b_) / sp.gamma(a_ + b_))) < 1e-8
    assert first_position().check_lambdified(10) < 1e-10


def test_first_position_matches_the_sampled_expectation():
    for k, a in ((2, 1.0), (3, 0.5), (4, 2.0)):
        exact = first_position()(k=k, alpha=a)
        got = expected_losses(k, 2, a, samples=40000, seed=1)
        for name in ("uniform", "unigram", "bigram"):
            mean, se = got[name][0][0], got[name][1][0]
            assert abs(mean - float(exact[name])) < 4 * se + 1e-6, (k, a, name, mean, float(exact[name]))


def test_bigram_is_best_and_strategies_order_on_average():
    for k in (2, 3, 5):
        out = strategy_losses(k, 32, samples=4000)
        (u, _), (g, sg), (b, sb) = out["uniform"], out["unigram"], out["bigram"]
        assert u == pytest.approx(math.log(k), rel=1e-14)
        assert g - b > 5 * max(sg, sb), (k, out)
        # unigram beats uniform at 32 positions for 2 and 3 states; at 5 its add-alpha smoothing
        # costs as much as the counts gain (measured: 1.6089 +- 0.0014 against log 5 = 1.6094)
        assert (u - g > 5 * sg) == (k < 5), (k, out)
    per_pos = expected_losses(3, 32, samples=4000)
    assert np.all(np.diff(per_pos["bigram"][0][4:]) < 3 * per_pos["bigram"][1][5:])  # learns with t


def test_bigram_is_bayes_optimal_against_other_smoothings():
    # under the true prior, add-alpha with alpha = 1 beats add-0.1 and add-5 at late positions
    k, t = 3, 24
    base = expected_losses(k, t, 1.0, samples=4000, seed=2)["bigram"][0][-1]
    rng = np.random.default_rng(2)
    for a in (0.1, 5.0):
        # the same draws scored with a mismatched smoothing
        P = rng.dirichlet(np.ones(k), size=(4000, k))
        x = rng.integers(0, k, 4000)
        big = np.zeros((4000, k, k))
        rows = np.arange(4000)
        for _ in range(t - 1):
            nxt = (rng.random(4000)[:, None] > np.cumsum(P[rows, x], -1)).sum(-1).clip(0, k - 1)
            big[rows, x, nxt] += 1
            x = nxt
        c = big[rows, x]
        loss = -np.sum(P[rows, x] * np.log((c + a) / (c.sum(-1, keepdims=True) + k * a)), -1).mean()
        assert loss > base, (a, loss, base)


def test_realized_losses_average_to_the_exact_levels():
    # Scored on sampled chains' realized next states, the strategies' losses average to the exact
    # expectations (which integrate the next state out); and they are the add-alpha predictors.
    import jax

    import dyntheory as dt
    from theory.markov_icl import realized_losses

    task = dt.tasks.InContextMarkov(states=3, length=16)
    batch = task.sample(None, jax.random.key(3), 20000, {})
    got = realized_losses(batch.x, batch.y, 3)
    exact = strategy_losses(3, 16, samples=20000)
    for name in ("unigram", "bigram"):
        mean, se = exact[name]
        assert abs(float(got[name]) - mean) < 0.01 * mean, (name, float(got[name]), mean, se)
    assert float(got["uniform"]) == pytest.approx(math.log(3))
    # by hand: x = 0 1 0 1, y = 1 0 1 0, k = 2, alpha = 1
    x, y = np.array([[0, 1, 0, 1]]), np.array([[1, 0, 1, 0]])
    q_big = [1 / 2, 1 / 2, 2 / 3, 2 / 3]  # position 2: 0 -> 1 seen once; position 3: 1 -> 0 seen once
    q_uni = [1 / 3, 2 / 4, 2 / 5, 3 / 6]  # add-one counts of x_0..x_t for the state that came
    out = realized_losses(x, y, 2)
    assert float(out["bigram"]) == pytest.approx(-np.mean(np.log(q_big)), rel=1e-6)
    assert float(out["unigram"]) == pytest.approx(-np.mean(np.log(q_uni)), rel=1e-6)
