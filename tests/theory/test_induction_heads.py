"""theory/induction_heads.py: chance levels of the head scores, and the in-context loss levels."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from dyntheory.models._attention_scores import copying_score, prefix_matching, previous_token
from theory.induction_heads import P, derive_uniform_scores, loss_levels, uniform_scores


def uniform_causal(T):
    return jnp.tril(jnp.ones((T, T))) / jnp.arange(1, T + 1)[:, None]


@pytest.mark.parametrize("prefix", [2, 5, 16])
def test_uniform_attention_scores_equal_the_derived_chance_levels(prefix):
    pats = uniform_causal(2 * prefix - 1)[None, None, None]
    got = uniform_scores()(P=float(prefix))
    np.testing.assert_allclose(prefix_matching(pats, prefix)[0, 0], got["prefix_matching"], rtol=1e-5)
    np.testing.assert_allclose(previous_token(pats)[0, 0], got["previous_token"], rtol=1e-5)


def test_derivation_and_lambdified():
    out = derive_uniform_scores()
    assert sp.nsimplify(out["prefix_matching"].subs(P, 3)) == sp.Rational(1, 2) * (sp.Rational(1, 4) + sp.Rational(1, 5))
    assert uniform_scores().check_lambdified(10) < 1e-10
    # chance level falls like log 2 / P
    assert float(out["prefix_matching"].subs(P, 1000)) * 1000 == pytest.approx(math.log(2), rel=1e-2)


def test_loss_levels_against_sampling():
    lv = loss_levels(16, 8)
    rng = np.random.default_rng(0)
    draws = [math.log(len(set(rng.integers(0, 16, 8)))) for _ in range(20000)]
    assert abs(np.mean(draws) - lv["seen"]) < 4 * np.std(draws) / math.sqrt(20000)
    assert lv["unigram"] > math.log(8) > lv["seen"] > lv["induction"] == 0.0
    assert loss_levels(1000, 4)["seen"] == pytest.approx(math.log(4), rel=1e-2)


def test_copying_score_of_random_ov_is_centred():
    rng = np.random.default_rng(0)
    s = [copying_score(rng.standard_normal((8, 8)) @ rng.standard_normal((8, 8))) for _ in range(400)]
    assert abs(np.mean(s)) < 4 * np.std(s) / 20
