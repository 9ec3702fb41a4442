"""dyntheory.testing: configurations drawn inside validity regions, and claims held against simulations."""

import dataclasses
import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
import xarray as xr
from hypothesis import Phase, given, settings

import dyntheory as dt
import dyntheory.testing._claims as testing_mod
from dyntheory.testing import check_claim, configs, property_test
from theory import grokking_weight_norm, linear_regression_gd, power_law_features, quanta_scaling
from theory import saxe_deep_linear

REAL = [grokking_weight_norm.grokking_time, saxe_deep_linear.time_to_learn, quanta_scaling.loss_vs_data,
        power_law_features.time_exponent, linear_regression_gd.thresholds]

# A region with every kind of constraint: bounds that depend on earlier draws (x y < 2, z > -x,
# k <= 5 x), one only a filter can honour (z^2 < x), an integer symbol, a log-uniform box (y).
X, Y = sp.symbols("x y", positive=True)
Z = sp.Symbol("z", real=True)
K = sp.Symbol("k", integer=True, positive=True)
SYNTH = dt.TheoryResult(
    name="synthetic", outputs={"f": X * Y + Z + K},
    symbols={"x": (X, ""), "y": (Y, ""), "k": (K, ""), "z": (Z, "")},
    validity=(X * Y < 2, X + Z > 0, Z**2 < X, K <= 5 * X),
    domain={"x": (0.1, 4.0), "y": (0.01, 10.0), "k": (0.0, 20.0), "z": (-3.0, 3.0)})


def _assert_inside(res, cfg, box=None):
    """Every relation and assumption, checked exactly by sympy (not by the code under test)."""
    box = {**res.domain, **(box or {})}
    subs = {res.symbols[k][0]: sp.Integer(v) if isinstance(v, int) else sp.Float(v, 30) for k, v in cfg.items()}
    for rel in res.validity:
        if rel.free_symbols <= set(subs):
            assert bool(rel.subs(subs)), (str(rel), cfg)
    for k, v in cfg.items():
        sym = res.symbols[k][0]
        assert np.isfinite(v), (k, v)
        assert not sym.is_positive or v > 0, (k, v)
        assert not sym.is_nonnegative or v >= 0, (k, v)
        assert not sym.is_integer or isinstance(v, int), (k, v)
        lo, hi = box[k]
        assert (lo <= v <= hi) if sym.is_integer else (lo < v < hi), (k, v, box[k])


def test_docstring_examples_run():
    assert doctest.testmod(testing_mod, raise_on_error=False).failed == 0


@pytest.mark.parametrize("make", REAL, ids=lambda f: f.__name__)
def test_configs_stay_inside_real_regions(make):
    res = make()

    @given(configs(res))
    def check(cfg):
        assert set(cfg) == set(res.inputs)
        _assert_inside(res, cfg)

    check()


@settings(max_examples=40)
@given(configs(SYNTH))
def test_configs_honour_compound_and_integer_constraints(cfg):
    _assert_inside(SYNTH, cfg)
    assert isinstance(cfg["k"], int) and 1 <= cfg["k"] <= 5 * cfg["x"]


def test_overrides_are_honoured():
    seen = []

    @given(configs(SYNTH, fixed={"y": 0.25}, bounds={"x": (3.0, 6.0), "z": (-10.0, 10.0)}, omit=("k",)))
    def check(cfg):
        seen.append(cfg)
        assert set(cfg) == {"x", "y", "z"} and cfg["y"] == 0.25
        _assert_inside(SYNTH, cfg, box={"x": (3.0, 6.0), "z": (-10.0, 10.0)})

    check()
    # bounds replace the domain box (x up to 4); the relations still clip x < 2 / y and z^2 < x
    assert max(c["x"] for c in seen) > 4.0
    with pytest.raises(ValueError, match=r"x\*y < 2"):
        configs(SYNTH, fixed={"y": 1.0}, bounds={"x": (3.0, 6.0)})


@pytest.mark.parametrize("kwargs, match", [
    (dict(bounds={"x": (-2.0, -1.0)}), "empty for 'x'"),
    (dict(bounds={"k": (0.2, 0.8)}), "empty for 'k'"),
    (dict(fixed={"x": 3.0, "y": 1.0}), r"x\*y < 2"),
    (dict(bounds={"w": (0.0, 1.0)}), "unknown inputs \\['w'\\]"),
    (dict(fixed={"k": 2.5}), "'k'=2.5 but the symbol is an integer"),
])
def test_empty_or_bad_regions_name_the_culprit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        configs(SYNTH, **kwargs)


def test_unbounded_input_needs_bounds():
    res = dataclasses.replace(SYNTH, domain={k: v for k, v in SYNTH.domain.items() if k != "y"})
    with pytest.raises(ValueError, match="'y' is unbounded above"):
        configs(res)
    given(configs(res, bounds={"y": (0.1, 1.0)}))(lambda cfg: _assert_inside(res, cfg, box={"y": (0.1, 1.0)}))()


# --- claims against a real dt.train population: GD on whitened 1-d linear regression -------------

LAM, STEPS = 0.5, 16


def _mode_error(params, batch):
    x, y = batch
    return (jax.tree.leaves(params)[0] - jnp.linalg.solve(x.T @ x, x.T @ y))[0, 0]


def _simulate_gd(cfg):
    """e(t) = w(t) - w_ls per seed (a different teacher each), with e(0) as a per-seed input."""
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=1, noise=0.1, spectrum=(cfg["lam"],), n_train=8,
                                                  whiten=True, n_test=4),
                     model=dt.models.Linear(), init_scale=0.0, steps=STEPS, batch_size=None,
                     axes={"lr": [cfg["eta"]]}, seeds=4, record=list(range(STEPS + 1)), checkpoints=[0],
                     metrics={"err": _mode_error}, dtype="float64")
    err = dt.train(sweep, key=0, progress=False).metrics.err.isel(lr=0, drop=True)
    return xr.Dataset({"error": err, "e0": err.sel(step=0, drop=True)})


GD_CLAIM = dict(output="error", tol=1e-6, fixed={"lam": LAM}, bounds={"eta": (0.05, 1.0)},
                omit=("t", "e0"), names={"t": "step"})


def test_true_claim_passes_against_dt_train():
    res = linear_regression_gd.mode_error()
    property_test(res, _simulate_gd, **GD_CLAIM, settings=settings(max_examples=4))()
    v = check_claim(res, {"eta": 0.3, "lam": LAM}, _simulate_gd({"eta": 0.3, "lam": LAM}),
                    output="error", tol=1e-6, names={"t": "step"})
    assert v.passed and v.n_members == 4 * (STEPS + 1) and v.interval[1] - v.interval[0] < 1e-8


def test_wrong_exponent_fails_against_dt_train():
    res = linear_regression_gd.mode_error()
    wrong = dataclasses.replace(res, name="wrong_exponent", outputs={
        "error": res.outputs["error"].subs(linear_regression_gd.T, sp.Rational(11, 10) * linear_regression_gd.T)})
    test = property_test(wrong, _simulate_gd, **GD_CLAIM,
                         settings=settings(max_examples=2, phases=[Phase.generate]))
    with pytest.raises(AssertionError, match=r"claim 'wrong_exponent.error' fails at config \{eta=.*lam=0.5"):
        test()


# --- the verdicts themselves, on cheap simulations -------------------------------------------------

E, L, X0 = sp.symbols("eta lambda x_0", positive=True)
T = sp.Symbol("t", nonnegative=True)
DECAY = dt.TheoryResult(name="decay", outputs={"x": X0 * (1 - E * L) ** T},
                        symbols={"eta": (E, ""), "lam": (L, ""), "x0": (X0, ""), "t": (T, "")},
                        validity=(E * L < 1, T >= 1),
                        domain={"eta": (1e-3, 1.0), "lam": (0.1, 10.0), "x0": (0.1, 10.0)})


def _simulate_decay(cfg, first=1):
    x = cfg["x0"] * (1 - cfg["eta"] * cfg["lam"]) ** first
    xs = [x]
    for _ in range(9):
        xs.append(xs[-1] - cfg["eta"] * cfg["lam"] * xs[-1])
    return xr.DataArray(xs, dims="t", coords={"t": np.arange(first, first + 10)})


def test_deterministic_claim_fails_with_config_in_message():
    wrong = dataclasses.replace(DECAY, outputs={"x": X0 * (1 - E * L) ** (T + 1)})
    property_test(DECAY, _simulate_decay, output="x", tol=1e-9, relative=False, omit=("t",))()
    with pytest.raises(AssertionError, match=r"fails at config \{eta=.*\n  FAIL decay.x: max abs.err"):
        property_test(wrong, _simulate_decay, output="x", tol=1e-9, relative=False, omit=("t",),
                      settings=settings(max_examples=3, phases=[Phase.generate]))()


def test_stochastic_claim_needs_a_tight_interval():
    # The member mean is right on average, but with 4 noisy seeds the interval is too wide to pass.
    cfg = {"eta": 0.1, "lam": 1.0, "x0": 1.0}
    exact = _simulate_decay(cfg)
    noisy = lambda n: exact + 0.01 * xr.DataArray(np.random.default_rng(0).standard_normal(n), dims="seed")
    with pytest.raises(AssertionError, match=r"FAIL decay.x: rel.err .* \(n=40 members\)"):
        check_claim(DECAY, cfg, noisy(4), output="x", tol=0.01, n_boot=500)
    v = check_claim(DECAY, cfg, noisy(4000), output="x", tol=0.01, n_boot=500)
    assert v.passed and v.n_members == 40000


def test_claim_refuses_coordinates_outside_validity_and_zero_predictions():
    cfg = {"eta": 0.1, "lam": 1.0, "x0": 1.0}
    with pytest.raises(ValueError, match="leave the validity region.*t=0"):
        check_claim(DECAY, cfg, _simulate_decay(cfg, first=0), output="x", tol=1e-9)
    zero = {"eta": 0.1, "lam": 1.0, "e0": 0.0}
    with pytest.raises(ValueError, match="prediction is 0"):
        check_claim(linear_regression_gd.mode_error(), zero, _simulate_decay(cfg), output="error", tol=1e-9)


def test_property_test_respects_settings_and_is_collectable():
    calls = []
    test = property_test(DECAY, lambda c: calls.append(c) or _simulate_decay(c), output="x", tol=1e-9,
                         relative=False, omit=("t",), settings=settings(max_examples=3))
    assert test.__name__ == "test_decay_x"
    test()
    assert 1 <= len(calls) <= 3


def test_linear_relations_narrow_the_draw_instead_of_rejecting():
    # b < 1e-3 / a holds for ~1e-6 of the (a, b) box: rejection alone would exhaust hypothesis.
    a, b = sp.symbols("a b", positive=True)
    res = dt.TheoryResult(name="narrow", outputs={"ab": a * b}, symbols={"a": (a, ""), "b": (b, "")},
                          validity=(a * b < sp.Rational(1, 1000),), domain={"a": (1.0, 2.0), "b": (0.0, 1000.0)})

    @settings(max_examples=20)
    @given(configs(res, log_ratio=float("inf")))
    def check(cfg):
        _assert_inside(res, cfg)

    check()
    with pytest.raises(ValueError, match="region looks empty.*False"):
        configs(dataclasses.replace(res, validity=(sp.false,)))


def test_per_member_predictions_of_either_sign_do_not_cancel():
    # e0 = +-1 alternately: a 10% exponent error is +x% on half the members and -x% on the rest
    # if measured relative to |theory|; the claim must still fail, however many members.
    res = linear_regression_gd.mode_error()
    wrong = dataclasses.replace(res, name="wrong", outputs={
        "error": res.outputs["error"].subs(linear_regression_gd.T, sp.Rational(11, 10) * linear_regression_gd.T)})
    cfg = {"eta": 0.3, "lam": 1.0}
    e0 = xr.DataArray(np.where(np.arange(1000) % 2, 1.0, -1.0), dims="seed")
    t = xr.DataArray(np.arange(1.0, 6.0), dims="t", coords={"t": np.arange(1.0, 6.0)})
    observed = xr.Dataset({"error": e0 * 0.7**t, "e0": e0})
    assert check_claim(res, cfg, observed, output="error", tol=1e-9, n_boot=200).passed
    with pytest.raises(AssertionError, match="FAIL wrong.error: rel.err"):
        check_claim(wrong, cfg, observed, output="error", tol=0.05, n_boot=200)
