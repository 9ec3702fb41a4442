"""Forecast the sparse-parity transition step from hidden progress, before the loss moves.

Experiment: the set-up of ``sims/sparse_parity.py`` (a one-hidden-layer ReLU MLP learns an
``(n, 3)``-sparse parity by online SGD, recording its :class:`~sims.sparse_parity.RelevantMass`:
the share of the first layer's squared weight norm on the ``k`` relevant inputs), over ``n_bits``
x seeds. The transition is the test accuracy reaching 0.9 (``dt.transition_times``). At a cutoff
of 12.5% of training (step 250 of 2,000), when the test accuracy of 64 of 72 members is still at
chance (below ``0.5 + sparse_parity.CHANCE_TOL`` at every record), every predictor forecasts each
member's transition step as quantiles (``dyntheory.predict``, Event target):

- ``hidden``: conformalized quantile regression on the relevant mass's window (level at the
  cutoff and its growth) and ``n`` (the weight signal of Barak et al.'s hidden progress);
- ``mass_only``: the same without ``n``;
- ``config``: ``n`` alone (what the hyperparameters say; the population's spread around it);
- ``loss_curve``: the loss and accuracy curves' windows and ``n`` (what the visible curves say);
- ``hidden_norms``: ``hidden`` plus the parameter and gradient norms;
- ``sigmoid``: curve-only, a plateau-then-jump sigmoid fitted to each member's test accuracy.

Two splits: held-out seeds (``seed``) and held-out ``n`` (``config``: ``n = 12`` unseen,
calibrated on seeds of the other ``n``). Scores on held-out members only.

Measured (``check`` prints every number; small size, 72 members, ~15 s): held-out seeds (21
members): CRPS of the transition step ``hidden`` 145 steps, ``mass_only`` 150, ``loss_curve``
166, ``config`` 183, ``sigmoid`` 221; paired difference ``hidden - config`` -38 [-64, -12]
steps, ``hidden - sigmoid`` -76 [-122, -24]; 90% coverage 19/21. Unseen ``n = 12`` (24
members): ``hidden`` 115, ``config`` 156, ``loss_curve`` 159, ``sigmoid`` 222; ``hidden -
config`` -40 [-63, -21]; coverage 22/24. Lead, over held-out members at chance at the cutoff:
the transition comes a median 804 [486, 1000] steps (seeds) and 548 [512, 647] steps (unseen
``n``) after the forecast, the test accuracy starts to move 472 [158, 720] and 297 [221, 412]
steps after it, and the forecast median's error (median 172 and 77 steps) is far below the lead.
(These small-size intervals resampled members; ``check`` now resamples seeds, slightly wider.)

Failures reported: against the learned loss-curve predictor the hidden signal's margin is not
resolved on held-out seeds at small size (``hidden - loss_curve`` -21 [-44, 3] steps; -44 [-67,
-21] on unseen ``n``): the training loss already drifts below ``log 2`` for some members at the
cutoff, so the visible curves carry part of the same information; this is printed in the
details, not claimed. The norms add nothing: ``hidden_norms`` scores 155 and 123 against 145 and
115 without them (more features, 29 fit members). The sigmoid fitted to a flat test accuracy
cannot see the transition coming (the worst CRPS, 90% coverage 0.86). Every member of this run
transitions by the end, so AUROC and false-alarm rates are undefined here: the lead is reported
as time ahead against forecast error instead, and ``score_forecast``'s median lead is read at
the alarm threshold 0.5 (its ``lead_basis`` is ``"alarm_threshold"``), not at a false-alarm rate.

Paper size (``n`` = 10..14 x 240 seeds = 1,200 members, 2,500 steps, cutoff step 250; 13 min
on 2 CPU cores shared with other jobs, key 0): held-out seeds (300 members): CRPS ``hidden`` 114
steps, ``hidden_norms`` 113, ``mass_only`` 115, ``loss_curve`` 128, ``config`` 137, ``sigmoid``
215; ``hidden - config`` -23 [-30, -16], ``hidden - sigmoid`` -101 [-116, -86], and at this size
``hidden - loss_curve`` is resolved, -14 [-21, -7]. Unseen ``n`` = 11, 13 (480): ``hidden`` 104,
``loss_curve`` 119, ``config`` 126, ``sigmoid`` 211; ``hidden - config`` -22 [-27, -18]. Lead:
the transition comes a median 517 [486, 559] (seeds) and 508 [488, 533] (unseen ``n``) steps
after the cutoff, the accuracy moves 279 and 280 steps after it, the forecast median errs by a
median 102 and 97 steps; ``score_forecast``'s lead at the alarm threshold 0.5 is 489 [464, 537]
and 492 [472, 516] steps. Intervals resample whole seeds: one seed's log transition steps
correlate at 0.25-0.75 across ``n``.

Known at paper size (``KNOWN``), the 90% coverage target (±0.05) is missed both ways: held-out
seeds 0.84 [0.78, 0.89] (Wilson over members [0.79, 0.88]), unseen ``n`` 0.94 [0.92, 0.96].
Re-dealing the seeds (split keys 1-5, same run) gives 0.93, 0.88, 0.93, 0.88, 0.92 on held-out
seeds (mean of six 0.90): the conformal guarantee is marginal over the calibration draw, and 60
calibration seeds whose members share their luck leave one draw's coverage spread by ~±0.05, so
a single split cannot verify ±0.05. On unseen ``n`` all six draws over-cover (0.91-0.94):
calibrated on other ``n``, the intervals are wider than the unseen ones need.

Choices: small size deals seeds 40/30/30 so that ~7 seeds x 3 ``n`` (21 members) calibrate the
90% interval (9 needed). Coverage tolerance ±0.25 at small size (21-24 scored members, Wilson
half-width ~0.13), ±0.05 at paper size (240 seeds, so that the Wilson half-width at 300 and 480
scored members, 0.03-0.04, could resolve it; 80 seeds, 100 and 160 members, could not).

Reference: B. Barak, B. L. Edelman, S. Goel, S. Kakade, E. Malach, C. Zhang (2022), "Hidden
Progress in Deep Learning: SGD Learns Parities Near the Computational Limit", arXiv:2207.08799.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import predict
from sims import sparse_parity as sp
from theory import sparse_parity as theory

__all__ = ["KNOWN", "PAPER", "PREDICTORS", "SIZES", "SMALL", "SPLITS", "Config", "analyse", "check",
           "lead", "run", "scores"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """An ``n_bits`` grid of sparse parities, ``seeds`` per ``n``, forecast from ``cutoff``."""

    parity: sp.Config  # the sparse_parity set-up (model, task, steps, records)
    held_out_n: tuple[int, ...]  # the unseen configurations of the "config" split
    fractions: tuple[float, float, float]  # fit, calibrate, test shares of the seeds
    cutoff: float  # fraction of training the predictors may read
    coverage_tol: float  # half-width allowed around 0.9 for the 90% interval coverage


SMALL = Config(parity=dataclasses.replace(sp.SMALL, n_bits=(10, 12, 14), seeds=24, steps=2000),
               held_out_n=(12,), fractions=(0.4, 0.3, 0.3), cutoff=0.125, coverage_tol=0.25)
PAPER = Config(parity=dataclasses.replace(sp.SMALL, n_bits=(10, 11, 12, 13, 14), seeds=240, steps=2500),
               held_out_n=(11, 13), fractions=(0.5, 0.25, 0.25), cutoff=0.1, coverage_tol=0.05)
SIZES = {"small": SMALL, "paper": PAPER}
EVENT = predict.Event(metric="test_acc", threshold=sp.THRESHOLD)
KNOWN = (
    dt.Known(name="coverage90_seed", direction="below", sizes=("paper",),
             reason="one calibration draw (key 0) under-covers, 0.84; keys 1-5 give 0.93, 0.88, 0.93, 0.88, "
                    "0.92 (mean of six 0.90): conformal coverage is marginal over the calibration draw",
             where="sims/parity_forecast.py, module docstring"),
    dt.Known(name="coverage90_config", direction="above", sizes=("paper",),
             reason="calibrated on seeds of the seen n, the 90% intervals over-cover the unseen n = 11, 13 "
                    "(0.91-0.94 over six split draws): configurations are not exchangeable",
             where="sims/parity_forecast.py, module docstring"),
)
# One seed's members share its streams at every n (their log transition steps correlate at
# 0.25-0.75 across n at paper size): intervals resample whole seeds, not members.
CLUSTER = "seed"
PREDICTORS = {
    "hidden": predict.Population(signals=("relevant_mass",), hyperparameters=True, ridge=0.1,
                                 name="hidden"),
    "mass_only": predict.Population(signals=("relevant_mass",), hyperparameters=False, ridge=0.1,
                                    name="mass_only"),
    "config": predict.Population(signals=(), hyperparameters=True, ridge=0.1, name="config"),
    "loss_curve": predict.Population(signals=("train_loss", "test_loss", "test_acc"),
                                     hyperparameters=True, ridge=0.1, name="loss_curve"),
    "hidden_norms": predict.Population(signals=("relevant_mass", "param_norm", "grad_norm"),
                                       hyperparameters=True, ridge=0.1, name="hidden_norms"),
    "sigmoid": predict.SigmoidJump(n_boot=100),
}
BASELINES = ("config", "sigmoid")  # beaten with a paired interval (verdicts)
SPLITS = ("seed", "config")


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the parities, forecast every member's transition step, return one Dataset."""
    cfg = dt.pick_size(SIZES, size)
    metrics = dt.train(sp.sweep(cfg.parity), key=key, store=store).metrics.sel(k=cfg.parity.ks[0])
    out = analyse(metrics, cfg, key=key)
    return cfg.stamp(out, sim="parity_forecast", size=size, key=key, citation=theory.CITATION,
                     threshold=sp.THRESHOLD)


def _split(ds: xr.Dataset, cfg: Config, by: str, key: int) -> xr.DataArray:
    if by == "seed":
        return predict.split_members(ds, by="seed", fractions=cfg.fractions, key=key)
    return predict.split_members(ds, by="n_bits", test=list(cfg.held_out_n), calibrate_by="seed",
                                 fractions=cfg.fractions, key=key)


def analyse(ds: xr.Dataset, cfg: Config, *, key: int = 0) -> xr.Dataset:
    """Forecasts of every predictor under both splits, stacked over ``split`` and ``predictor``.

    Adds ``p_event``, ``t_quantiles`` (+ ``level``), ``used`` (split, predictor, members),
    ``role`` (split, members), ``t_event`` and ``happened`` (the truth), ``t_leave`` (test accuracy
    first reaches ``0.5 + CHANCE_TOL``: the loss moves) and ``at_chance`` (below that at every
    record up to the cutoff).
    """
    metrics = ds[[v for v in ds.data_vars if "step" in ds[v].dims]]
    fcs, roles = [], []
    for by in SPLITS:
        split = _split(metrics, cfg, by, key)
        per = [predict.forecast(metrics, EVENT, cutoff=cfg.cutoff, predictor=pred, split=split,
                                seed=key)[["p_event", "t_quantiles", "used", "at_risk"]]
               for pred in PREDICTORS.values()]
        fcs.append(xr.concat(per, dim=xr.DataArray(list(PREDICTORS), dims="predictor"),
                             combine_attrs="drop_conflicts"))
        roles.append(split)
    fc = xr.concat(fcs, dim=xr.DataArray(list(SPLITS), dims="split"), combine_attrs="drop_conflicts")
    truth = predict.outcome(metrics, EVENT)
    leave = dt.transition_times(ds.test_acc, threshold=0.5 + sp.CHANCE_TOL).t_cross
    out = ds.assign(p_event=fc.p_event, t_quantiles=fc.t_quantiles, used=fc.used,
                    at_risk=fc.at_risk.isel(split=0, predictor=0, drop=True),
                    role=xr.concat(roles, dim=xr.DataArray(list(SPLITS), dims="split")),
                    t_event=truth.t_event, happened=truth.happened, t_leave=leave,
                    at_chance=(ds.test_acc.sel(step=ds.step <= fc.attrs["cutoff"])
                               < 0.5 + sp.CHANCE_TOL).all("step"))
    out.attrs.update({k: fc.attrs[k] for k in ("cutoff", "target", "last_step")})
    return out


def scores(ds: xr.Dataset, split: str, predictor: str) -> xr.Dataset:
    """``predict.score_forecast`` of one predictor under one split, on the split's test members."""
    role = ds.role.sel(split=split, drop=True)
    fc = xr.Dataset({"p_event": ds.p_event.sel(split=split, predictor=predictor, drop=True),
                     "t_quantiles": ds.t_quantiles.sel(split=split, predictor=predictor, drop=True),
                     "used": ds.used.sel(split=split, predictor=predictor, drop=True), "role": role,
                     "at_risk": ds.at_risk},
                    attrs={"predictor": predictor, "cutoff": ds.attrs["cutoff"],
                           "target": ds.attrs["target"], "last_step": ds.attrs["last_step"]})
    return predict.score_forecast(fc, ds[["test_acc"]], members=role == "test")


def lead(ds: xr.Dataset, split: str, predictor: str = "hidden") -> dict[str, np.ndarray]:
    """Per held-out member at chance at the cutoff (and transitioning): ``lead`` (transition step
    minus cutoff), ``to_move`` (``t_leave`` minus cutoff: how long before the loss moves) and
    ``error`` (``|forecast median - transition step|``)."""
    sel = ((ds.role.sel(split=split) == "test") & ds.at_chance & ds.happened).values.ravel()
    cut = float(ds.attrs["cutoff"])
    med = ds.t_quantiles.sel(split=split, predictor=predictor, level=0.5).values.ravel()[sel]
    t = ds.t_event.values.ravel()[sel]
    return {"lead": t - cut, "to_move": ds.t_leave.values.ravel()[sel] - cut, "error": np.abs(med - t)}


def _median_ci(x: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    est, lo, hi = dt.bootstrap_ci(x, axis=0, stat=np.median, n_boot=2000, seed=seed)
    return float(est), float(lo), float(hi)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts per split (``seed``: held-out seeds; ``config``: unseen ``n``).

    1. ``coverage90_<split>``: the ``hidden`` predictor's 90% intervals of the transition step
       cover it within ``±coverage_tol`` of 0.9 (Wilson interval; a missing forecast is a miss).
    2. ``lead_<split>``: over held-out members still at chance at the cutoff, the median of
       ``lead - error`` (steps ahead minus the forecast median's absolute error) is above 0: the
       step is foretold more precisely than it is far away. The median lead and the median time
       until the loss moves are printed with 95% intervals.
    3. ``beats_<baseline>_<split>``: paired CRPS difference of the transition step, ``hidden``
       minus ``config`` (hyperparameters alone) and minus ``sigmoid`` (curve-only), below 0.
    Every predictor's CRPS and coverage, and ``hidden - loss_curve``, are in the details.
    """
    cfg = Config.from_attrs(ds)
    out = []
    for split in SPLITS:
        s = {k: scores(ds, split, k) for k in PREDICTORS}
        hid = s["hidden"]
        n = int(hid.n_events)
        cov, wil = predict.coverage_ci(hid, cluster=CLUSTER), predict.coverage_ci(hid)
        table = "; ".join(f"{k} CRPS {float(v.crps_time):.4g} 90% {float(v.coverage_90):.2f}"
                          for k, v in s.items())
        out.append(dt.interval_verdict(
            cov[0], cov[1:], predicted=0.9, tol=cfg.coverage_tol,
            name=f"coverage90_{split}", n_members=n, label="coverage-0.9",
            detail=f"transition step, seeds resampled; Wilson over members [{wil[1]:.3f}, {wil[2]:.3f}]; "
                   f"missing {int(hid.n_time_missing)}; {table}"))
        ld = lead(ds, split)
        margin = _median_ci(ld["lead"] - ld["error"])
        ahead, move = _median_ci(ld["lead"]), _median_ci(ld["to_move"])
        out.append(dt.interval_verdict(
            margin[0], margin[1:], predicted=0.0, side="above", name=f"lead_{split}",
            n_members=int(ld["lead"].size), label="median lead - |error| (steps)",
            detail=f"cutoff step {float(ds.attrs['cutoff']):.0f}; median lead {ahead[0]:.0f} "
                   f"[{ahead[1]:.0f}, {ahead[2]:.0f}] steps, until the loss moves {move[0]:.0f} "
                   f"[{move[1]:.0f}, {move[2]:.0f}], median |error| {np.median(ld['error']):.0f}; "
                   f"at chance at the cutoff {int(ds.at_chance.sum())}/{ds.at_chance.size} members; "
                   f"score_forecast's median lead {float(hid.median_lead):.0f} "
                   f"[{float(hid.median_lead_lo):.0f}, {float(hid.median_lead_hi):.0f}] "
                   f"at p >= {float(hid.median_lead_threshold):.2f} "
                   f"({hid.attrs['lead_basis']}: base rate {float(hid.base_rate):.2f})"))
        d_loss = predict.compare_forecasts(hid, s["loss_curve"], on="crps_time", n_boot=2000, cluster=CLUSTER)
        for base in BASELINES:
            d = predict.compare_forecasts(hid, s[base], on="crps_time", n_boot=2000, cluster=CLUSTER)
            out.append(dt.interval_verdict(
                d[0], (d[1], d[2]), predicted=0.0, side="below", name=f"beats_{base}_{split}",
                n_members=n, label="CRPS diff (steps)",
                detail=f"hidden {float(hid.crps_time):.4g} vs {base} {float(s[base].crps_time):.4g}; "
                       f"hidden - loss_curve {d_loss[0]:.3g} [{d_loss[1]:.3g}, {d_loss[2]:.3g}] "
                       f"(not claimed)"))
    return dt.mark_known(out, KNOWN, size=ds.attrs.get("size"))


if __name__ == "__main__":  # the same as `dyntheory run parity_forecast [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "parity_forecast", *sys.argv[1:]]))
