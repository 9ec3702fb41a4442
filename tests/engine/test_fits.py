"""Scaling-law fits on planted laws: recovery, interval coverage, lack of fit, compute-optimal."""

import doctest

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import dyntheory._analysis.compute_optimal as compute_optimal_mod
import dyntheory._analysis.fits as fits_mod
from dyntheory._analysis.compute_optimal import compute_optimal
from dyntheory._analysis.fits import PowerLawFit, ScalingLawFit, fit_power_law, fit_scaling_law

CHINCHILLA = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def _grid(n=6):
    N, D = np.meshgrid(np.geomspace(1e5, 1e9, n), np.geomspace(1e7, 1e11, n))
    return N.ravel(), D.ravel()


def _chinchilla(N, D, p=CHINCHILLA):
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]


@pytest.mark.parametrize("module", [fits_mod, compute_optimal_mod], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    assert doctest.testmod(module, raise_on_error=False).failed == 0


def test_power_law_interval_coverage_and_width_are_calibrated():
    # 40 planted datasets, log-normal noise: the 95% interval on alpha should cover the truth
    # in >= ~85% of them (binomial SE at 95% is ~3.4%), and the interval's half-width / 1.96
    # should match the actual scatter of the estimates within a factor of 2 either way.
    rng = np.random.default_rng(1)
    x = np.geomspace(1e2, 1e6, 15)
    truth = {"E": 0.3, "A": 20.0, "alpha": 0.5}
    estimates, sds, covered = [], [], 0
    for i in range(40):
        y = (truth["E"] + truth["A"] * x ** -truth["alpha"]) * np.exp(0.03 * rng.standard_normal(x.size))
        fit = fit_power_law(x, y, n_boot=200, n_starts=4, seed=i)
        lo, hi = fit.intervals["alpha"]
        covered += lo <= truth["alpha"] <= hi
        estimates.append(fit.params["alpha"])
        sds.append((hi - lo) / (2 * 1.96))
    assert covered >= 34, covered
    ratio = np.median(sds) / np.std(estimates)
    assert 0.5 < ratio < 2.0, ratio


@given(alpha=st.floats(0.1, 2.0), log_a=st.floats(-1.0, 2.0), e_frac=st.floats(0.0, 0.9))
def test_power_law_exact_data_is_fitted_exactly(alpha, log_a, e_frac):
    # Noise-free data: whatever the planted law, the multi-start fit must reach zero residual,
    # and recover alpha whenever the power-law term spans a decade of y.
    x = np.geomspace(10, 1e5, 15)
    A = 10.0**log_a
    term = A * x**-alpha
    E = e_frac * term.min() * 10
    y = E + term
    fit = fit_power_law(x, y, n_boot=0)
    assert fit.rms_log_resid < 1e-7
    if term.max() - term.min() > 10 * max(E, term.min()):
        assert fit.params["alpha"] == pytest.approx(alpha, rel=1e-4)


def test_power_law_without_irreducible_term():
    x = np.geomspace(1, 1e4, 10)
    fit = fit_power_law(x, 2.0 * x**-0.7, irreducible=False, n_boot=50)
    assert fit.params == pytest.approx({"E": 0.0, "A": 2.0, "alpha": 0.7})
    assert fit.intervals["alpha"] == pytest.approx((0.7, 0.7))
    np.testing.assert_allclose(fit.predict([1.0, 10.0]), [2.0, 2.0 * 10**-0.7])
    assert "E" not in str(fit).split("*")[0] and isinstance(fit, PowerLawFit)


def test_huber_resists_outliers_that_pull_l2():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e5, 20)
    y = (0.2 + 5 * x**-0.6) * np.exp(0.01 * rng.standard_normal(20))
    y[[5, 13]] *= 1.5
    l2 = fit_power_law(x, y, n_boot=0)
    huber = fit_power_law(x, y, loss="huber", n_boot=0)
    assert abs(huber.params["alpha"] - 0.6) < 0.02
    assert abs(l2.params["alpha"] - 0.6) > 2 * abs(huber.params["alpha"] - 0.6)


def test_lack_of_fit_flags_a_missing_irreducible_term():
    rng = np.random.default_rng(2)
    x = np.geomspace(10, 1e5, 30)
    y = (0.2 + 5 * x**-0.6) * np.exp(0.01 * rng.standard_normal(30))
    wrong = fit_power_law(x, y, irreducible=False, n_boot=0)
    right = fit_power_law(x, y, n_boot=0)
    assert wrong.runs_p < 0.001 and wrong.rms_log_resid > 10 * right.rms_log_resid
    assert right.runs_p > 0.01


def test_reduced_chi2_is_one_when_sigma_is_the_noise():
    rng = np.random.default_rng(4)
    x = np.repeat(np.geomspace(10, 1e5, 20), 10)
    y = (0.2 + 5 * x**-0.6) * np.exp(0.03 * rng.standard_normal(x.size))
    fit = fit_power_law(x, y, n_boot=0, sigma=0.03)
    # chi2/dof for 197 dof has SE sqrt(2/197) = 0.10
    assert 0.75 < fit.chi2_red < 1.25
    assert fit_power_law(x, y, n_boot=0).chi2_red is None


@pytest.mark.parametrize("kwargs, match", [
    ({"y": [1.0, 2.0, -1.0, 0.5, 0.2]}, r"y\[2\]=-1.0"),
    ({"x": [1.0, 2.0, 3.0, np.nan, 5.0]}, r"x\[3\]=nan"),
    ({"loss": "l1"}, "loss"),
    ({"x": [1.0, 1.0, 2.0, 2.0, 3.0]}, "distinct x"),
    ({"level": 0.0}, "level"),
])
def test_fit_power_law_validates(kwargs, match):
    args = {"x": np.arange(1.0, 6.0), "y": np.arange(5.0, 0.0, -1.0), "n_boot": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_power_law(args.pop("x"), args.pop("y"), **args)


def test_scaling_law_recovers_planted_chinchilla():
    N, D = _grid()
    L = _chinchilla(N, D) * np.exp(0.01 * np.random.default_rng(0).standard_normal(N.size))
    fit = fit_scaling_law(N, D, L, n_boot=200, n_starts=4)
    assert isinstance(fit, ScalingLawFit)
    for key in ("E", "alpha", "beta"):
        lo, hi = fit.intervals[key]
        assert lo <= CHINCHILLA[key] <= hi, (key, fit.intervals[key])
    assert fit.intervals["alpha"][1] - fit.intervals["alpha"][0] < 0.05
    assert fit.predict(1e7, 1e9) == pytest.approx(_chinchilla(1e7, 1e9), rel=0.02)
    assert str(fit).startswith("L = ") and "D^-(" in str(fit)


def test_scaling_law_exact_data_and_validation():
    N, D = _grid(5)
    fit = fit_scaling_law(N, D, _chinchilla(N, D), n_boot=0)
    assert fit.params == pytest.approx(CHINCHILLA, rel=1e-5)
    with pytest.raises(ValueError, match="form"):
        fit_scaling_law(N, D, _chinchilla(N, D), form="kaplan")
    with pytest.raises(ValueError, match="D has shape"):
        fit_scaling_law(N, D[:-1], _chinchilla(N, D))


def test_compute_optimal_exponents_are_derived_symbolically():
    opt = compute_optimal(CHINCHILLA)
    a, b = opt.symbols["alpha"], opt.symbols["beta"]
    assert sp.simplify(opt.exponents["N"] - b / (a + b)) == 0
    assert sp.simplify(opt.exponents["D"] - a / (a + b)) == 0
    assert opt.exponent_values()["N"] == pytest.approx(0.28 / 0.62)


def test_compute_optimal_matches_brute_force_minimum_on_the_budget():
    opt = compute_optimal(CHINCHILLA, flops_per_param_token=6)
    for C in (1e18, 1e21, 1e24):
        n_grid = np.geomspace(1e3, 1e15, 200_001)
        losses = _chinchilla(n_grid, C / (6 * n_grid))
        n_best = n_grid[np.argmin(losses)]
        at = opt.at(C)
        assert at["N"] == pytest.approx(n_best, rel=2e-3)
        assert at["N"] * at["D"] * 6 == pytest.approx(C)
        assert at["loss"] == pytest.approx(losses.min(), rel=1e-9)


def test_compute_optimal_from_fit_carries_exponent_intervals():
    N, D = _grid()
    L = _chinchilla(N, D) * np.exp(0.01 * np.random.default_rng(1).standard_normal(N.size))
    opt = compute_optimal(fit_scaling_law(N, D, L, n_boot=200, n_starts=4))
    lo, hi = opt.exponent_intervals["N"]
    assert lo <= 0.28 / 0.62 <= hi and hi - lo < 0.1
    with pytest.raises(ValueError, match="alpha must be finite and > 0"):
        compute_optimal({**CHINCHILLA, "alpha": -0.1})
    with pytest.raises(ValueError, match="lacks parameter 'B'"):
        compute_optimal({"E": 1.0, "A": 1.0, "alpha": 0.3, "beta": 0.3})
