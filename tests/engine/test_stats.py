"""Verdicts and bootstrap intervals on synthetic data with known answers."""

import dataclasses
import doctest
import json
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import dyntheory._analysis.skeleton as skeleton_mod
import dyntheory._analysis.slopes as slopes_mod
import dyntheory._analysis.stats as stats_mod
import dyntheory._analysis.verdict as verdict_mod
from dyntheory._analysis.skeleton import SimConfig, pick_size
from dyntheory._analysis.slopes import fit_slope, slope_verdict
from dyntheory._analysis.stats import bootstrap_ci, equivalence
from dyntheory._analysis.verdict import Known, Verdict, aggregate, interval_verdict, mark_known


@pytest.mark.parametrize("module", [stats_mod, slopes_mod, verdict_mod, skeleton_mod],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    assert doctest.testmod(module, raise_on_error=False).failed == 0


# --- bootstrap_ci -----------------------------------------------------------------------------

def test_bootstrap_ci_vectorised_shape_and_estimate():
    x = np.random.default_rng(0).standard_normal((5, 40, 3))
    est, lo, hi = bootstrap_ci(x, axis=1, n_boot=300)
    assert est.shape == lo.shape == hi.shape == (5, 3)
    np.testing.assert_allclose(est, x.mean(axis=1))
    assert (lo < est).all() and (est < hi).all()


def test_bootstrap_ci_covers_the_mean_at_about_the_nominal_rate():
    # 400 independent coordinates of 30 normal members: the 95% interval of the mean should
    # cover 0 in ~93-95% of them (percentile bootstrap under-covers slightly at n=30);
    # binomial SE of the rate is 1.1%.
    x = np.random.default_rng(1).standard_normal((400, 30))
    _, lo, hi = bootstrap_ci(x, axis=-1, n_boot=1000)
    coverage = np.mean((lo <= 0) & (0 <= hi))
    assert 0.89 <= coverage <= 0.98, coverage


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)),
                  elements=st.floats(-1e3, 1e3)),
       st.floats(-1e3, 1e3))
def test_bootstrap_ci_mean_bounded_by_data_and_translation_equivariant(x, c):
    est, lo, hi = bootstrap_ci(x, axis=1, n_boot=200)
    assert np.all(lo <= hi)
    assert np.all(lo >= x.min(1) - 1e-9) and np.all(hi <= x.max(1) + 1e-9)
    est2, lo2, hi2 = bootstrap_ci(x + c, axis=1, n_boot=200)
    for a, b in ((est, est2), (lo, lo2), (hi, hi2)):
        np.testing.assert_allclose(b, a + c, atol=1e-9 * (1 + abs(c) + np.abs(x).max()))


def test_bootstrap_ci_nan_policy():
    x = np.array([[1.0, np.nan, 2.0, 3.0], [1.0, 2.0, 3.0, np.nan], [np.nan] * 4,
                  [5.0, np.nan, np.nan, np.nan]])
    est, lo, hi = bootstrap_ci(x, axis=1, n_boot=500, nan_policy="omit")
    # rows 0 and 1 hold the same members in a different place: identical answers
    assert (est[0], lo[0], hi[0]) == (est[1], lo[1], hi[1]) == (2.0, lo[1], hi[1])
    assert np.isnan([est[2], lo[2], hi[2]]).all()
    assert (est[3], lo[3], hi[3]) == (5.0, 5.0, 5.0)
    est_p, _, _ = bootstrap_ci(x, axis=1, n_boot=50)
    assert np.isnan(est_p[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"level": 1.5}, "level"), ({"axis": 3}, "axis=3"), ({"n_boot": 0}, "n_boot"),
    ({"nan_policy": "drop"}, "nan_policy"),
])
def test_bootstrap_ci_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(np.ones((2, 3)), **{"axis": 1, **kwargs})


# --- equivalence ------------------------------------------------------------------------------

def _sim(theory, offset, *, n_seed=64, sd=0.02, seed=0):
    """Members whose mean relative error is exactly ``offset`` at every coordinate."""
    th = np.asarray(theory, dtype=float)
    noise = np.random.default_rng(seed).standard_normal(th.shape + (n_seed,))
    noise = sd * (noise - noise.mean(-1, keepdims=True)) / noise.std(-1, keepdims=True)
    return th[..., None] * (1.0 + offset + noise)


def test_equivalence_passes_when_mean_equals_theory():
    theory = xr.DataArray([1.0, 2.0, 5.0], dims="lr", coords={"lr": [0.1, 0.2, 0.4]})
    sim = xr.DataArray(_sim(theory.values, 0.0), dims=("lr", "seed"), coords={"lr": theory.lr})
    v = equivalence(sim, theory, tol=0.05, name="planted", n_boot=500)
    assert v.passed and v.n_members == 192 and v.n_excluded == 0
    assert abs(v.effect) < 1e-12 and -0.05 < v.interval[0] < 0 < v.interval[1] < 0.05
    assert bool(v.per_coord.passed.all())


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("sign", [1, -1])
def test_equivalence_fails_when_offset_by_three_tolerances(relative, sign):
    tol = 0.05
    theory = xr.DataArray([1.0, 1.0], dims="lr", coords={"lr": [0.1, 0.2]})
    sim = xr.DataArray(_sim(theory.values, sign * 3 * tol), dims=("lr", "seed"),
                       coords={"lr": theory.lr})
    v = equivalence(sim, theory, tol=tol, relative=relative, name="off", n_boot=500)
    assert not v.passed
    assert v.effect == pytest.approx(sign * 3 * tol)
    assert v.label == ("rel.err" if relative else "diff")


def test_equivalence_boundary_rejection_rate_is_about_alpha():
    # True effect exactly at the margin: a level-0.90 interval (TOST alpha=0.05) should
    # claim equivalence at ~5% of coordinates (~7% with percentile under-coverage at n=30);
    # with 300 coordinates the binomial SE is ~1.4%.
    rng = np.random.default_rng(3)
    sim = xr.DataArray(1.0 + 0.1 + 0.05 * rng.standard_normal((300, 30)), dims=("cell", "seed"))
    v = equivalence(sim, 1.0, tol=0.1, level=0.90, name="edge", n_boot=1000)
    rate = float(v.per_coord.passed.mean())
    assert not v.passed and rate <= 0.10, rate


@given(st.floats(-0.5, 0.5))
def test_equivalence_decides_by_offset(frac):
    tol = 0.1
    sim = xr.DataArray(_sim([3.0], frac * tol, sd=0.01)[0], dims="seed")
    assert equivalence(sim, 3.0, tol=tol, name="in", n_boot=300).passed
    far = xr.DataArray(_sim([3.0], (1.5 + abs(frac)) * tol, sd=0.01)[0], dims="seed")
    assert not equivalence(far, 3.0, tol=tol, name="out", n_boot=300).passed


def test_equivalence_excludes_and_counts_nonfinite_members():
    values = _sim([2.0, 2.0], 0.0)
    values[0, :3] = np.nan
    values[1, 5:7] = np.inf
    sim = xr.DataArray(values, dims=("lr", "seed"), coords={"lr": [1, 2]})
    v = equivalence(sim, 2.0, tol=0.05, name="div", n_boot=300)
    assert v.passed and v.n_excluded == 5 and v.n_members == 123
    assert "5 non-finite excluded" in str(v)
    assert v.per_coord.n_members.values.tolist() == [61, 62]


def test_equivalence_fails_coordinate_without_members_and_names_it():
    values = _sim([2.0, 2.0, 2.0], 0.0)
    values[1] = np.nan
    sim = xr.DataArray(values, dims=("lr", "seed"), coords={"lr": [0.1, 0.2, 0.3]})
    v = equivalence(sim, 2.0, tol=0.05, name="dead", n_boot=200)
    assert not v.passed and "lr=0.2" in v.detail and "only 0 finite" in v.detail


def test_equivalence_reports_worst_coordinate():
    theory = np.ones((2, 3))
    offsets = np.zeros((2, 3))
    offsets[1, 2] = 0.2
    values = _sim(theory, 0.0) + offsets[..., None]
    sim = xr.DataArray(values, dims=("width", "lr", "seed"),
                       coords={"width": [8, 16], "lr": [0.1, 0.2, 0.3]})
    v = equivalence(sim, 1.0, tol=0.05, name="worst", n_boot=300)
    assert not v.passed and v.detail.startswith("worst at width=16, lr=0.3")
    assert v.effect == pytest.approx(0.2)
    assert int(v.per_coord.passed.sum()) == 5


def test_equivalence_validates_inputs():
    sim = xr.DataArray(np.ones((2, 4)), dims=("lr", "seed"), coords={"lr": [0.1, 0.2]})
    with pytest.raises(ValueError, match="over='member'"):
        equivalence(sim, 1.0, over="member", tol=0.1, name="x")
    with pytest.raises(ValueError, match="tol"):
        equivalence(sim, 1.0, tol=-1, name="x")
    with pytest.raises(ValueError, match=r"theory is 0 \(relative=True divides by it\) at lr=0.2"):
        equivalence(sim, xr.DataArray([1.0, 0.0], dims="lr", coords={"lr": [0.1, 0.2]}),
                    tol=0.1, name="x")
    with pytest.raises(ValueError, match="coordinates differ"):
        equivalence(sim, xr.DataArray([1.0, 1.0], dims="lr", coords={"lr": [0.1, 0.3]}),
                    tol=0.1, name="x")
    with pytest.raises(TypeError, match="DataArray"):
        equivalence(np.ones(4), 1.0, tol=0.1, name="x")
    with pytest.raises(TypeError, match=r"theory must be a number or a DataArray.*\(2,\)"):
        equivalence(sim, np.ones(2), tol=0.1, name="x")


def test_verdict_line_and_dict():
    v = Verdict(name="saxe_t_learn", passed=True, effect=0.031, interval=(0.012, 0.049),
                tolerance=0.1, n_members=64, label="rel.err")
    assert str(v) == "PASS saxe_t_learn: rel.err 0.031 [0.012, 0.049] within ±0.1 (n=64 members)"
    d = v.to_dict()
    assert json.loads(json.dumps(d)) == d and d["interval"] == [0.012, 0.049]
    bad = Verdict(name="x", passed=False, effect=0.3, interval=(0.2, 0.4), tolerance=0.1,
                  n_members=8, detail="worst at lr=1")
    assert re.fullmatch(r"FAIL x: effect 0\.3 \[0\.2, 0\.4\] not within ±0\.1 \(n=8 members\); "
                        r"worst at lr=1", str(bad))


# --- slopes -----------------------------------------------------------------------------------

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


def test_aggregate_table():
    good = Verdict(name="alpha", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.1,
                   n_members=8)
    bad = Verdict(name="beta", passed=False, effect=0.5, interval=(0.4, 0.6), tolerance=0.1,
                  n_members=8, n_excluded=2)
    s = aggregate([good, bad])
    assert not s.passed and s.n_passed == 1 and s.failed == (bad,)
    assert "alpha" in s.table and "beta" in s.table
    assert s.table.endswith("1/2 claims hold; FAILED: beta") and s.line == "1/2 claims hold; FAILED: beta"
    assert "8 (-2)" in str(s)
    assert aggregate([good]).passed
    with pytest.raises(TypeError, match=r"verdicts\[1\]"):
        aggregate([good, "beta"])


# --- one-sided and median verdicts ------------------------------------------------------------

def _members(center, *, n_seed=40, sd=0.1, seed=0):
    """Normal members around ``center`` (one value per coordinate) with exactly that median."""
    c = np.asarray(center, dtype=float)
    z = np.random.default_rng(seed).standard_normal(c.shape + (n_seed,))
    return c[..., None] + sd * (z - np.median(z, -1, keepdims=True))


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_one_sided_passes_above_and_fails_at_the_bound(statistic):
    ratio = xr.DataArray(_members([3.0, 4.0]), dims=("wd", "seed"), coords={"wd": [0.5, 1.0]})
    v = equivalence(ratio, 2.0, side="above", statistic=statistic, name="delay", n_boot=500)
    assert v.passed and v.side == "above" and v.tolerance == 2.0 and v.label == statistic
    assert v.effect == pytest.approx(3.0, abs=0.05) and v.interval[0] > 2.0
    assert v.detail == "worst at wd=0.5"  # the coordinate closest to the bound
    assert str(v).startswith(f"PASS delay: {statistic} 3") and "above 2 (n=80 members)" in str(v)
    # a coordinate planted on the bound cannot be shown above it, nor below
    at = xr.DataArray(_members([3.0, 2.0]), dims=("wd", "seed"), coords={"wd": [0.5, 1.0]})
    v = equivalence(at, 2.0, side="above", statistic=statistic, name="delay", n_boot=500)
    assert not v.passed and v.detail == "worst at wd=1.0" and "not above 2" in str(v)
    assert v.per_coord.passed.values.tolist() == [True, False]
    assert v.per_coord.bound.values.tolist() == [2.0, 2.0]
    assert not equivalence(at, 2.0, side="below", statistic=statistic, name="d", n_boot=500).passed
    below = equivalence(at, 3.5, side="below", statistic=statistic, name="d", n_boot=500)
    assert below.passed and below.detail == "worst at wd=0.5" and "below 3.5" in str(below)


def test_one_sided_bound_per_coordinate():
    sim = xr.DataArray(_members([1.0, 5.0]), dims=("n", "seed"), coords={"n": [8, 16]})
    bound = xr.DataArray([0.5, 5.5], dims="n", coords={"n": [8, 16]})
    v = equivalence(sim, bound, side="above", name="b", n_boot=300)
    assert not v.passed and v.tolerance == 5.5 and v.detail == "worst at n=16"


def test_median_equivalence_resists_a_tail_that_moves_the_mean():
    # 36 members exactly on theory (rel.err spread 1%), 4 members 100% late: the mean is ~10%
    # late and fails a 5% tolerance; the median is on theory and passes.
    rel = _members([0.0], n_seed=36, sd=0.01)[0]
    sim = xr.DataArray(2.0 * (1.0 + np.concatenate([rel, np.ones(4)])), dims="seed")
    mean = equivalence(sim, 2.0, tol=0.05, name="t", n_boot=1000)
    median = equivalence(sim, 2.0, tol=0.05, statistic="median", name="t", n_boot=1000)
    assert not mean.passed and mean.effect == pytest.approx(0.1, abs=0.002)
    assert median.passed and abs(median.effect) < 0.002 and median.label == "median rel.err"
    # and a median that is off fails: the option is not a way to pass everything
    off = xr.DataArray(2.0 * (1.0 + 0.2 + rel), dims="seed")
    assert not equivalence(off, 2.0, tol=0.05, statistic="median", name="t", n_boot=500).passed


def test_median_keeps_censored_members_the_mean_excludes_them():
    # 14 of 16 members never crossed (+inf, censored), one diverged (NaN): the median time is
    # later than 20 beyond doubt; the mean can only use the 2 finite members.
    times = np.array([10.0, 11.0] + [np.inf] * 14 + [np.nan])
    sim = xr.DataArray(times, dims="seed")
    med = equivalence(sim, 20.0, side="above", statistic="median", name="t", n_boot=300)
    assert med.passed and med.effect == np.inf and med.n_members == 16 and med.n_excluded == 1
    mean = equivalence(sim, 20.0, side="above", name="t", n_boot=300)
    assert not mean.passed and mean.n_members == 2 and mean.n_excluded == 15


def test_one_sided_and_statistic_validate():
    sim = xr.DataArray(np.ones(4), dims="seed")
    with pytest.raises(ValueError, match="tol and relative=True do not apply"):
        equivalence(sim, 0.5, side="above", tol=0.1, name="x")
    with pytest.raises(ValueError, match="tol and relative=True do not apply"):
        equivalence(sim, 0.5, side="below", relative=True, name="x")
    with pytest.raises(ValueError, match="side must be"):
        equivalence(sim, 0.5, side="up", name="x")
    with pytest.raises(ValueError, match="statistic must be"):
        equivalence(sim, 1.0, tol=0.1, statistic="mode", name="x")
    with pytest.raises(ValueError, match="tol must be a positive number, got None"):
        equivalence(sim, 1.0, name="x")


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


# --- known disagreements and the summary line -------------------------------------------------

def _v(name, passed, interval, *, tol=0.05, side="both"):
    return Verdict(name=name, passed=passed, effect=sum(interval) / 2, interval=interval,
                   tolerance=tol, n_members=12, label="rel.err", side=side)


LATE = Known(name="late", reason="later modes come late: shared hidden subspace",
             where="sims/toy.py", direction="above", sizes=("small",))


def test_known_disagreement_is_labelled_only_when_it_fails_as_documented():
    fails_late = mark_known([_v("late", False, (0.03, 0.08))], [LATE], size="small")[0]
    assert fails_late.status == "KNOWN" and fails_late.known == LATE
    assert str(fails_late).startswith("KNOWN late: rel.err") and str(fails_late).endswith(
        "; known disagreement, see sims/toy.py")
    early = mark_known([_v("late", False, (-0.08, -0.03))], [LATE], size="small")[0]
    assert early.status == "FAIL" and "not above as documented" in str(early)
    straddles = mark_known([_v("late", False, (-0.01, 0.08))], [LATE], size="small")[0]
    assert straddles.status == "FAIL"
    passes = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="small")[0]
    assert passes.status == "XPASS" and "but passed: update it" in str(passes)
    # one-sided: the documented direction is read against the bound, not zero
    slow = Known(name="abrupt", reason="no plateau", where="sims/toy.py", direction="above")
    v = mark_known([_v("abrupt", False, (0.84, 0.99), tol=0.5, side="below")], [slow])[0]
    assert v.status == "KNOWN"
    assert mark_known([_v("abrupt", False, (0.3, 0.6), tol=0.5, side="below")], [slow])[0].status == "FAIL"


def test_mark_known_filters_sizes_and_refuses_unknown_names():
    at_paper = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="paper")[0]
    assert at_paper.known is None and at_paper.status == "PASS"
    with pytest.raises(ValueError, match=r"\['late'\] name no verdict"):
        mark_known([_v("other", True, (0.0, 0.02))], [LATE], size="small")
    with pytest.raises(ValueError, match="reason must be one non-empty line"):
        Known(name="x", reason="two\nlines", where="here", direction="above")
    with pytest.raises(ValueError, match="direction"):
        Known(name="x", reason="r", where="here", direction="up")


def test_summary_line_counts_claims_and_names_each_known_disagreement():
    good = _v("good", True, (0.0, 0.02))
    known = mark_known([_v("late", False, (0.03, 0.08))], [LATE], size="small")[0]
    s = aggregate([good, known])
    assert s.passed and s.n_passed == 1 and s.known == (known,) and s.failed == ()
    assert s.line == ("1/2 claims hold; KNOWN late: later modes come late: shared hidden "
                      "subspace (see sims/toy.py)")
    assert s.table.splitlines()[2].startswith("KNOWN  late") and s.table.endswith(s.line)
    xpass = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="small")[0]
    s = aggregate([good, xpass, _v("bad", False, (0.1, 0.2))])
    assert not s.passed and s.xpassed == (xpass,) and [v.name for v in s.failed] == ["bad"]
    assert s.line == ("2/3 claims hold; FAILED: bad; known disagreement(s) now passing, "
                      "update them: late")


def test_one_sided_verdict_reads_as_a_bound():
    v = _v("delay", True, (2.9, 4.0), tol=2.0, side="above")
    assert str(v) == "PASS delay: rel.err 3.45 [2.9, 4] above 2 (n=12 members)"
    assert aggregate([v]).table.splitlines()[1].split()[-2] == ">2"
    assert v.to_dict()["side"] == "above" and json.loads(json.dumps(v.to_dict())) == v.to_dict()
    with pytest.raises(ValueError, match="side must be one of"):
        _v("x", True, (0.0, 1.0), side="up")


# --- the sim skeleton -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, kw_only=True)
class _Arm(SimConfig):
    depth: int
    init: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Config(SimConfig):
    arms: tuple[_Arm, ...]
    window: tuple[float, float]
    lrs: tuple[float, ...]
    control: tuple[float, ...] | None = None
    seeds: int = 2


def test_sim_config_round_trips_through_the_datasets_attrs():
    cfg = _Config(arms=(_Arm(depth=2, init="balanced"), _Arm(depth=3, init="gaussian")),
                  window=(10.0, 300.0), lrs=(0.1,), control=(0.03,))
    ds = cfg.stamp(xr.Dataset({"x": ("seed", [1.0, 2.0])}), sim="toy", size="small", key=3,
                   citation="Toy et al.", theory="theory.toy")
    assert ds.attrs["sim"] == "toy" and ds.attrs["size"] == "small" and ds.attrs["key"] == 3
    assert ds.attrs["theory"] == "theory.toy" and ds.attrs["citation"] == "Toy et al."
    back = _Config.from_attrs(ds)
    assert back == cfg and isinstance(back.arms[0], _Arm) and back.window == (10.0, 300.0)
    assert _Config.from_json(_Config(arms=(), window=(1.0, 2.0), lrs=()).to_json()).control is None
    assert cfg.stamp(xr.Dataset(), sim="t", size=cfg, key=0, citation="").attrs["size"] == "custom"
    with pytest.raises(ValueError, match="no 'sim_config' attr"):
        _Config.from_attrs(xr.Dataset())
    with pytest.raises(ValueError, match=r"unknown fields \['width'\]"):
        _Config.from_json('{"width": 3}')


def test_pick_size_names_the_sizes():
    small = _Config(arms=(), window=(1.0, 2.0), lrs=(0.1,))
    assert pick_size({"small": small}, "small") is small
    assert pick_size({"small": small}, small) is small
    with pytest.raises(ValueError, match=r"size must be one of \['paper', 'small'\] or a config, got 'big'"):
        pick_size({"small": small, "paper": small}, "big")


def test_equivalence_pools_members_over_several_dims():
    # 4 weight decays x 10 seeds pooled into 40 members: one interval, as if flattened by hand
    frac = np.zeros((4, 10))
    frac[:, :7] = 1.0  # 70% of members in the phase
    sim = xr.DataArray(frac, dims=("wd", "seed"), coords={"wd": [0.25, 0.5, 1.0, 2.0]})
    pooled = equivalence(sim, 0.5, over=("wd", "seed"), side="above", name="p", n_boot=500)
    flat = equivalence(xr.DataArray(frac.ravel(), dims="member"), 0.5, over="member",
                       side="above", name="p", n_boot=500)
    assert pooled == flat and pooled.passed and pooled.n_members == 40 and pooled.detail == ""
    assert not equivalence(sim, 0.8, over=("wd", "seed"), side="above", name="p", n_boot=500).passed
    with pytest.raises(ValueError, match="is not a dimension"):
        equivalence(sim, 0.5, over=("wd", "lr"), side="above", name="p")
    with pytest.raises(ValueError, match="must not have the member dim"):
        equivalence(sim, xr.DataArray([1.0] * 4, dims="wd", coords={"wd": sim.wd}),
                    over=("wd", "seed"), tol=0.1, name="p")


def test_interval_verdict_holds_any_estimate_against_theory_or_a_bound():
    # a fitted exponent 0.33 [0.27, 0.39] against alpha = 0.4: inside ±0.15, not inside ±0.1
    ok = interval_verdict(0.33, (0.27, 0.39), predicted=0.4, tol=0.15, name="e", n_members=15)
    assert ok.passed and ok.effect == pytest.approx(-0.07) and ok.interval == pytest.approx((-0.13, -0.01))
    assert not interval_verdict(0.33, (0.27, 0.39), predicted=0.4, tol=0.1, name="e", n_members=15).passed
    # a ratio of medians 1.54 [1.2, 2.61] above 1; [0.9, 2.6] is not
    up = interval_verdict(1.54, (1.2, 2.61), predicted=1.0, side="above", name="r", n_members=24)
    assert up.passed and up.effect == 1.54 and up.tolerance == 1.0 and str(up).startswith(
        "PASS r: estimate 1.54 [1.2, 2.61] above 1")
    assert not interval_verdict(1.5, (0.9, 2.6), predicted=1.0, side="above", name="r", n_members=24).passed
    assert interval_verdict(0.3, (0.2, 0.45), predicted=0.5, side="below", name="w", n_members=8).passed
    with pytest.raises(ValueError, match="tol does not apply"):
        interval_verdict(1.0, (0.9, 1.1), predicted=0.0, tol=0.1, side="above", name="x", n_members=2)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        interval_verdict(1.0, (0.9, 1.1), predicted=0.0, name="x", n_members=2)


def test_equivalence_judges_only_where_and_matches_the_flattened_selection():
    theory = np.array([[1.0, 2.0, 0.0], [4.0, 5.0, 6.0]])  # 0: no relative comparison possible
    values = _sim(theory, 0.0)
    values[1, 2] *= 1.5  # far off, but outside the validity region
    sim = xr.DataArray(values, dims=("lr", "step", "seed"), coords={"lr": [0.1, 0.2], "step": [0, 5, 9]})
    th = xr.DataArray(theory, dims=("lr", "step"), coords={"lr": [0.1, 0.2], "step": [0, 5, 9]})
    valid = xr.DataArray([True, True, False], dims="step", coords={"step": [0, 5, 9]})
    v = equivalence(sim, th, tol=0.05, where=valid, name="w", n_boot=300)
    assert v.passed and v.n_members == 4 * 64 and v.n_excluded == 0
    assert v.per_coord.judged.values.tolist() == [[True, True, False]] * 2
    # the same coordinates flattened by hand give the same numbers, coordinate by coordinate
    flat = xr.DataArray(values[:, :2].reshape(4, 64), dims=("point", "seed"))
    ref = equivalence(flat, xr.DataArray(theory[:, :2].ravel(), dims="point"), tol=0.05, name="w",
                      n_boot=300)
    np.testing.assert_array_equal(v.per_coord.lo.values[:, :2].ravel(), ref.per_coord.lo.values)
    assert (v.effect, v.interval) == (ref.effect, ref.interval)
    # judged, the off coordinate fails: the option skips coordinates, it does not excuse them
    off = equivalence(sim, th, tol=0.05, where=th > 0, name="w", n_boot=300)
    assert not off.passed and off.detail == "worst at lr=0.2, step=9" and off.n_members == 5 * 64
    with pytest.raises(ValueError, match="where selects no coordinate"):
        equivalence(sim, th, tol=0.05, where=valid & False, name="w")
    with pytest.raises(ValueError, match="where dims"):
        equivalence(sim, th, tol=0.05, where=sim > 0, name="w")
    with pytest.raises(ValueError, match=r"theory is 0 .* at lr=0.1, step=9"):
        equivalence(sim, th, tol=0.05, name="w")
