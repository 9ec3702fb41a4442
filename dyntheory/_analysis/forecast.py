"""Forecast each member's outcome from its early training, and score forecasts on held-out members.

:func:`forecast` reads a run's metrics up to a cutoff (a step, or a fraction of training) and
predicts, per member, either a metric's later value (:class:`Value`, as quantiles) or a
transition (:class:`Event`, as a probability that it happens by the end of the run plus
quantiles of its time given that it does). Predictors: curve-only families fitted to each
member's own window (``forecast_curves``), or a population-learned predictor fitted on some
members' outcomes and calibrated on others (``forecast_learned``), optionally with a theory's
value as a feature or as the forecast itself.

:func:`score_forecast` scores a forecast on members that neither fitted nor calibrated it, and
raises if asked to score one that did. :func:`compare_forecasts` gives a paired bootstrap
interval for the difference between two predictors on the same members.

Example:
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(0.0, 101.0)
    >>> rng = np.random.default_rng(0)
    >>> loss = 0.2 + (t + 1) ** -0.5 + 0.005 * rng.standard_normal((40, t.size))
    >>> ds = xr.Dataset({"loss": (("seed", "step"), loss)}, coords={"step": t})
    >>> fc = forecast(ds, Value(metric="loss"), cutoff=0.3, predictor=PowerLaw(n_boot=32))
    >>> s = score_forecast(fc, ds)
    >>> bool(0.6 <= float(s.coverage_90) <= 1.0), int(s.n_scored)
    (True, 40)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import xarray as xr

from dyntheory._analysis import forecast_score as fs
from dyntheory._analysis.forecast_curves import (Exponential, LastValue, PowerLaw, SigmoidJump,
                                                 curve_forecast, first_crossing)
from dyntheory._analysis.forecast_learned import Population
from dyntheory._analysis.forecast_targets import Event, Members, Value, Window, outcome
from dyntheory._analysis.forecast_intervals import cluster_labels
from dyntheory._analysis.stats import bootstrap_ci

__all__ = ["LEVELS", "alarm_curve", "compare_forecasts", "forecast", "score_forecast"]

LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # 19 levels: 50% and 90% intervals among them
Predictor = LastValue | PowerLaw | Exponential | SigmoidJump | Population


def _cutoff_step(cutoff: float | int, steps: np.ndarray) -> float:
    if isinstance(cutoff, (bool, np.bool_)):
        raise TypeError(f"forecast: cutoff must be a step (int) or a fraction (float), got {cutoff!r}")
    if isinstance(cutoff, (int, np.integer)):
        return float(cutoff)
    if not 0.0 < float(cutoff) < 1.0:
        raise ValueError(f"forecast: a float cutoff is a fraction of training in (0, 1), got {cutoff!r}; "
                         f"pass an int for a step")
    return float(steps[0] + cutoff * (steps[-1] - steps[0]))


def _target_json(target: Value | Event) -> str:
    return json.dumps({"kind": type(target).__name__, **dataclasses.asdict(target)})


def _target_from(attrs: dict) -> Value | Event:
    d = json.loads(attrs["target"])
    return {"Value": Value, "Event": Event}[d.pop("kind")](**d)


def forecast(metrics: xr.Dataset, target: Value | Event, *, cutoff: float | int,
             predictor: Predictor, split: xr.DataArray | None = None,
             theory: xr.DataArray | Callable[[xr.Dataset], xr.DataArray] | None = None,
             levels: np.ndarray = LEVELS, seed: int = 0) -> xr.Dataset:
    """Forecast ``target`` for every member from its metrics up to ``cutoff``.

    Args:
        metrics: a run's metrics, dims ``(*sweep axes, seed, step)`` (``dt.train(...).metrics``).
        target: a :class:`Value` or an :class:`Event`.
        cutoff: the last step the predictor may read: an int step, or a float fraction of
            training in (0, 1).
        predictor: a curve family (``LastValue``, ``PowerLaw``, ``Exponential``,
            ``SigmoidJump``) or a ``Population`` predictor (which needs ``split``).
        split: each member's role (``split_members``); a population predictor reads the
            outcomes of ``"fit"`` and ``"calibrate"`` members only.
        theory: a theory's value per member, or a function of the window (the metrics up to
            the cutoff) returning it; used by predictors built with ``theory=True``.
        levels: quantile levels of the forecast, increasing in (0, 1).
        seed: seed of the bootstrap.

    Returns:
        A Dataset over the member dims: ``quantiles`` (+ ``level``) for a Value; ``p_event`` and
        ``t_quantiles`` (+ ``level``, given the event) for an Event; and ``role``, ``at_risk``
        (the event had not happened by the cutoff) and ``used`` (the predictor read this
        member's outcome). Members already past an Event's threshold at the cutoff get
        ``p_event = 1`` and their observed crossing time.
    """
    if not isinstance(target, (Value, Event)):
        raise TypeError(f"forecast: target must be a Value or an Event, got {type(target).__name__}")
    steps = np.asarray(metrics["step"].values, dtype=float)
    cut = _cutoff_step(cutoff, steps)
    inside = steps <= cut
    if inside.sum() < 4 or inside.all():
        raise ValueError(f"forecast: cutoff {cut:g} leaves {int(inside.sum())} of {steps.size} records in "
                         f"the window; need at least 4 before it and one after")
    levels = fs._check_levels(levels)
    members = Members.of(metrics)
    values = {k: members.flat(v.isel(step=np.flatnonzero(inside))).astype(float)
              for k, v in metrics.data_vars.items() if "step" in v.dims}
    role = np.full(members.n, "", dtype=object)
    if split is not None:
        role = members.flat(split).astype(object)
        bad = set(np.unique(role)) - {"fit", "calibrate", "test"}
        if bad:
            raise ValueError(f"forecast: split roles must be 'fit', 'calibrate' or 'test', got {sorted(bad)}")
    learned = isinstance(predictor, Population)
    if learned and split is None:
        raise ValueError("forecast: a Population predictor learns from some members and is scored on "
                         "others; pass split=split_members(...)")
    seen = np.isin(role, ["fit", "calibrate"]) if learned else np.zeros(members.n, bool)
    truth = outcome(metrics, target)
    y = happened = t_event = np.full(members.n, np.nan)
    if isinstance(target, Value):
        y = np.where(seen, members.flat(truth.y), np.nan)
        happened = np.zeros(members.n, bool)
    else:
        happened = seen & members.flat(truth.happened).astype(bool)
        t_event = np.where(happened, members.flat(truth.t_event), np.nan)
    th = None
    if theory is not None:
        th_da = theory(metrics.isel(step=np.flatnonzero(inside))) if callable(theory) else theory
        th = members.flat(th_da).astype(float)
    win = Window(target=target, steps=steps[inside], future=steps[~inside], cutoff=cut, values=values,
                 hyperparameters=members.hyperparameters(), theory=th, role=np.asarray(role, str),
                 y=y, happened=happened, t_event=t_event, levels=levels, seed=seed)
    out = predictor.predict(win) if learned else curve_forecast(predictor, win)
    lev = {"level": levels}
    ds = xr.Dataset({"role": members.unflat(win.role), "at_risk": members.unflat(win.at_risk),
                     "used": members.unflat(seen)})
    if isinstance(target, Value):
        ds["quantiles"] = members.unflat(out["quantiles"], ("level",)).assign_coords(lev)
    else:
        risk = win.at_risk
        v = values[target.metric]
        t_seen = first_crossing(v, win.steps, target.threshold, target.direction == "up")
        p = np.where(risk, out["p_event"], 1.0)
        tq = np.where(risk[:, None], out["t_quantiles"], t_seen[:, None])
        ds["p_event"] = members.unflat(p)
        ds["t_quantiles"] = members.unflat(tq, ("level",)).assign_coords(lev)
    ds.attrs.update(predictor=predictor.name, cutoff=cut, last_step=float(steps[-1]),
                    target=_target_json(target), split_by=(split.attrs.get("by", "") if split is not None else ""))
    return ds


def _scored(fc: xr.Dataset, members: xr.DataArray | None) -> xr.DataArray:
    if members is None:
        has_split = (fc.role != "").any()
        members = fc.role == "test" if has_split else xr.ones_like(fc.used, dtype=bool)
    members = members.astype(bool).broadcast_like(fc.used)
    leak = members & fc.used
    if bool(leak.any()):
        raise ValueError(f"score_forecast: {int(leak.sum())} scored members were used to fit or "
                         f"calibrate the predictor ({fc.attrs['predictor']}); score held-out members only")
    return members


def score_forecast(fc: xr.Dataset, metrics: xr.Dataset, *, members: xr.DataArray | None = None,
                   thresholds: np.ndarray | None = None, max_false_alarm: float = 0.1,
                   alarm_threshold: float = 0.5) -> xr.Dataset:
    """Score a forecast against the run's outcomes, on held-out members only.

    Args:
        fc: :func:`forecast`'s output.
        metrics: the run's metrics (the outcomes are read from them).
        members: which members to score (a boolean DataArray); default: the ``"test"`` role
            when the forecast has a split, else every member.
        thresholds: alarm thresholds for the Event lead-time curve (default 0.05 .. 0.95).
        max_false_alarm: the false-alarm rate at which ``median_lead`` is read.
        alarm_threshold: the alarm threshold at which ``median_lead`` is read instead when every
            scored member has the event (a false-alarm rate is then undefined); one of
            ``thresholds``.

    Returns:
        Scalars: ``n_scored``; for a Value ``crps``, ``log_score`` (negative log density),
        ``coverage_50``, ``coverage_90`` (a missing forecast, e.g. of a diverged member, counts
        as a miss in coverage and is left out of the means; ``n_missing`` counts them); for an Event (over scored members at risk at the
        cutoff) ``auroc``, ``log_score`` (binary), ``brier``, ``base_rate``, ``median_lead``
        (steps from the cutoff to the event, over hits, at the lowest threshold whose false
        alarms stay within ``max_false_alarm``; when every scored member has the event, at
        ``alarm_threshold``: ``attrs["lead_basis"]`` says which, see
        :func:`~dyntheory._analysis.forecast_score.read_lead`) with its 95% bootstrap interval
        ``median_lead_lo``, ``median_lead_hi``, the threshold ``median_lead_threshold`` and
        ``n_lead_hits``, and for the time given the event ``crps_time``,
        ``coverage_50`` and ``coverage_90`` (a missing time forecast counts as a miss). Per
        member (NaN where not scored): ``member_<score>``, ``member_cover_50``, ``member_cover_90``. Per threshold: ``false_alarm``,
        ``hit_rate``, ``lead``.

    Raises:
        ValueError: a scored member was used to fit or calibrate the predictor.
    """
    target = _target_from(fc.attrs)
    scored = _scored(fc, members)
    truth = outcome(metrics, target)
    levels = fc.level.values
    out = xr.Dataset(attrs={"predictor": fc.attrs["predictor"], "cutoff": fc.attrs["cutoff"]})
    if isinstance(target, Value):
        q = fc.quantiles.transpose(..., "level").values
        y = truth.y.broadcast_like(fc.used).values.astype(float)
        per = {"crps": fs.crps_quantiles(q, levels, y), "log_score": fs.log_score_quantiles(q, levels, y),
               "cover_50": fs.coverage(q, levels, y, 0.5), "cover_90": fs.coverage(q, levels, y, 0.9)}
        sel = scored.values & np.isfinite(y)
        for k, v in per.items():
            out[f"member_{k}"] = fc.used.copy(data=np.where(sel, v, np.nan))
        out["crps"], out["log_score"] = np.nanmean(per["crps"][sel]), np.nanmean(per["log_score"][sel])
        out["coverage_50"], out["coverage_90"] = per["cover_50"][sel].mean(), per["cover_90"][sel].mean()
        out["n_scored"] = int(sel.sum())
        out["n_missing"] = int((sel & ~np.isfinite(q).all(-1)).sum())  # in n_scored; CRPS skips them
        out["reliability"] = xr.DataArray(fs.reliability_quantiles(q[sel], levels, y[sel]), dims="level",
                                          coords={"level": levels})
        return out
    happened = truth.happened.broadcast_like(fc.used).values.astype(bool)
    t_event = truth.t_event.broadcast_like(fc.used).values.astype(float)
    sel = scored.values & fc.at_risk.values
    p = fc.p_event.values
    out["n_scored"] = int(sel.sum())
    out["base_rate"] = happened[sel].mean() if sel.any() else np.nan
    out["auroc"] = fs.auroc(p[sel], happened[sel])
    ls = fs.log_score_binary(p, happened)
    out["log_score"] = ls[sel].mean() if sel.any() else np.nan
    out["brier"] = ((p - happened) ** 2)[sel].mean() if sel.any() else np.nan
    out["member_p_event"] = fc.used.copy(data=np.where(sel, p, np.nan))
    out["member_happened"] = fc.used.copy(data=np.where(sel, happened, np.nan))
    hs = np.round(np.arange(0.05, 0.951, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    curve = fs.lead_time_curve(p[sel][:, None], happened[sel], t_event[sel],
                               np.array([fc.attrs["cutoff"]]), hs)
    for k, v in (("false_alarm", "false_alarm"), ("hit_rate", "hit_rate"), ("lead", "median_lead")):
        out[k] = xr.DataArray(curve[v], dims="threshold", coords={"threshold": hs})
    lead = fs.read_lead(curve, hs, max_false_alarm=max_false_alarm, alarm_threshold=alarm_threshold)
    for k, v in (("median_lead", "median_lead"), ("median_lead_lo", "lo"), ("median_lead_hi", "hi")):
        out[k] = lead[v]
    out["median_lead_threshold"], out["n_lead_hits"] = lead["threshold"], lead["n_hits"]
    out.attrs["lead_basis"] = lead["basis"]
    ev = sel & happened
    tq = fc.t_quantiles.transpose(..., "level").values
    crps_t = fs.crps_quantiles(tq, levels, t_event)
    cov = {w: np.where(np.isfinite(tq).all(-1), fs.coverage(np.nan_to_num(tq), levels, t_event, w), 0.0)
           for w in (0.5, 0.9)}
    out["member_crps_time"] = fc.used.copy(data=np.where(ev, crps_t, np.nan))
    for w in (0.5, 0.9):
        out[f"member_cover_{w * 100:.0f}"] = fc.used.copy(data=np.where(ev, cov[w], np.nan))
    out["crps_time"] = np.nanmean(crps_t[ev]) if np.isfinite(crps_t[ev]).any() else np.nan
    out["coverage_50"] = cov[0.5][ev].mean() if ev.any() else np.nan
    out["coverage_90"] = cov[0.9][ev].mean() if ev.any() else np.nan
    out["n_events"] = int(ev.sum())
    out["reliability"] = xr.DataArray(fs.reliability_quantiles(tq[ev], levels, t_event[ev]), dims="level",
                                      coords={"level": levels})
    rb = fs.reliability_binary(p[sel], happened[sel])
    for k, v in rb.items():
        out[f"p_bin_{k}"] = xr.DataArray(v, dims="p_bin", coords={"p_bin": (np.arange(10) + 0.5) / 10})
    out["n_time_missing"] = int((ev & ~np.isfinite(tq).all(-1)).sum())
    return out


def compare_forecasts(a: xr.Dataset, b: xr.Dataset, *, on: str = "crps", n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0, cluster: str | None = None
                      ) -> tuple[float, float, float]:
    """``score(a) - score(b)`` on the members both scored, with a paired bootstrap interval.

    Args:
        a, b: :func:`score_forecast` outputs of two predictors on the same members.
        on: ``"crps"``, ``"log_score"``, ``"crps_time"`` (means over members; lower is better)
            or ``"auroc"`` (higher is better).
        cluster: a member dim (e.g. ``"seed"``) whose members the bootstrap resamples together:
            members that share a seed's random streams are not independent, and resampling
            them one by one gives too narrow an interval. None: members are independent.

    Returns:
        ``(estimate, lo, hi)``.
    """
    if on == "auroc":
        pa, pb, ya = (s[k].values.ravel() for s, k in ((a, "member_p_event"), (b, "member_p_event"),
                                                        (a, "member_happened")))
        if not np.array_equal(np.isfinite(pa), np.isfinite(pb)):
            raise ValueError("compare_forecasts: the two scores cover different members")
        keep = np.isfinite(pa)
        lab = ya[keep].astype(bool)
        groups = None if cluster is None else cluster_labels(a["member_p_event"], cluster)[keep]
        return fs.paired_difference((pa[keep], lab), (pb[keep], lab), stat=fs.auroc, n_boot=n_boot,
                                    level=level, seed=seed, groups=groups)
    va, vb = a[f"member_{on}"].values.ravel(), b[f"member_{on}"].values.ravel()
    if on != "crps_time" and not np.array_equal(np.isfinite(va), np.isfinite(vb)):
        raise ValueError(f"compare_forecasts: the two scores cover different members for {on!r}")
    groups = None if cluster is None else cluster_labels(a[f"member_{on}"], cluster)
    return fs.paired_difference(va, vb, n_boot=n_boot, level=level, seed=seed, groups=groups)


def alarm_curve(forecasts: list[xr.Dataset], metrics: xr.Dataset, *,
                members: xr.DataArray | None = None, thresholds: np.ndarray | None = None
                ) -> xr.Dataset:
    """Lead time against false alarms for the rule "alarm at the first cutoff where p >= h".

    Args:
        forecasts: :func:`forecast` outputs of one Event, predictor and split at increasing
            cutoffs (e.g. 5%, 10%, 15% of training).
        metrics: the run's metrics.
        members: members to score (default: as :func:`score_forecast`); restricted to those at
            risk at the first cutoff. Raises if any was used to fit or calibrate a forecast.
        thresholds: alarm thresholds (default 0.05 .. 0.95).

    Returns:
        Per threshold: ``false_alarm`` (members without the event that ever alarm; NaN when
        every scored member has the event, for then no alarm can be false and the rate is
        undefined: the curve is then lead against hit rate), ``hit_rate`` (members with the
        event that alarm before it) and ``lead`` (median steps from the alarm to the event over
        hits) with its 95% bootstrap interval ``lead_lo``, ``lead_hi``; ``n_scored``,
        ``n_events``. ``attrs["false_alarm_defined"]`` says whether any member lacked the event.
    """
    if not forecasts:
        raise ValueError("alarm_curve: no forecasts")
    cuts = np.array([f.attrs["cutoff"] for f in forecasts])
    if not (np.diff(cuts) > 0).all():
        raise ValueError(f"alarm_curve: cutoffs must increase, got {cuts}")
    target = _target_from(forecasts[0].attrs)
    if not isinstance(target, Event) or any(f.attrs["target"] != forecasts[0].attrs["target"]
                                            for f in forecasts):
        raise ValueError("alarm_curve: forecasts must share one Event target")
    scored = np.ones(forecasts[0].used.shape, bool)
    for f in forecasts:
        scored &= _scored(f, members).values
    scored &= forecasts[0].at_risk.values
    truth = outcome(metrics, target)
    happened = truth.happened.broadcast_like(forecasts[0].used).values.astype(bool)[scored]
    t_event = truth.t_event.broadcast_like(forecasts[0].used).values.astype(float)[scored]
    p = np.stack([f.p_event.values[scored] for f in forecasts], -1)
    hs = np.round(np.arange(0.05, 0.951, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    c = fs.lead_time_curve(p, happened, t_event, cuts, hs)
    out = xr.Dataset({"false_alarm": ("threshold", c["false_alarm"]), "hit_rate": ("threshold", c["hit_rate"]),
                      "lead": ("threshold", c["median_lead"])}, coords={"threshold": hs})
    if happened.any():
        ci = bootstrap_ci(c["member_lead"], axis=-1, stat=np.median, n_boot=2000, nan_policy="omit")
    else:
        ci = (np.full(hs.size, np.nan),) * 3
    out["lead_lo"] = ("threshold", np.atleast_1d(ci[1]))
    out["lead_hi"] = ("threshold", np.atleast_1d(ci[2]))
    out["n_scored"], out["n_events"] = int(scored.sum()), int(happened.sum())
    out.attrs.update(predictor=forecasts[0].attrs["predictor"], cutoffs=list(cuts),
                     false_alarm_defined=int((~happened).any()))
    return out
