"""Lead time of event forecasts: read at a false-alarm rate when that is defined, at a stated alarm
threshold when every member has the event, never a silent NaN or a misleading number."""

import numpy as np
import pytest
import xarray as xr

from dyntheory import predict
from dyntheory._analysis import forecast_score as fs

HS = np.round(np.arange(0.05, 0.951, 0.05), 2)
EVENT = predict.Event(metric="test_acc", threshold=0.9)


def _read(p, happened, t_event, cutoff=100.0, **kw):
    curve = predict.lead_time_curve(np.asarray(p)[:, None], happened, t_event, np.array([cutoff]), HS)
    kw = {"max_false_alarm": 0.1, "alarm_threshold": 0.5, **kw}
    return curve, fs.read_lead(curve, HS, **kw)


def test_every_member_has_the_event_reads_the_lead_at_the_alarm_threshold():
    rng = np.random.default_rng(0)
    n = 400
    t_event = rng.uniform(200, 1000, n)
    p = rng.uniform(0, 1, n)
    curve, lead = _read(p, np.ones(n, bool), t_event)
    assert np.isnan(curve["false_alarm"]).all()  # undefined, not 0: no alarm can be false
    assert lead["basis"] == "alarm_threshold" and lead["threshold"] == 0.5
    hits = p >= 0.5
    assert lead["n_hits"] == hits.sum()
    assert lead["median_lead"] == pytest.approx(np.median(t_event[hits] - 100.0))
    assert lead["hit_rate"] == pytest.approx(hits.mean())
    assert np.isnan(lead["false_alarm"])
    assert lead["lo"] < lead["median_lead"] < lead["hi"]
    # planted: lead ~ U(100, 900), true median 500; the interval holds it and narrows like 1/sqrt(n)
    assert lead["lo"] < 500 < lead["hi"]
    _, big = _read(np.ones(16 * n), np.ones(16 * n, bool), rng.uniform(200, 1000, 16 * n))
    ratio = (lead["hi"] - lead["lo"]) / (big["hi"] - big["lo"])
    assert 2.0 < ratio * np.sqrt(hits.sum() / n) < 8.0, ratio  # ~4 = sqrt(16) at equal hit counts
    # another stated threshold reads there
    _, at8 = _read(p, np.ones(n, bool), t_event, alarm_threshold=0.8)
    assert at8["threshold"] == 0.8 and at8["n_hits"] == (p >= 0.8).sum()


def test_with_members_without_the_event_the_lead_is_read_at_the_false_alarm_rate():
    rng = np.random.default_rng(1)
    n = 600
    happened = rng.random(n) < 0.5
    # members with the event score high; false alarms fall below 10% above p = 0.6 only
    p = np.where(happened, rng.uniform(0.3, 1.0, n), rng.uniform(0.0, 0.66, n))
    t_event = np.where(happened, rng.uniform(200, 1000, n), np.nan)
    curve, lead = _read(p, happened, t_event)
    assert lead["basis"] == "false_alarm"
    i = int(np.flatnonzero(curve["false_alarm"] <= 0.1)[0])
    assert lead["threshold"] == HS[i] and lead["false_alarm"] <= 0.1 < curve["false_alarm"][i - 1]
    hits = happened & (p >= HS[i])
    assert lead["median_lead"] == pytest.approx(np.median(t_event[hits] - 100.0))
    assert lead["lo"] <= lead["median_lead"] <= lead["hi"]
    # a bound no threshold meets gives NaN with the basis still stated
    p[np.flatnonzero(~happened)[0]] = 0.99  # a sure false alarm at every threshold
    _, none = _read(p, happened, t_event, max_false_alarm=0.0)
    assert none["basis"] == "false_alarm" and np.isnan(none["median_lead"]) and np.isnan(none["threshold"])


def test_no_member_with_the_event_has_no_lead():
    _, lead = _read(np.full(50, 0.7), np.zeros(50, bool), np.full(50, np.nan))
    assert lead["basis"] == "no_events" and np.isnan(lead["median_lead"]) and lead["n_hits"] == 0


def test_an_alarm_threshold_off_the_grid_is_refused_by_name():
    with pytest.raises(ValueError, match="alarm_threshold=0.42"):
        _read(np.ones(5), np.ones(5, bool), np.full(5, 300.0), alarm_threshold=0.42)


def _always_run(n_cfg=4, seeds=40, seed=0):
    """Every member's test accuracy jumps (to 1) between steps 300 and 950, after a 20% cutoff."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 1001.0, 10.0)
    t0 = rng.uniform(300, 900, (n_cfg, seeds))
    acc = 0.02 + 0.98 / (1 + np.exp(-(t - t0[..., None]) / 15.0))
    norm = 10 * np.exp(-2 * t / t0[..., None]) + 1
    dims = ("lr", "seed", "step")
    coords = {"lr": np.geomspace(0.5, 2.0, n_cfg), "seed": np.arange(seeds), "step": t}
    return xr.Dataset({"test_acc": (dims, acc), "weight_norm": (dims, norm)}, coords=coords)


def test_score_forecast_and_alarm_curve_say_what_they_report_when_every_member_has_the_event():
    ds = _always_run()
    split = predict.split_members(ds, by="seed", key=0)
    pred = predict.Population(signals=("weight_norm",), hyperparameters=False)
    fc = predict.forecast(ds, EVENT, cutoff=0.2, split=split, predictor=pred)
    s = predict.score_forecast(fc, ds)
    truth = predict.outcome(ds, EVENT)
    assert float(s.base_rate) == 1.0 and np.isnan(s.false_alarm).all()
    assert s.attrs["lead_basis"] == "alarm_threshold" and float(s.median_lead_threshold) == 0.5
    hits = (split == "test") & fc.at_risk & (fc.p_event >= 0.5)
    want = float((truth.t_event - fc.attrs["cutoff"]).where(hits).median())
    assert int(s.n_lead_hits) == int(hits.sum()) > 0
    assert float(s.median_lead) == pytest.approx(want)
    assert float(s.median_lead_lo) <= want <= float(s.median_lead_hi)
    curve = predict.alarm_curve([predict.forecast(ds, EVENT, cutoff=c, split=split, predictor=pred)
                                 for c in (0.15, 0.2)], ds)
    assert curve.attrs["false_alarm_defined"] == 0 and np.isnan(curve.false_alarm).all()
    assert int(curve.n_events) == int(curve.n_scored) > 0
    ok = np.isfinite(curve.lead)
    assert ok.any() and bool(((curve.lead_lo <= curve.lead) & (curve.lead <= curve.lead_hi))[ok].all())
