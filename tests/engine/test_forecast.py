"""dyntheory.predict: forecasts from early training, on planted trajectories whose answer is known."""

import doctest
import math

import numpy as np
import pytest
import xarray as xr

from dyntheory import predict
from dyntheory._analysis import forecast, forecast_curves, forecast_learned, forecast_score, forecast_targets


def binomial_band(p: float, n: int, k: float = 3.0) -> tuple[float, float]:
    se = math.sqrt(p * (1 - p) / n)
    return p - k * se, p + k * se


def normal_cdf(z):
    return 0.5 * (1 + np.vectorize(math.erf)(np.asarray(z) / math.sqrt(2)))


def normal_ppf(u):
    """Inverse of normal_cdf by bisection (no scipy)."""
    lo, hi = np.full(np.shape(u), -10.0), np.full(np.shape(u), 10.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = normal_cdf(mid) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def power_law_run(n=240, noise=0.01, seed=0):
    """Loss curves E + A (t+1)^-alpha + iid noise, with E, A, alpha drawn per member."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 401.0, 4.0)
    e, a, alpha = rng.uniform(0.1, 0.5, n), rng.uniform(1, 3, n), rng.uniform(0.3, 0.8, n)
    clean = e[:, None] + a[:, None] * (t + 1) ** -alpha[:, None]
    loss = clean + noise * rng.standard_normal(clean.shape)
    ds = xr.Dataset({"loss": (("seed", "step"), loss)}, coords={"seed": np.arange(n), "step": t})
    return ds, clean[:, -1]


def jump_run(n_cfg=8, seeds=40, signal=True, seed=0):
    """A test accuracy that jumps (logistic, to 1) at t0, mostly after a 20% cutoff, and a
    weight norm that decays at rate 1/t0 when ``signal`` (the clock of the jump is visible early),
    at an independent random rate otherwise. Members: lr (n_cfg values) x seed. (The accuracy's
    own window is not null: the start of an early jump shows in it.)"""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 1001.0, 10.0)
    lr = np.geomspace(0.5, 2.0, n_cfg)
    t0 = np.exp(rng.normal(np.log(900.0), 0.6, (n_cfg, seeds))) / lr[:, None]
    width = 0.08 * t0
    acc = 0.02 + 0.98 / (1 + np.exp(-(t - t0[..., None]) / width[..., None]))
    acc = np.clip(acc + 0.01 * rng.standard_normal(acc.shape), 0, 1)
    rate = 1 / t0 if signal else 1 / np.exp(rng.normal(np.log(900.0), 0.6, (n_cfg, seeds)))
    norm = 10 * np.exp(-2 * rate[..., None] * t) + 1 + 0.02 * rng.standard_normal(acc.shape)
    dims = ("lr", "seed", "step")
    coords = {"lr": lr, "seed": np.arange(seeds), "step": t}
    return xr.Dataset({"test_acc": (dims, acc), "weight_norm": (dims, norm)}, coords=coords)


EVENT = predict.Event(metric="test_acc", threshold=0.9)


def test_docstring_examples_run():
    for mod in (forecast, forecast_curves, forecast_learned, forecast_score, forecast_targets, predict):
        assert doctest.testmod(mod, raise_on_error=False).failed == 0, mod.__name__


def test_crps_of_a_perfect_forecast_is_zero_and_grows_with_error():
    levels = predict.LEVELS
    y = np.array([0.3, 2.0, -1.0])
    assert np.all(predict.crps_quantiles(np.repeat(y[:, None], levels.size, 1), levels, y) == 0)
    assert np.all(predict.crps_samples(np.repeat(y[:, None], 50, 1), y) == 0)
    off = predict.crps_quantiles(np.repeat(y[:, None] + 1.0, levels.size, 1), levels, y)
    np.testing.assert_allclose(off, 1.0)  # a point forecast's CRPS is its absolute error


def test_crps_matches_the_gaussian_closed_form():
    """CRPS(N(0,1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1/sqrt(pi) (Gneiting & Raftery 2007)."""
    y = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    exact = y * (2 * normal_cdf(y) - 1) + 2 * np.exp(-y**2 / 2) / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi)
    samples = np.sort(np.random.default_rng(0).standard_normal(20000))
    np.testing.assert_allclose(predict.crps_samples(np.tile(samples, (5, 1)), y), exact, atol=0.01)
    levels = np.arange(1, 200) / 200
    q = np.tile(normal_ppf(levels), (5, 1))
    np.testing.assert_allclose(predict.crps_quantiles(q, levels, y), exact, atol=0.02)


def test_log_score_of_gaussian_quantiles_is_the_gaussian_density():
    levels = np.arange(1, 100) / 100
    q = np.tile(normal_ppf(levels), (3, 1))
    y = np.array([-1.0, 0.2, 1.5])
    exact = 0.5 * y**2 + 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(predict.log_score_quantiles(q, levels, y), exact, atol=0.05)
    # outside the outer quantiles the exponential tail keeps it finite and growing
    far = predict.log_score_quantiles(q[:1], levels, np.array([6.0]))
    assert np.isfinite(far).all() and far[0] > predict.log_score_quantiles(q[:1], levels, np.array([3.0]))[0]


def test_coverage_of_a_calibrated_forecast_is_nominal():
    n = 4000
    y = np.random.default_rng(1).standard_normal(n)
    q = np.tile(normal_ppf(predict.LEVELS), (n, 1))
    for width in (0.5, 0.9):
        lo, hi = binomial_band(width, n)
        assert lo <= predict.coverage(q, predict.LEVELS, y, width).mean() <= hi


def test_reliability_of_a_calibrated_forecast_lies_on_the_diagonal():
    n = 3000
    rng = np.random.default_rng(5)
    y = rng.standard_normal(n)
    q = np.tile(normal_ppf(predict.LEVELS), (n, 1))
    freq = predict.reliability_quantiles(q, predict.LEVELS, y)
    se = np.sqrt(predict.LEVELS * (1 - predict.LEVELS) / n)
    assert (np.abs(freq - predict.LEVELS) < 4 * se).all()
    p = rng.random(n)
    rb = predict.reliability_binary(p, rng.random(n) < p)
    assert rb["count"].sum() == n
    assert (np.abs(rb["frequency"] - rb["p_mean"]) < 4 * np.sqrt(0.25 / rb["count"])).all()
    # a forecast shifted by one sd is off the diagonal
    assert predict.reliability_quantiles(q + 1.0, predict.LEVELS, y)[9] > 0.75


def test_auroc_equals_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(2)
    s, lab = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in s[lab] for b in s[~lab]]
    assert predict.auroc(s, lab) == pytest.approx(np.mean(pairs))
    assert np.isnan(predict.auroc(s, np.ones(60, bool)))


def test_power_law_forecast_covers_at_nominal_rate():
    ds, final = power_law_run(n=400)
    fc = predict.forecast(ds, predict.Value(metric="loss"), cutoff=0.3, predictor=predict.PowerLaw(n_boot=200))
    s = predict.score_forecast(fc, ds)
    n = int(s.n_scored)
    assert n == 400
    lo, hi = binomial_band(0.9, n)
    assert lo <= float(s.coverage_90) <= hi, float(s.coverage_90)
    lo, hi = binomial_band(0.5, n)
    assert lo <= float(s.coverage_50) <= hi, float(s.coverage_50)
    lo, hi = binomial_band(0.5, n)
    assert lo <= float(s.reliability.sel(level=0.5)) <= hi  # the median is unbiased
    # the last value, a curve that is still falling, is biased and scores worse
    last = predict.score_forecast(
        predict.forecast(ds, predict.Value(metric="loss"), cutoff=0.3, predictor=predict.LastValue()), ds)
    est, lo_d, hi_d = predict.compare_forecasts(s, last, on="crps", n_boot=500)
    assert hi_d < 0, (est, lo_d, hi_d)


def test_population_value_forecast_is_calibrated_on_held_out_seeds():
    ds, _ = power_law_run(n=400, seed=3)
    split = predict.split_members(ds, by="seed", fractions=(0.5, 0.25, 0.25), key=0)
    fc = predict.forecast(ds, predict.Value(metric="loss"), cutoff=0.3, predictor=predict.Population(),
                          split=split)
    s = predict.score_forecast(fc, ds)
    assert int(s.n_scored) == 100
    lo, hi = binomial_band(0.9, 100)
    assert lo <= float(s.coverage_90) <= hi


def test_event_predictor_finds_a_planted_clock_and_not_a_missing_one():
    out = {}
    for signal in (True, False):
        ds = jump_run(signal=signal)
        split = predict.split_members(ds, by="seed", fractions=(0.5, 0.25, 0.25), key=1)
        fc = predict.forecast(ds, EVENT, cutoff=0.2, split=split,
                              predictor=predict.Population(signals=("weight_norm",),
                                                           hyperparameters=False))
        out[signal] = predict.score_forecast(fc, ds)
    good, null = out[True], out[False]
    assert float(good.auroc) > 0.95, float(good.auroc)
    n1 = int(round(float(null.base_rate) * int(null.n_scored)))
    n0 = int(null.n_scored) - n1
    se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))  # the Mann-Whitney null spread
    assert abs(float(null.auroc) - 0.5) < 3 * se, (float(null.auroc), se)
    # the time of the event, given that it happens, is covered at about the nominal rate
    lo, hi = binomial_band(0.9, int(good.n_events))
    assert lo <= float(good.coverage_90) <= hi, float(good.coverage_90)
    assert float(good.median_lead) > 0


def test_scoring_a_member_used_for_fitting_raises():
    ds = jump_run(n_cfg=4, seeds=20)
    split = predict.split_members(ds, by="seed", key=0)
    fc = predict.forecast(ds, EVENT, cutoff=0.2, predictor=predict.Population(), split=split)
    with pytest.raises(ValueError, match="used to fit or calibrate"):
        predict.score_forecast(fc, ds, members=split == "fit")
    with pytest.raises(ValueError, match="used to fit or calibrate"):
        predict.score_forecast(fc, ds, members=xr.ones_like(split, dtype=bool))
    predict.score_forecast(fc, ds, members=split == "test")  # held-out members score
    with pytest.raises(ValueError, match="split"):
        predict.forecast(ds, EVENT, cutoff=0.2, predictor=predict.Population())


def test_test_members_futures_never_reach_the_forecast():
    """Rewrite every test member's trajectory after the cutoff: no forecast may change."""
    ds = jump_run(n_cfg=4, seeds=20)
    split = predict.split_members(ds, by="seed", key=0)
    changed = ds.copy(deep=True)
    late = changed.step > 0.2 * 1000
    is_test = (split == "test")
    changed["test_acc"] = xr.where(late & is_test, 1.0 - changed.test_acc, changed.test_acc)
    pred = predict.Population(signals=("test_acc", "weight_norm"))
    a = predict.forecast(ds, EVENT, cutoff=0.2, predictor=pred, split=split)
    b = predict.forecast(changed, EVENT, cutoff=0.2, predictor=pred, split=split)
    xr.testing.assert_identical(a, b)
    # ... while a fit member's future does change it
    changed["test_acc"] = xr.where(late & (split == "fit"), 1.0 - ds.test_acc, ds.test_acc)
    c = predict.forecast(changed, EVENT, cutoff=0.2, predictor=pred, split=split)
    assert not np.allclose(a.p_event, c.p_event)


def test_split_by_configuration_holds_out_whole_hyperparameter_values():
    ds = jump_run(n_cfg=8, seeds=10)
    split = predict.split_members(ds, by="lr", test=list(ds.lr.values[[2, 5]]), key=0)
    for role in ("fit", "calibrate", "test"):
        per_lr = (split == role).all("seed") | (split != role).all("seed")
        assert bool(per_lr.all())  # every lr value has one role
    assert set(ds.lr.values[(split == "test").any("seed").values]) == set(ds.lr.values[[2, 5]])
    fc = predict.forecast(ds, EVENT, cutoff=0.2, split=split,
                          predictor=predict.Population(signals=("test_acc", "weight_norm")))
    s = predict.score_forecast(fc, ds)
    assert int(s.n_scored) <= 20 and float(s.auroc) > 0.8


def test_theory_value_as_feature_and_as_forecast():
    """A theory that knows each member's jump time (here, exactly t0 from the planted clock)."""
    ds = jump_run(signal=False)
    split = predict.split_members(ds, by="seed", key=2)
    # the theory reads the window only: the weight norm is uninformative here, so hand it the
    # planted time through the learning rate, t0 ~ 900 / lr (the median of the draw)
    theory = 900.0 / ds.lr
    s = predict.score_forecast(predict.forecast(ds, EVENT, cutoff=0.2, split=split, theory=theory,
                                                predictor=predict.theory_only()), ds)
    assert float(s.auroc) > 0.6  # the lr carries part of the spread of t0
    with pytest.raises(ValueError, match="theory"):
        predict.forecast(ds, EVENT, cutoff=0.2, split=split, predictor=predict.theory_only())


def test_sigmoid_baseline_sees_jumps_that_start_in_the_window():
    t = np.arange(0.0, 1001.0, 10.0)
    rng = np.random.default_rng(4)
    # half start jumping inside the window (and cross before the end), half long after the end
    t0 = np.r_[rng.uniform(220, 350, 60), rng.uniform(1200, 2000, 60)]
    acc = 1 / (1 + np.exp(-(t - t0[:, None]) / 60)) + 0.01 * rng.standard_normal((120, t.size))
    ds = xr.Dataset({"test_acc": (("seed", "step"), acc)}, coords={"step": t})
    s = predict.score_forecast(predict.forecast(ds, EVENT, cutoff=0.25, predictor=predict.SigmoidJump(n_boot=32)), ds)
    assert float(s.auroc) > 0.9 and float(s.base_rate) == 0.5, float(s.auroc)


def test_cutoff_and_target_validation():
    ds, _ = power_law_run(n=10)
    with pytest.raises(ValueError, match="fraction"):
        predict.forecast(ds, predict.Value(metric="loss"), cutoff=1.5, predictor=predict.LastValue())
    with pytest.raises(ValueError, match="window"):
        predict.forecast(ds, predict.Value(metric="loss"), cutoff=4, predictor=predict.LastValue())
    with pytest.raises(ValueError, match="no metric"):
        predict.forecast(ds, predict.Value(metric="acc"), cutoff=0.3, predictor=predict.LastValue())
    with pytest.raises(ValueError, match="direction"):
        predict.Event(metric="loss", threshold=0.1, direction="sideways")


def test_config_split_can_calibrate_on_held_out_seeds_of_seen_configs():
    ds = jump_run(n_cfg=6, seeds=10)
    test_lr = list(ds.lr.values[[1, 4]])
    split = predict.split_members(ds, by="lr", test=test_lr, calibrate_by="seed", key=0)
    is_test = split.lr.isin(test_lr)
    assert bool((split.where(is_test) == "test").where(is_test, True).all())
    seen = split.where(~is_test, drop=True)
    assert set(np.unique(seen.values)) == {"fit", "calibrate"}
    assert bool(((seen == "fit").all("lr") | (seen == "calibrate").all("lr")).all())  # by seed


def test_alarms_over_successive_cutoffs_trade_lead_time_for_false_alarms():
    ds = jump_run()
    split = predict.split_members(ds, by="seed", key=1)
    pred = predict.Population(signals=("weight_norm",), hyperparameters=False)
    fcs = [predict.forecast(ds, EVENT, cutoff=c, split=split, predictor=pred) for c in (0.1, 0.15, 0.2)]
    curve = predict.alarm_curve(fcs, ds)
    assert int(curve.n_scored) > 0
    far, hit = curve.false_alarm.values, curve.hit_rate.values
    assert (np.diff(far) <= 1e-12).all() and (np.diff(hit) <= 1e-12).all()  # stricter: fewer alarms
    ok = far <= 0.1
    assert ok.any() and float(curve.lead[ok].max()) > 0 and float(curve.hit_rate[ok].max()) > 0.8
    with pytest.raises(ValueError, match="used to fit or calibrate"):
        predict.alarm_curve(fcs, ds, members=split == "calibrate")


def test_a_diverged_member_is_counted_missing_not_averaged_in():
    ds, _ = power_law_run(n=30)
    broken = ds.copy(deep=True)
    broken["loss"][0, 5:] = np.nan  # member 0 diverges inside the window
    target = predict.Value(metric="loss")
    a = predict.forecast(ds, target, cutoff=0.3, predictor=predict.PowerLaw(n_boot=50))
    b = predict.forecast(broken, target, cutoff=0.3, predictor=predict.PowerLaw(n_boot=50))
    assert np.isnan(b.quantiles[0]).all()
    np.testing.assert_allclose(a.quantiles[1:], b.quantiles[1:])  # the others do not move
    s = predict.score_forecast(b, ds)
    assert int(s.n_missing) == 1 and int(s.n_scored) == 30 and np.isfinite(float(s.crps))


def test_a_theory_function_sees_only_the_window():
    ds = jump_run(n_cfg=4, seeds=20)
    split = predict.split_members(ds, by="seed", key=0)
    seen = []

    def clock(window):
        seen.append(float(window.step.max()))
        return 900.0 / window.lr

    predict.forecast(ds, EVENT, cutoff=0.2, split=split, theory=clock, predictor=predict.theory_only())
    assert seen == [200.0]
