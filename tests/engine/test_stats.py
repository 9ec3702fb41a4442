"""Bootstrap intervals and equivalence verdicts on synthetic data with known answers."""

import doctest

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
from dyntheory._analysis.stats import bootstrap_ci, equivalence


@pytest.mark.parametrize("module", [stats_mod, slopes_mod, verdict_mod, skeleton_mod],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    assert doctest.testmod(module, raise_on_error=False).failed == 0


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


def test_equivalence_resamples_correlated_points_as_whole_seeds():
    # 6 weight decays x 8 seeds, where a seed's points share one draw (correlation ~0.95 across
    # weight decays): pooled one by one, 48 "members" make the 95% interval hold the true mean far
    # less often than 95%; resampled as 8 seeds it holds it at about the nominal rate.
    import xarray as xr

    import dyntheory as dt

    rng = np.random.default_rng(0)
    held = {"points": 0, "seeds": 0}
    trials = 200
    for t in range(trials):
        vals = rng.normal(size=(1, 8)) + 0.2 * rng.normal(size=(6, 8))  # true mean 0
        sim = xr.DataArray(vals + 1.0, dims=("weight_decay", "seed"))
        for how, cluster in (("points", None), ("seeds", "seed")):
            v = dt.equivalence(sim, 1.0, over=("weight_decay", "seed"), tol=10.0, relative=False, n_boot=400,
                               seed=t, name="x", cluster=cluster)
            held[how] += v.interval[0] <= 0.0 <= v.interval[1]
    assert held["points"] / trials < 0.65, held  # measured 0.50
    assert 0.85 <= held["seeds"] / trials <= 0.99, held  # measured 0.905 (percentile bootstrap, 8 seeds)
    # a cluster must be one of the pooled dims, and over must pool
    sim = xr.DataArray(np.ones((2, 3)), dims=("weight_decay", "seed"))
    with pytest.raises(ValueError, match="cluster='lr'"):
        dt.equivalence(sim, 1.0, over=("weight_decay", "seed"), tol=0.1, name="x", cluster="lr")
    with pytest.raises(ValueError, match="cluster='seed'"):
        dt.equivalence(sim, 1.0, over="seed", tol=0.1, name="x", cluster="seed")
    # one point per seed: the same interval as resampling members
    one = xr.DataArray(np.arange(8.0)[None] + 1, dims=("weight_decay", "seed"))
    a = dt.equivalence(one, 4.0, over=("weight_decay", "seed"), tol=0.5, name="x", n_boot=4000)
    b = dt.equivalence(one, 4.0, over=("weight_decay", "seed"), tol=0.5, name="x", n_boot=4000, cluster="seed")
    assert a.effect == b.effect and np.allclose(a.interval, b.interval, atol=0.04), (a, b)
