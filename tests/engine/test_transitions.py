"""Transition times on planted step, ramp and logistic curves, with censored members."""

import doctest

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import dyntheory._analysis.transitions as transitions_mod
from dyntheory._analysis.transitions import summarize_transitions, transition_times, value_at

STEPS = np.arange(0, 1001, 10)


def _curves(times, *, width=0.0, steps=STEPS):
    """Metric 0 -> 1 per member; a logistic of scale ``width`` (a step when 0) at ``times``."""
    t = np.asarray(times, dtype=float)[..., None]
    if width == 0:
        return np.where(steps >= t, 1.0, 0.0)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(steps - t) / width))


def test_docstring_examples_run():
    assert doctest.testmod(transitions_mod, raise_on_error=False).failed == 0


def test_planted_steps_and_censored_members():
    times = np.array([[105.0, 300.0, np.inf], [20.0, np.inf, 990.0]])  # inf: never jumps
    da = xr.DataArray(_curves(times), dims=("lr", "seed", "step"),
                      coords={"lr": [0.1, 0.2], "seed": [0, 1, 2], "step": STEPS})
    ds = transition_times(da, threshold=0.5, interpolate=False)
    assert ds.t_cross.dims == ("lr", "seed") and ds.lr.values.tolist() == [0.1, 0.2]
    np.testing.assert_array_equal(ds.t_cross.values, [[110.0, 300.0, np.nan], [20.0, np.nan, 990.0]])
    np.testing.assert_array_equal(ds.censored.values, [[False, False, True], [False, True, False]])
    assert np.isnan(ds.width.values[ds.censored.values]).all()
    # a step between records: interpolation puts the crossing halfway between them
    interp = transition_times(da, threshold=0.5)
    assert interp.t_cross.values[0, 0] == pytest.approx(105.0)


@given(t0=st.floats(15.0, 900.0), slope=st.floats(1e-4, 0.02), threshold=st.floats(0.05, 0.95))
def test_linear_ramp_crossing_is_exact_when_interpolated(t0, slope, threshold):
    # Flat, then linear from a recorded step on: the crossing falls on the linear piece, so
    # interpolation must find it to rounding error; without interpolation, the next record.
    kink = 10 * np.floor(t0 / 10)
    da = xr.DataArray(np.clip(slope * (STEPS - kink), 0, None), dims="step", coords={"step": STEPS})
    true = kink + threshold / slope
    ds = transition_times(da, threshold=threshold)
    raw = transition_times(da, threshold=threshold, interpolate=False)
    if true <= STEPS[-1]:
        assert float(ds.t_cross) == pytest.approx(true, rel=1e-9)
        assert true * (1 - 1e-12) <= float(raw.t_cross) < true + 10
    else:
        assert bool(ds.censored) and bool(raw.censored) and np.isnan(float(ds.t_cross))
    above_max = transition_times(da, threshold=float(da.max()) * 1.01 + 1e-9)
    assert bool(above_max.censored) and np.isnan(float(above_max.t_cross))


@given(st.lists(st.floats(0.0, 2000.0), min_size=1, max_size=8), st.floats(5.0, 60.0))
def test_logistic_crossings_and_widths(times, scale):
    times = [*times, 600.0]  # always one complete curve on the window, so widths are checked
    da = xr.DataArray(_curves(times, width=scale), dims=("seed", "step"), coords={"step": STEPS})
    ds = transition_times(da, threshold=0.5)
    for t, got, cens in zip(times, ds.t_cross.values, ds.censored.values):
        if t <= STEPS[-1] - 10:
            assert not cens and abs(got - t) <= 10  # within one recording interval
        elif t > STEPS[-1] + 10:
            assert cens and np.isnan(got)
    # 10-90% width of a full logistic is 2 ln(9) * scale; levels use the first/last values,
    # so check members whose curve is (nearly) complete on the recorded window.
    full = np.array([200 + 6 * scale < t < STEPS[-1] - 6 * scale for t in times])
    np.testing.assert_allclose(ds.width.values[full], 2 * np.log(9) * scale, atol=10)


def test_direction_down_start_past_threshold_and_divergence():
    loss = np.array([[4.0, 3.0, 1.0, 0.5],     # crosses 2 at 1.5
                     [1.0, 0.5, 0.4, 0.3],     # already below at the first record
                     [4.0, np.nan, np.nan, np.nan],  # diverged before crossing
                     [4.0, 3.0, 3.0, 1.0]])
    da = xr.DataArray(loss, dims=("seed", "step"), coords={"step": [0, 1, 2, 3]})
    ds = transition_times(da, threshold=2.0, direction="down")
    np.testing.assert_allclose(ds.t_cross.values, [1.5, 0.0, np.nan, 2.5])
    assert ds.censored.values.tolist() == [False, False, True, False]
    assert ds.attrs["direction"] == "down" and ds.attrs["threshold"] == 2.0


def test_no_step_coordinate_uses_positions():
    da = xr.DataArray([0.0, 0.2, 0.4, 0.8], dims="step")
    assert float(transition_times(da, threshold=0.6).t_cross) == pytest.approx(2.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"dim": "time"}, "dim='time'"),
    ({"direction": "sideways"}, "direction"),
    ({"threshold": np.nan}, "threshold"),
])
def test_transition_times_validates(kwargs, match):
    da = xr.DataArray([0.0, 1.0], dims="step")
    with pytest.raises(ValueError, match=match):
        transition_times(da, **{"threshold": 0.5, **kwargs})


def test_non_increasing_steps_rejected():
    da = xr.DataArray([0.0, 1.0, 1.0], dims="step", coords={"step": [0, 5, 5]})
    with pytest.raises(ValueError, match="'step' must increase strictly"):
        transition_times(da, threshold=0.5)


def test_summary_counts_censored_and_uses_them_in_the_median():
    # lr=0.1: 7 members cross at 100..700, 3 censored -> median of {100..700, inf x3} = 550.
    # lr=0.2: 6 of 10 censored -> median is inf: "more than half never crossed".
    t1 = [100, 200, 300, 400, 500, 600, 700, np.inf, np.inf, np.inf]
    t2 = [100, 200, 300, 400] + [np.inf] * 6
    da = xr.DataArray(_curves([t1, t2]), dims=("lr", "seed", "step"),
                      coords={"lr": [0.1, 0.2], "step": STEPS})
    # records every 10 steps and jumps on them: no interpolation, so the planted times come back
    s = summarize_transitions(transition_times(da, threshold=0.5, interpolate=False), n_boot=500)
    assert s.frac_censored.values.tolist() == [0.3, 0.6]
    assert s.n_censored.values.tolist() == [3, 6] and s.n_members.values.tolist() == [10, 10]
    assert s.t_median.values[0] == 550.0 and np.isposinf(s.t_median.values[1])
    assert s.t_median_lo.values[0] <= 550.0 <= s.t_median_hi.values[0]
    assert np.isposinf(s.t_median_hi.values[0])  # 3 of 10 censored: cannot rule out inf
    assert s.t_mean_crossed.values.tolist() == [400.0, 250.0]
    assert s.t_mean_crossed_lo.values[0] < 400.0 < s.t_mean_crossed_hi.values[0]


def test_summary_median_interval_covers_planted_median():
    # 200 coordinates x 40 members of exponential crossing times (median 300 ln 2 ~ 208),
    # none censored; the 95% interval of the median should cover it in ~95% (SE 1.5%).
    rng = np.random.default_rng(0)
    times = rng.exponential(300.0, size=(200, 40))
    ds = xr.Dataset({"t_cross": (("cell", "seed"), times),
                     "censored": (("cell", "seed"), np.zeros_like(times, bool))})
    s = summarize_transitions(ds, n_boot=500)
    true = 300.0 * np.log(2)
    coverage = np.mean((s.t_median_lo.values <= true) & (true <= s.t_median_hi.values))
    assert 0.90 <= coverage <= 0.99, coverage


def test_summary_validates():
    ds = transition_times(xr.DataArray([[0.0, 1.0]], dims=("seed", "step")), threshold=0.5)
    with pytest.raises(ValueError, match="over='member'"):
        summarize_transitions(ds, over="member")
    with pytest.raises(ValueError, match="'censored'"):
        summarize_transitions(ds.drop_vars("censored"))


# --- logit interpolation ----------------------------------------------------------------------

def _logistic(t, *, ceiling, rate, t_half):
    """A two-layer linear network's mode strength: logistic from ~0 to ``ceiling``."""
    return ceiling / (1.0 + np.exp(-rate * (t - t_half)))


@given(t_half=st.floats(150.0, 850.0), rate=st.floats(0.005, 0.05), frac=st.floats(0.05, 0.95))
def test_logit_interpolation_is_exact_on_a_logistic_recorded_coarsely(t_half, rate, frac):
    # Two members with their own ceilings (a mode's singular value) and a per-member threshold.
    steps = np.arange(0, 1001, 50)
    ceiling = xr.DataArray([2.0, 3.0], dims="mode")
    u = xr.DataArray(np.stack([_logistic(steps, ceiling=c, rate=rate, t_half=t_half) for c in (2.0, 3.0)]),
                     dims=("mode", "step"), coords={"step": steps})
    true = t_half + np.log(frac / (1 - frac)) / rate
    logit = transition_times(u, threshold=frac * ceiling, interpolate="logit", ceiling=ceiling)
    if steps[0] < true <= steps[-1]:
        np.testing.assert_allclose(logit.t_cross.values, true, rtol=1e-9)
    elif true > steps[-1]:
        assert logit.censored.all()


def test_linear_interpolation_misses_what_logit_resolves():
    steps = np.arange(0, 1001, 100)
    u = xr.DataArray(_logistic(steps, ceiling=1.0, rate=0.05, t_half=420.0), dims="step",
                     coords={"step": steps})
    true = 420.0 + np.log(0.1 / 0.9) / 0.05  # the 10% crossing, on the sigmoid's convex foot
    linear = float(transition_times(u, threshold=0.1).t_cross)
    logit = float(transition_times(u, threshold=0.1, interpolate="logit", ceiling=1.0).t_cross)
    assert logit == pytest.approx(true, rel=1e-9) and abs(linear - true) > 20


def test_logit_falls_back_to_linear_outside_the_open_interval():
    # The record after the crossing sits on the ceiling (logit infinite): linear between the two.
    da = xr.DataArray([0.0, 0.2, 1.0], dims="step", coords={"step": [0, 10, 20]})
    ds = transition_times(da, threshold=0.6, interpolate="logit", ceiling=1.0)
    assert float(ds.t_cross) == pytest.approx(15.0)
    # the record before it is 0 (logit -inf): linear as well
    ds = transition_times(da, threshold=0.1, interpolate="logit", ceiling=1.0)
    assert float(ds.t_cross) == pytest.approx(5.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"interpolate": "logit"}, "ceiling is required"),
    ({"ceiling": 1.0}, "ceiling is required"),
    ({"interpolate": "cubic"}, "interpolate must be"),
    ({"threshold": xr.DataArray([0.5, 0.5], dims="step")}, "threshold dims"),
    ({"threshold": np.array([0.5, 0.5])}, "threshold must be a number or a DataArray"),
])
def test_logit_and_per_member_threshold_validate(kwargs, match):
    da = xr.DataArray([0.0, 1.0], dims="step")
    with pytest.raises((ValueError, TypeError), match=match):
        transition_times(da, **{"threshold": 0.5, **kwargs})


def test_value_at_reads_each_members_metric_at_its_own_time():
    steps = np.array([0, 10, 20, 40])
    norm = xr.DataArray(np.array([[8.0, 6.0, 4.0, 0.0], [1.0, 2.0, 3.0, 5.0]]), dims=("seed", "step"),
                        coords={"seed": [0, 1], "step": steps})
    t = xr.DataArray([5.0, 30.0], dims="seed", coords={"seed": [0, 1]})
    np.testing.assert_allclose(value_at(norm, t).values, [7.0, 4.0])
    # censored (NaN) and out-of-record times give NaN, never the edge value
    t = xr.DataArray([np.nan, 41.0], dims="seed", coords={"seed": [0, 1]})
    assert np.isnan(value_at(norm, t).values).all()
    # at a member's own crossing time, the crossing metric reads its threshold
    acc = xr.DataArray(_curves([[300.0, 555.0]], width=40.0), dims=("lr", "seed", "step"),
                       coords={"step": STEPS})
    cross = transition_times(acc, threshold=0.7)
    np.testing.assert_allclose(value_at(acc, cross.t_cross).values, 0.7)
    with pytest.raises(ValueError, match="dim='time'"):
        value_at(norm, 1.0, dim="time")
