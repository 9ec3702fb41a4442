"""dt.TheoryResult: the sympy -> JAX bridge, evaluation on labelled coordinates, validity, evalf check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
import xarray as xr

import dyntheory as dt

ETA, LAM, T = sp.symbols("eta lambda t", positive=True)


def gd_mode(**kw):
    return dt.TheoryResult(
        name="gd_mode", outputs={"error": (1 - ETA * LAM) ** (2 * T)},
        symbols={"eta": (ETA, "learning rate"), "lam": (LAM, "eigenvalue"), "t": (T, "step")},
        validity=(ETA * LAM < 2,), citation="textbook",
        domain={"eta": (0.01, 1.0), "lam": (0.1, 1.0), "t": (0.0, 50.0)}, **kw)


def test_call_is_jit_and_vmap_safe():
    res = gd_mode()
    f = jax.jit(jax.vmap(lambda e: res(eta=e, lam=1.0, t=3.0)["error"]))
    got = f(jnp.array([0.1, 0.5]))
    np.testing.assert_allclose(got, [0.9 ** 6, 0.5 ** 6], rtol=1e-6)


def test_evaluate_broadcasts_by_name_in_float64_and_flags_validity():
    res = gd_mode()
    coords = xr.Dataset(coords={"lr": [0.5, 1.5, 2.5], "step": np.arange(0, 400, 50)})
    ds = res.evaluate(coords, names={"eta": "lr", "t": "step"}, lam=1.0)
    assert set(ds["theory_error"].dims) == {"lr", "step"}
    assert ds["theory_error"].dtype == np.float64          # even with x64 off globally
    assert not jax.config.jax_enable_x64
    want = (1 - 0.5) ** (2 * 350.0)                         # 5e-212: zero in float32
    got = float(ds["theory_error"].sel(lr=0.5, step=350))
    assert got == pytest.approx(want, rel=1e-12) and got > 0
    np.testing.assert_array_equal(ds["theory_valid"].sel(step=0).values, [True, True, False])
    assert ds.attrs["citation"] == "textbook"


def test_evaluate_names_a_missing_coordinate():
    with pytest.raises(KeyError, match="'eta'.*'lr'"):
        gd_mode().evaluate(xr.Dataset(coords={"step": [0, 1]}), names={"eta": "lr", "t": "step"}, lam=1.0)


def test_undeclared_symbol_and_unknown_domain_are_refused():
    x = sp.Symbol("x")
    with pytest.raises(ValueError, match="undeclared symbols.*'x'"):
        dt.TheoryResult(name="bad", outputs={"y": ETA * x}, symbols={"eta": (ETA, "lr")})
    with pytest.raises(ValueError, match="unknown input 'mu'"):
        dt.TheoryResult(name="bad", outputs={"y": ETA}, symbols={"eta": (ETA, "lr")}, domain={"mu": (0, 1)})
    with pytest.raises(TypeError, match="missing \\['t'\\]"):
        gd_mode()(eta=0.1, lam=1.0)


def test_draw_points_respect_domain_and_validity():
    res = dt.TheoryResult(name="g", outputs={"y": ETA * LAM}, symbols={"eta": (ETA, ""), "lam": (LAM, "")},
                          validity=(ETA * LAM < 1,), domain={"eta": (0.0, 2.0), "lam": (0.0, 2.0)})
    pts = res.draw_points(200, seed=3)
    assert (pts["eta"] * pts["lam"] < 1).all() and (pts["eta"] <= 2).all()
    np.testing.assert_array_equal(res.draw_points(200, seed=3)["eta"], pts["eta"])


def test_lambdified_matches_evalf_including_special_functions():
    s, x = sp.symbols("s x", positive=True)
    res = dt.TheoryResult(name="special", outputs={"z": sp.zeta(s) * sp.gamma(x) + sp.erf(x)},
                          symbols={"s": (s, ""), "x": (x, "")}, domain={"s": (1.5, 4.0), "x": (0.2, 3.0)})
    assert res.check_lambdified(10) < 1e-10
    assert gd_mode().check_lambdified(10) < 1e-10


def test_check_lambdified_catches_log_of_negative_quantities():
    # exact as a complex expression, NaN in real floats: the check must say so
    res = dt.TheoryResult(name="logneg", outputs={"y": sp.log(ETA - 2) - sp.log(ETA - 3)},
                          symbols={"eta": (ETA, "")}, domain={"eta": (0.1, 1.0)}, simplify=False)
    assert res.check_lambdified(5) == float("inf")
