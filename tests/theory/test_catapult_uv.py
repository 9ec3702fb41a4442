"""The uv-model catapult map against direct GD on (u, v); phase boundaries and phase outcomes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from dyntheory.metrics._curvature import ntk_top_eigenvalue
from theory import catapult_uv as cu

seeds = st.integers(0, 2**31 - 1)


def uv_apply(params, x):
    u, v = params
    return x * (v @ u) / jnp.sqrt(u.shape[0])


@functools.partial(jax.jit, static_argnames="steps")
def gd_uv(u, v, eta, steps):
    """Plain GD on (u, v) for L = f^2 / 2 with x = 1, y = 0; returns f_t, lambda_t, t = 0..steps."""
    n = u.shape[0]
    loss = lambda p: 0.5 * uv_apply(p, 1.0) ** 2   # noqa: E731

    def body(p, _):
        g = jax.grad(loss)(p)
        p = (p[0] - eta * g[0], p[1] - eta * g[1])
        return p, p

    _, (us, vs) = jax.lax.scan(body, (u, v), None, length=steps)
    us, vs = jnp.concatenate([u[None], us]), jnp.concatenate([v[None], vs])
    return (jnp.sum(us * vs, -1) / jnp.sqrt(n),
            (jnp.sum(us ** 2, -1) + jnp.sum(vs ** 2, -1)) / n)


@jax.jit
def uv_step(f, lam, eta, n):
    return cu.uv_map()(f=f, lam=lam, eta=eta, n=n)


def draw_uv(seed, n):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return jax.random.normal(k1, (n,), jnp.float64), jax.random.normal(k2, (n,), jnp.float64)


def test_derived_map_is_the_papers_map():
    f, lam, eta, n = cu.f, cu.lam, cu.eta, cu.n
    out = cu.uv_map().outputs
    # The paper's eq. (S1)-(S2) form, typed here only to compare with the derivation.
    assert sp.simplify(out["f_next"] - f * (1 - eta * lam + eta ** 2 * f ** 2 / n)) == 0
    assert sp.simplify(out["lam_next"] - (lam + eta * f ** 2 * (eta * lam - 4) / n)) == 0


@given(seeds, st.floats(0.2, 3.95))
def test_map_equals_gd_on_u_v_each_step(seed, eta_lam0):
    # f = u.v / sqrt(n) is computed from O(1) vectors, so its rounding scale is |u||v|/sqrt(n),
    # at most lambda sqrt(n) / 2, not |f| (f passes near 0 in both phases); lambda is its own scale.
    with jax.enable_x64(True):
        n = 128
        u, v = draw_uv(seed, n)
        lam0 = float((u @ u + v @ v) / n)
        eta = eta_lam0 / lam0
        fs, lams = gd_uv(u, v, eta, steps=60)
        out = uv_step(fs[:-1], lams[:-1], eta, float(n))
        err_f = jnp.abs(out["f_next"] - fs[1:]) / (lams[1:] * np.sqrt(n))
        err_lam = jnp.abs(out["lam_next"] - lams[1:]) / lams[1:]
        assert float(jnp.max(err_f)) < 1e-12
        assert float(jnp.max(err_lam)) < 1e-12


@given(seeds, st.floats(0.2, 1.95))
def test_iterated_map_equals_gd_trajectory_in_lazy_phase(seed, eta_lam0):
    # Lazy phase: the map contracts, so rounding does not amplify along the trajectory.
    with jax.enable_x64(True):
        n = 128
        u, v = draw_uv(seed, n)
        lam0, f0 = (u @ u + v @ v) / n, u @ v / np.sqrt(n)
        fs, lams = gd_uv(u, v, eta_lam0 / lam0, steps=100)
        mf, ml = cu.iterate_uv_map(f0, lam0, eta_lam0 / lam0, float(n), steps=100)
        assert float(jnp.max(jnp.abs(mf - fs) / (lams * np.sqrt(n)))) < 1e-12
        assert float(jnp.max(jnp.abs(ml - lams) / lams)) < 1e-12


def test_uv_ntk_is_lambda():
    with jax.enable_x64(True):
        u, v = draw_uv(0, 32)
        got = float(jax.jit(ntk_top_eigenvalue, static_argnums=0)(uv_apply, (u, v), jnp.ones(1)))
        assert abs(got - float((u @ u + v @ v) / 32)) <= 1e-13 * got


def test_phase_boundaries_at_2_and_4():
    assert cu._boundaries() == (2, 4)
    out = cu.phase_boundaries().outputs
    assert sp.simplify(out["eta_crit"] * cu.lam0 - 2) == 0
    assert sp.simplify(out["eta_max"] * cu.lam0 - 4) == 0
    phases = cu.classify_phase(jnp.array([1.99, 2.0, 3.99, 4.0, 4.01]), 1.0)
    assert phases.tolist() == [cu.LAZY, cu.CATAPULT, cu.CATAPULT, cu.CATAPULT, cu.DIVERGENT]


def test_lambdified_equals_evalf():
    for res in (cu.uv_map(), cu.phase_boundaries(), cu.lazy_lambda_shift()):
        assert res.check_lambdified(n=10) < 1e-10, res.name


@given(st.floats(2.05, 3.95), st.floats(0.1, 1.0))
def test_catapult_ends_below_two_over_eta(eta_lam0, f0):
    with jax.enable_x64(True):
        assert cu.classify_phase(eta_lam0, 1.0) == cu.CATAPULT
        peaks = []
        for n in (1e4, 1e6):
            fs, lams = cu.iterate_uv_map(f0, 1.0, eta_lam0, n, steps=3000)
            assert bool(jnp.all(jnp.diff(lams) <= 0))         # kernel only falls while eta lam < 4
            assert float(eta_lam0 * lams[-1]) < 2.0           # ends flatter than the stability edge
            assert abs(float(fs[-1])) < 1e-8                  # and converged there
            peaks.append(float(jnp.max(jnp.abs(fs))))
        # The catapult: |f| first grows to O(sqrt(n)) (loss O(n)) before lambda has fallen
        # enough; the fitted exponent of the peak in n (measured 0.45-0.55) must be 1/2.
        slope = np.log(peaks[1] / peaks[0]) / np.log(1e6 / 1e4)
        assert 0.4 < slope < 0.6


@given(st.floats(4.05, 8.0), st.floats(0.1, 2.0))
def test_divergent_kernel_grows_without_bound(eta_lam0, f0):
    with jax.enable_x64(True):
        fs, lams = cu.iterate_uv_map(f0, 1.0, eta_lam0, 1e4, steps=300)
        assert cu.classify_phase(eta_lam0, 1.0) == cu.DIVERGENT
        finite = jnp.isfinite(lams)
        assert not bool(jnp.all(finite))                      # overflowed: lambda -> inf
        grown = np.asarray(lams[finite])
        assert np.all(np.diff(grown) >= 0)


@given(st.floats(0.1, 1.8), st.floats(0.2, 1.5), st.floats(0.5, 2.0))
def test_lazy_kernel_shift_is_leading_order_in_one_over_n(eta_lam0, f0, lam0):
    # Relative error of the O(1/n) prediction must itself fall at least like 1/n (exponent >= ~0.9
    # between n = 1e4 and 1e5; it is 2 where the 1/n^2 term's coefficient vanishes, eta lam0 = 1).
    # The 1e-9 floor is float64 rounding of lambda_inf - lambda_0 ~ 1e-5 lambda_0.
    with jax.enable_x64(True):
        pred = cu.lazy_lambda_shift()
        errs = []
        for n in (1e4, 1e5):
            _, lams = cu.iterate_uv_map(f0, lam0, eta_lam0 / lam0, n, steps=2000)
            dlam = float(pred(f0=f0, lam0=lam0, eta=eta_lam0 / lam0, n=n)["dlam"])
            errs.append(abs(float(lams[-1] - lam0) / dlam - 1))
        assert cu.classify_phase(eta_lam0 / lam0, lam0) == cu.LAZY
        assert errs[0] < 0.05
        assert errs[1] <= errs[0] / 8 + 1e-9
