"""GD stability threshold 2/eta: the rsolve solution, the boundary, and GD on drawn quadratics."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from dyntheory.metrics._curvature import top_hessian_eigenvalue
from theory import edge_of_stability as eos


def test_rsolve_solution_satisfies_recurrence_and_start():
    sol = eos.gd_quadratic_solution()
    residual = eos.gd_recurrence().subs({eos._x(eos.t + 1): sol.subs(eos.t, eos.t + 1),
                                         eos._x(eos.t): sol})
    assert sp.simplify(residual) == 0
    assert sol.subs(eos.t, 0) == eos.x0


def test_threshold_is_two_over_eta_and_a_boundary():
    thr = eos.stability_threshold().outputs["sharpness_max"]
    assert sp.simplify(thr - 2 / eos.eta) == 0
    factor = sp.simplify(eos.gd_quadratic_solution().subs(eos.t, eos.t + 1)
                         / eos.gd_quadratic_solution())
    assert sp.simplify(factor.subs(eos.a, thr)) == -1           # |growth| = 1 exactly on the edge
    eps = sp.Symbol("epsilon", positive=True)
    above = sp.simplify(factor.subs(eos.a, thr * (1 + eps)))      # -1 - 2 eps: grows
    below = sp.simplify(factor.subs(eos.a, thr * (1 - eps)))      # -1 + 2 eps: shrinks for eps < 1
    assert sp.simplify(above + 1 + 2 * eps) == 0
    assert sp.simplify(below + 1 - 2 * eps) == 0


def test_lambdified_equals_evalf():
    assert eos.stability_threshold().check_lambdified(n=20) < 1e-10


top_eig = jax.jit(top_hessian_eigenvalue, static_argnames=("loss_fn", "iters"))


def quad_loss(x, mat):
    return 0.5 * x @ mat @ x


@functools.partial(jax.jit, static_argnames="steps")
def gd_norms(x0, mat, eta, steps):
    def body(x, _):
        x = x - eta * jax.grad(quad_loss)(x, mat)
        return x, jnp.linalg.norm(x)
    return jax.lax.scan(body, x0, None, length=steps)[1]


@given(st.integers(0, 2**31 - 1), st.floats(0.01, 1.0), st.floats(0.05, 0.5),
       st.sampled_from([1.0, -1.0]))
def test_gd_on_quadratic_diverges_iff_sharpness_above_threshold(seed, eta, margin, side):
    # Top curvature (1 + side * margin) * 2/eta, the rest in (0, 0.8 top): GD's norm must grow by at
    # least (1 + 2 margin)^steps along the top direction above the edge, and never grow below.
    # The gap makes 200 power-iteration products exact to ~0.8^398 for the sharpness check.
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        d, steps = 6, 200
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        top = (1 + side * margin) * float(eos.stability_threshold()(eta=eta)["sharpness_max"])
        eig = np.concatenate([[top], rng.uniform(0.01, 0.8, d - 1) * top])
        mat = jnp.asarray((q * eig) @ q.T)
        x0 = jnp.asarray(rng.normal(size=d))
        sharp, _ = top_eig(quad_loss, x0, mat, x0, iters=200)
        assert abs(float(sharp) - top) <= 1e-8 * top            # the engine's sharpness sees it
        norms = np.asarray(gd_norms(x0, mat, eta, steps))
        start = float(jnp.linalg.norm(x0))
        if side > 0:
            along_top = abs(float(q[:, 0] @ np.asarray(x0)))
            assert norms[-1] >= along_top * (1 + 2 * margin) ** steps * (1 - 1e-9)
        else:
            assert np.all(norms <= start * (1 + 1e-12))
