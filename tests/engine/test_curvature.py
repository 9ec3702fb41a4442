"""Curvature probes against dense linear algebra: HVP, power iteration, NTK, metric objects."""

import doctest
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

import dyntheory.metrics._curvature as curvature_mod
from dyntheory._config.metric import MetricContext

from dyntheory.metrics._curvature import (
    NTKTopEig,
    Sharpness,
    hvp,
    ntk_top_eigenvalue,
    psd_top_eigenvalue,
    random_unit_like,
    top_hessian_eigenvalue,
)

seeds = st.integers(0, 2**31 - 1)

# Loss and model functions live at module level and calls go through jit with them static, so
# hypothesis examples reuse one compilation instead of retracing per example.
top_eig = jax.jit(top_hessian_eigenvalue, static_argnames=("loss_fn", "iters"))
hvp_jit = jax.jit(hvp, static_argnames="loss_fn")
ntk_jit = jax.jit(ntk_top_eigenvalue, static_argnames="apply_fn")
psd_top_jit = jax.jit(psd_top_eigenvalue)


def mlp_init(rng, d_in=3, width=4, d_out=2):
    return {"w1": jnp.asarray(rng.normal(size=(d_in, width))),
            "b1": jnp.asarray(rng.normal(size=(width,))),
            "w2": jnp.asarray(rng.normal(size=(width, d_out)) / np.sqrt(width))}


def mlp_apply(params, x):
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"]


def mlp_loss(params, batch):
    x, y = batch
    return 0.5 * jnp.mean(jnp.sum((mlp_apply(params, x) - y) ** 2, -1))


def mlp_problem(seed, members=None):
    rng = np.random.default_rng(seed)
    batch = (jnp.asarray(rng.normal(size=(5, 3))), jnp.asarray(rng.normal(size=(5, 2))))
    if members is None:
        return mlp_init(rng), batch, rng
    params = [mlp_init(rng) for _ in range(members)]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *params), batch, rng


@functools.partial(jax.jit, static_argnames="loss_fn")
def _dense_hessian(loss_fn, params, batch):
    flat, unravel = ravel_pytree(params)
    return jax.hessian(lambda p: loss_fn(unravel(p), batch))(flat)


def member(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def dense_hessian(loss_fn, params, batch):
    return np.asarray(_dense_hessian(loss_fn, params, batch))


def quad_loss(p, mat):
    flat = jnp.concatenate([p["x"], p["y"]])
    return 0.5 * flat @ mat @ flat + jnp.sum(flat)   # the linear term leaves H unchanged


def linear_apply(p, x):
    return x @ p["w"]


def linear_loss(p, batch):
    return 0.5 * jnp.mean((linear_apply(p, batch[0]) - batch[1]) ** 2)


@functools.partial(jax.jit, static_argnames="k")
def example_grad(params, xi, k):
    """Gradient of output unit k on one example, flattened: one row of the NTK Jacobian."""
    return ravel_pytree(jax.grad(lambda p: mlp_apply(p, xi)[0, k])(params))[0]


@functools.partial(jax.jit, static_argnames="metric")
def sharpness_call(metric, state, params, batch):
    ctx = MetricContext(params=params, apply=linear_apply, loss=linear_loss, batch=batch, hp=None,
                        task_state=None, step=0)
    return metric(state, ctx)


def like(params, vec):
    return ravel_pytree(params)[1](jnp.asarray(vec))


@given(seeds)
def test_hvp_equals_dense_hessian_times_v(seed):
    with jax.enable_x64(True):
        params, batch, rng = mlp_problem(seed)
        hess = dense_hessian(mlp_loss, params, batch)
        vec = rng.normal(size=hess.shape[0])
        got = ravel_pytree(hvp_jit(mlp_loss, params, batch, like(params, vec)))[0]
        np.testing.assert_allclose(np.asarray(got), hess @ vec, rtol=1e-12,
                                   atol=1e-12 * np.abs(hess).max() * np.abs(vec).max())


@given(seeds, st.floats(0.5, 10.0), st.sampled_from([1.0, -1.0]), st.floats(0.05, 0.5))
def test_top_eigenvalue_equals_eigvalsh_with_gap(seed, top, sign, ratio):
    # Dominant eigenvalue sign*top, every other one at most ratio*top in magnitude: after 60
    # products the Rayleigh-quotient error is below ratio^118 ~ 1e-35 of the spread.
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        d = 6
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        eig = np.concatenate([[sign * top], rng.uniform(-ratio, ratio, d - 1) * top])
        a = jnp.asarray((q * eig) @ q.T)
        params = {"x": jnp.asarray(rng.normal(size=2)), "y": jnp.asarray(rng.normal(size=4))}
        dense = np.linalg.eigvalsh(dense_hessian(quad_loss, params, a))
        dominant = dense[np.argmax(np.abs(dense))]
        lam, v = top_eig(quad_loss, params, a, like(params, rng.normal(size=d)), iters=60)
        assert abs(float(lam) - dominant) <= 1e-10 * abs(dominant)
        assert np.sign(float(lam)) == sign          # largest |lambda|, not largest lambda
        align = abs(float(ravel_pytree(v)[0] @ q[:, 0]))
        assert align >= 1 - 1e-10


@given(seeds, st.sampled_from([1, 12]))
def test_power_iteration_matches_eigendecomposition_exactly(seed, iters):
    # Whatever the spectral gap, the estimate after k products is the Rayleigh quotient of
    # H^(k-1) v0: sum c_i^2 mu_i^(2k-1) / sum c_i^2 mu_i^(2k-2) in the eigenbasis of the dense H.
    with jax.enable_x64(True):
        params, batch, rng = mlp_problem(seed)
        mu, vecs = np.linalg.eigh(dense_hessian(mlp_loss, params, batch))
        v0 = rng.normal(size=mu.shape[0])
        c2 = (vecs.T @ v0) ** 2
        scaled = mu / np.abs(mu).max()
        w = c2 * scaled ** (2 * iters - 2)
        expected = np.abs(mu).max() * np.sum(w * scaled) / np.sum(w)
        lam, _ = top_eig(mlp_loss, params, batch, like(params, v0), iters=iters)
        assert abs(float(lam) - expected) <= 1e-10 * np.abs(mu).max()


def test_vmap_over_members_equals_each_member_alone():
    with jax.enable_x64(True):
        members = 5
        params, batch, rng = mlp_problem(7, members=members)
        keys = jax.random.split(jax.random.key(3), members)
        sharp, ntk = Sharpness(iters=15), NTKTopEig()

        @jax.jit
        def record(p, key):
            ctx = MetricContext(params=p, apply=mlp_apply, loss=mlp_loss, batch=batch, hp=None,
                                task_state=None, step=0)
            s_val, s_state = sharp(sharp.init(p, key), ctx)
            n_val, _ = ntk(ntk.init(p, key), ctx)
            return s_val, s_state, n_val

        s_pop, state_pop, n_pop = jax.jit(jax.vmap(record))(params, keys)
        for i in range(members):
            s_i, state_i, n_i = record(member(params, i), keys[i])
            np.testing.assert_allclose(float(s_pop[i]), float(s_i), rtol=1e-12)
            np.testing.assert_allclose(float(n_pop[i]), float(n_i), rtol=1e-12)
            np.testing.assert_allclose(ravel_pytree(member(state_pop, i))[0],
                                       ravel_pytree(state_i)[0], rtol=1e-10, atol=1e-12)


@given(seeds)
def test_ntk_top_eigenvalue_equals_dense_gram(seed):
    with jax.enable_x64(True):
        params, (x, _), _ = mlp_problem(seed)
        jac = np.stack([np.asarray(example_grad(params, x[i:i + 1], k))
                        for i in range(x.shape[0]) for k in range(2)])
        expected = np.linalg.eigvalsh(jac @ jac.T)[-1]
        got = float(ntk_jit(mlp_apply, params, x))
        assert abs(got - expected) <= 1e-12 * expected


@given(seeds)
def test_linear_regression_sharpness_is_top_eigenvalue_of_covariance(seed):
    # Hessian of mean((Xw - y)^2)/2 is X^T X / n. One dominant input scale keeps the gap wide
    # (lambda_2 / lambda_1 about 1/9), so five warm-started calls of 20 products converge.
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        n, d = 64, 5
        x = jnp.asarray(rng.normal(size=(n, d)) * np.array([3.0, 1.0, 1.0, 0.7, 0.5]))
        y = jnp.asarray(rng.normal(size=n))
        params = {"w": jnp.asarray(rng.normal(size=d))}
        metric = Sharpness(iters=20)
        state = v0 = metric.init(params, jax.random.key(seed))
        for _ in range(5):
            value, state = sharpness_call(metric, state, params, (x, y))
        expected = np.linalg.eigvalsh(np.asarray(x.T @ x) / n)[-1]
        assert abs(float(value) - expected) <= 1e-10 * expected
        # Warm starts accumulate: 5 calls of 20 products are one run of 100.
        once, _ = top_eig(linear_loss, params, (x, y), v0, iters=100)
        assert abs(float(value) - float(once)) <= 1e-13 * expected


def test_random_unit_like_is_unit_and_keyed():
    params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    draw = jax.jit(random_unit_like)
    v0, v1 = draw(params, jax.random.key(0)), draw(params, jax.random.key(1))
    assert jax.tree_util.tree_structure(v0) == jax.tree_util.tree_structure(params)
    assert float(ravel_pytree(v0)[0] @ ravel_pytree(v0)[0]) == pytest.approx(1.0, rel=1e-6)
    assert not np.allclose(ravel_pytree(v0)[0], ravel_pytree(v1)[0])


def test_zero_hessian_keeps_vector_finite():
    lam, v = top_hessian_eigenvalue(lambda p, b: jnp.sum(p), jnp.ones(3), None, jnp.ones(3))
    assert float(lam) == 0.0
    assert bool(jnp.all(jnp.isfinite(v)))


@pytest.mark.parametrize("iters", [0, -3, 2.5])
def test_bad_iters_named_in_error(iters):
    with pytest.raises(ValueError, match=f"iters.*{iters}"):
        Sharpness(iters=iters)
    with pytest.raises(ValueError, match=f"iters.*{iters}"):
        top_hessian_eigenvalue(lambda p, b: jnp.sum(p ** 2), jnp.ones(2), None, jnp.ones(2),
                               iters=iters)


# Spectra that stress repeated squaring: random, a threefold top eigenvalue, a gap of 1e-6, rank
# one, six decades of spread, and the zero matrix.
SPECTRA = ("random", "degenerate", "near", "rank1", "spread", "zero")


def psd_with_spectrum(rng, n, kind):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = {"random": rng.uniform(0, 1, n), "degenerate": np.r_[np.ones(min(3, n)), rng.uniform(0, 0.9, n)][:n],
           "near": np.r_[1.0, 1 - 1e-6, rng.uniform(0, 0.9, n)][:n], "rank1": np.r_[5.0, np.zeros(n)][:n],
           "spread": np.logspace(-6, 0, n), "zero": np.zeros(n)}[kind]
    a = (q * lam) @ q.T
    return (a + a.T) / 2


@given(seeds, st.integers(1, 40), st.sampled_from(SPECTRA))
def test_psd_top_eigenvalue_matches_lapack(seed, n, kind):
    a = psd_with_spectrum(np.random.default_rng(seed), n, kind)
    expected = np.linalg.eigvalsh(a)[-1]
    with jax.enable_x64(True):
        got = float(psd_top_jit(jnp.asarray(a)))
    assert abs(got - expected) <= 1e-12 * max(expected, 1e-300)
    got32 = float(psd_top_jit(jnp.asarray(a, jnp.float32)))
    expected32 = np.linalg.eigvalsh(a.astype(np.float32).astype(np.float64))[-1]
    assert abs(got32 - expected32) <= 1e-5 * max(expected32, 1e-30)


def test_ntk_metric_lowers_without_lapack():
    # Batched LAPACK kernels deadlocked when several CPU devices of one process ran them at once
    # (jaxlib's ParallelBatchMap); the metric runs inside the sharded step, so it must not call one.
    params = mlp_init(np.random.default_rng(0))
    x = jnp.ones((5, 3))
    members = jax.tree_util.tree_map(lambda p: jnp.stack([p, p]), params)
    ntk = jax.vmap(lambda p: ntk_top_eigenvalue(mlp_apply, p, x))
    text = jax.jit(ntk).lower(members).as_text()
    dense = jax.jit(jax.vmap(lambda p: jnp.linalg.eigvalsh(p["w1"].T @ p["w1"])[-1])).lower(members).as_text()
    assert "lapack" in dense          # the probe sees a LAPACK call when there is one
    assert "lapack" not in text


def test_docstring_examples_run():
    assert doctest.testmod(curvature_mod, raise_on_error=False).failed == 0
