"""Slope fits and slope verdicts on planted power laws."""

import numpy as np
import pytest

from dyntheory._analysis.slopes import fit_slope, slope_verdict


def _power_members(x, p, *, members=32, sd=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return 2.0 * x[:, None] ** p * np.exp(sd * rng.standard_normal((x.size, members)))


def test_fit_slope_recovers_planted_exponent():
    x = np.geomspace(8, 512, 7)
    fit = fit_slope(x, _power_members(x, -0.5), n_boot=1000)
    assert fit.interval[0] <= -0.5 <= fit.interval[1]
    assert fit.interval[1] - fit.interval[0] < 0.05
    exact = fit_slope(x, 3.0 * x**1.25, n_boot=200)  # no members: pairs bootstrap
    assert exact.slope == pytest.approx(1.25) and exact.interval == pytest.approx((1.25, 1.25))
    assert exact.n_members == 1


def test_fit_slope_linear_and_nonfinite_members():
    x = np.arange(1.0, 6.0)
    y = np.stack([2 * x + 1, 2 * x + 1, np.full(5, np.nan)], axis=1)
    y[0, 0] = np.inf
    fit = fit_slope(x, y, log=False, n_boot=200)
    assert fit.slope == pytest.approx(2.0) and fit.intercept == pytest.approx(1.0)
    assert fit.n_excluded == 6 and fit.n_members == 3


def test_fit_slope_validates():
    with pytest.raises(ValueError, match="x > 0"):
        fit_slope([-1.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        fit_slope([1.0, 2.0, 3.0], np.ones((4, 2)))
    with pytest.raises(ValueError, match="mean y > 0"):
        fit_slope([1.0, 2.0, 3.0], [1.0, -2.0, 3.0])


def test_slope_verdict_pass_fail():
    x = np.geomspace(8, 512, 7)
    y = _power_members(x, -0.5)
    assert slope_verdict(x, y, predicted=-0.5, tol=0.05, name="ok", n_boot=500).passed
    v = slope_verdict(x, y, predicted=-0.5 + 3 * 0.05, tol=0.05, name="off", n_boot=500)
    assert not v.passed and v.effect == pytest.approx(-0.15, abs=0.02)
    assert str(v).startswith("FAIL off: slope-pred") and "vs predicted -0.35" in str(v)


def test_slope_verdict_ci_rule_refuses_underpowered_sweeps():
    # Point estimate exactly on the prediction, but members so noisy that the interval is
    # wider than the tolerance: "point" passes, "ci" does not.
    x = np.arange(1.0, 6.0)
    noise = np.random.default_rng(0).standard_normal((5, 6))
    y = 0.7 * x[:, None] + 3.0 * (noise - noise.mean(1, keepdims=True))
    point = slope_verdict(x, y, predicted=0.7, tol=0.1, name="p", log=False, mode="point")
    ci = slope_verdict(x, y, predicted=0.7, tol=0.1, name="c", log=False, mode="ci")
    assert point.passed and not ci.passed
    assert point.interval == ci.interval and ci.interval[1] - ci.interval[0] > 0.2


def test_slope_verdict_one_sided():
    x = np.geomspace(8, 64, 4)
    grows = _power_members(x, 1.8)
    v = slope_verdict(x, grows, predicted=0.0, side="above", name="growth", n_boot=500)
    assert v.passed and v.effect == pytest.approx(1.8, abs=0.05) and v.tolerance == 0.0
    assert str(v).startswith("PASS growth: slope 1.8") and "above 0" in str(v)
    flat = _power_members(x, 0.0, sd=0.3)
    assert not slope_verdict(x, flat, predicted=0.0, side="above", name="g", n_boot=500).passed
    assert slope_verdict(x, grows, predicted=2.5, side="below", name="g", n_boot=500).passed
    with pytest.raises(ValueError, match="tol does not apply"):
        slope_verdict(x, grows, predicted=0.0, tol=0.1, side="above", name="g")
    with pytest.raises(ValueError, match="tol must be a positive number"):
        slope_verdict(x, grows, predicted=0.0, name="g")
