"""Forecast grokking from the first 15% of training: will a member grok, and when?

Experiment: the grokking set-up of ``sims/grokking_weight_norm.py`` (an embedding MLP with a
quadratic activation learns ``(a + b) mod p`` with AdamW, full batch, recording accuracies,
losses, norms and Nanda et al.'s Fourier progress measures via its ``FourierMeasure``), swept over
weight decay x train fraction x seeds. Grokking is the test accuracy reaching 0.9
(``dt.transition_times``); a member that does not by the last step is censored. From each
member's metrics up to ``cutoff`` (a fraction of training) every predictor forecasts the
probability that it groks by the end and, given that, its grokking step (``dyntheory.predict``):

- ``population``: ridge logistic + conformalized quantile regression on every recorded signal
  (curve, norms, update and gradient norms, progress measures) and the sweep coordinates;
- ``signals_only``: the same without the coordinates (what the trajectories alone say);
- ``curve_learned``: the same on the accuracy and loss curves alone;
- ``theory``: Omnigrok's clock ``ln(w0 / w_c) / (eta gamma)`` (``theory.grokking_weight_norm``)
  as the only feature, with ``w0`` the norm at the cutoff and ``w_c`` the median norm at
  grokking of the fit members;
- ``sigmoid``: the curve-only baseline, a plateau-then-jump sigmoid fitted to each member's own
  test accuracy, bootstrap uncertainty.

Two splits: held-out seeds (``seed``) and held-out weight decays (``config``, unseen values
inside the grid; fit and calibration members are then seeds of the seen weight decays). Scores
are on members not yet grokked at the cutoff and never used to fit or calibrate
(``dyntheory.predict.score_forecast`` raises otherwise). One seed's members share its
initialisation at every weight decay (their log grokking steps correlate at 0.70 across weight
decays at paper size), so every interval resamples whole seeds (``predict.auroc_ci``,
``coverage_ci``, ``compare_forecasts(cluster="seed")``).

Measured (``check`` prints every number): AUROC of grok/no-grok; coverage of 90% intervals of
the grokking step; the median lead time (grokking step minus cutoff) at a false-alarm rate of
at most 10%; the paired AUROC difference against the curve-only sigmoid. On 300 members (the
paper grid at train fractions 0.45, 0.6, 15 seeds; docs/predict.md has the table): AUROC 0.947
[0.891, 0.986] (held-out seeds, 67 at risk) and 0.968 [0.921, 0.996] (held-out weight decays,
54), 90% coverage 35/40 and 32/34, median lead ~400 steps after a cutoff at step 300; the
sigmoid reaches 0.872 and 0.904, so the learned predictor's margin is small (0.075 [0.002,
0.165], 0.064 [0.009, 0.136]); signals without the coordinates do as well; Omnigrok's clock
alone is weak (0.81, 0.55).

Paper size (10 weight decays x 4 train fractions x 30 seeds = 1,200 members, 2,000 steps, cutoff
step 300, key 0; 31 min of training and 9 min of forecasts on 2 CPU cores shared with other jobs).
56% of members grok (4%, 41%, 81%, 97% at train fractions 0.35-0.65), a quarter of them before
the cutoff. Held-out seeds (278 at risk, half grok after the cutoff) and unseen weight decays 0.3,
0.7 (220 at risk):

- AUROC ``population`` 0.952 [0.933, 0.973] and 0.981 [0.966, 0.992]; ``signals_only`` 0.947,
  0.974; ``curve_learned`` 0.865, 0.960; Omnigrok's clock 0.585, 0.444; ``sigmoid`` 0.824, 0.916.
- 90% coverage of the grokking step 129/140 = 0.921 [0.857, 0.972] and 107/120 = 0.892 [0.823,
  0.948] (50%: 0.51, 0.52).
- median lead 341 [290, 421] steps (alarm at p >= 0.65, false alarms <= 10%, 81% of grokkers
  caught) and 346 [282, 464] (p >= 0.5, 96% caught) after the cutoff.
- against the curve-only sigmoid: AUROC +0.127 [0.089, 0.171] and +0.064 [0.038, 0.092].
- the final test loss: CRPS 1.21 and 1.30 against 6.05 and 5.74 for the power law (paired
  -4.84 [-5.47, -4.23], -4.44 [-4.82, -4.08]); 90% coverage 0.89 [0.86, 0.92] and 0.83.

Not resolved at paper size (FAIL, listed in ``UNRESOLVED``; the paper test checks that each
interval still holds the target): the held-out-seed AUROC sits on the 0.95 bound (its interval
straddles it; a 10% cutoff gives 0.960 [0.946, 0.976], 20% 0.946 [0.925, 0.971]: the cutoff is
not what limits it), and the 90% coverages hold 0.9 but 140 and 120 events in 8 held-out seeds
(or 2 weight decays) give intervals ±0.06 wide. Resolving ±0.05 needs several times more
held-out seeds. Re-dealing the same run's seeds (split keys 1-5) gives held-out-seed AUROC
0.947, 0.970, 0.965, 0.954, 0.948 (mean of six 0.956) and coverage 0.90, 0.985, 0.93, 0.90, 0.91:
the AUROC target holds on average, and one draw's coverage moves by ~±0.05 (the conformal
guarantee is marginal over the calibration draw). The trajectories carry the signal: the
internal signals (norms, Fourier progress) lift the held-out-seed AUROC from 0.865 (curves
alone, learned) to 0.947, the sweep coordinates add 0.005. Known (``KNOWN``): the final-loss
intervals under-cover the unseen weight decays, 0.83 [0.78, 0.88] (calibrated on seeds of the
seen ones; 0.80 at 300 members).

Choices: the claims' bounds are the issue's targets at paper size (AUROC above 0.95, coverage
within ±0.05 of 0.9). The small size (72 members, one train fraction) holds out ~15 members per
split, ~7 of which grok after the cutoff: a Wilson interval on 7 cannot resolve ±0.05, so it
checks AUROC above 0.7 and coverage within ±0.4, which still fails a broken interval (one that
misses, or a forecast that is missing). Seeds are dealt 40/40/20 at small size so that the
calibration split holds the 9 grokking members a conformal 90% interval needs.

References: A. Power et al. (2022), arXiv:2201.02177; Z. Liu, E. J. Michaud, M. Tegmark (2023),
arXiv:2210.01117; N. Nanda et al. (2023), arXiv:2301.05217; forecasting and scores: see
``dyntheory.predict``. Grokking predictors reported so far reach AUROC ~0.93 on 10-15 runs
(arXiv 2605.08237, as cited by issue #27).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import predict
from sims import grokking_weight_norm as gw
from theory import grokking_weight_norm as theory

__all__ = ["KNOWN", "PAPER", "PREDICTORS", "SIZES", "SMALL", "SPLITS", "UNRESOLVED", "VALUE_PREDICTORS",
           "Config", "analyse", "check", "loss_scores", "run", "scores", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """A weight decay x train fraction grid, ``seeds`` per cell, forecast from ``cutoff``."""

    p: int
    embed_dim: int
    width: int
    lr: float
    init_scale: float
    weight_decays: tuple[float, ...]
    train_fracs: tuple[float, ...]
    held_out_decays: tuple[float, ...]  # the unseen configurations of the "config" split
    seeds: int
    steps: int
    record: int
    fractions: tuple[float, float, float]  # fit, calibrate, test shares of the seeds
    cutoff: float  # fraction of training the predictors may read
    min_auroc: float  # bound of the AUROC claims
    coverage_tol: float  # half-width allowed around 0.9 for the 90% interval coverage


SMALL = Config(p=23, embed_dim=16, width=64, lr=2e-2, init_scale=1.0,
               weight_decays=(0.2, 0.35, 0.5, 0.7, 1.0, 1.4), train_fracs=(0.5,),
               held_out_decays=(0.35, 1.0), seeds=12, steps=1000, record=20, fractions=(0.4, 0.4, 0.2),
               cutoff=0.15, min_auroc=0.7, coverage_tol=0.4)
PAPER = Config(p=23, embed_dim=16, width=64, lr=2e-2, init_scale=1.0,
               weight_decays=(0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.4, 2.0),
               train_fracs=(0.35, 0.45, 0.55, 0.65), held_out_decays=(0.3, 0.7),
               seeds=30, steps=2000, record=20, fractions=(0.5, 0.25, 0.25), cutoff=0.15,
               min_auroc=0.95, coverage_tol=0.05)
SIZES = {"small": SMALL, "paper": PAPER}
THRESHOLD = 0.9
EVENT = predict.Event(metric="test_acc", threshold=THRESHOLD)
SIGNALS = ("train_loss", "test_loss", "train_acc", "test_acc", "param_norm", "grad_norm",
           "update_norm", *gw.MEASURES)
PREDICTORS = {
    "population": predict.Population(signals=SIGNALS, hyperparameters=True, ridge=0.1),
    "signals_only": predict.Population(signals=SIGNALS, hyperparameters=False, ridge=0.1,
                                       name="signals_only"),
    "curve_learned": predict.Population(signals=("train_loss", "test_loss", "train_acc", "test_acc"),
                                        hyperparameters=False, ridge=0.1, name="curve_learned"),
    "theory": predict.theory_only(ridge=0.1),
    "sigmoid": predict.SigmoidJump(n_boot=100),
}
SPLITS = ("seed", "config")
KNOWN = (dt.Known(
    name="final_loss_coverage90_config", direction="below", sizes=("paper",),
    reason="calibrated on seeds of the seen weight decays, the final test loss's 90% intervals under-cover "
           "the unseen 0.3 and 0.7 (0.83 [0.78, 0.88]): configurations are not exchangeable",
    where="sims/grokking_forecast.py, module docstring"),)
# Verdicts that fail at paper size because their interval is wider than the claim can resolve,
# not because it excludes the target (the module docstring gives the numbers).
UNRESOLVED = {"paper": ("auroc_seed", "coverage90_seed", "coverage90_config")}
# Members of one seed share its initialisation at every weight decay (their log grokking steps
# correlate at 0.7 across weight decays): intervals resample whole seeds, not members.
CLUSTER = "seed"
FINAL_LOSS = predict.Value(metric="test_loss")  # the last step's test loss
VALUE_PREDICTORS = {
    "population": PREDICTORS["population"],
    "power_law": predict.PowerLaw(),
    "last_value": predict.LastValue(),
}


def sweep(cfg: Config) -> dt.Sweep:
    """The population: grokking_weight_norm's model and measures over weight decay x train fraction."""
    metrics = {k: gw.FourierMeasure(k, cfg.p) for k in gw.MEASURES}
    return dt.Sweep(
        task=dt.tasks.ModularArithmetic(p=cfg.p, op="+", train_frac=cfg.train_fracs[0]),
        model=dt.models.EmbedMLP(embed_dim=cfg.embed_dim, widths=(cfg.width,), activation="quadratic"),
        optimizer="adamw", lr=cfg.lr, init_scale=cfg.init_scale, steps=cfg.steps, batch_size=None,
        axes={"weight_decay": list(cfg.weight_decays), "train_frac": list(cfg.train_fracs)},
        seeds=cfg.seeds, checkpoints=[cfg.steps], metrics=metrics,
        record=sorted(set(range(0, 161, 4)) | set(range(0, cfg.steps + 1, cfg.record))))


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the grid, forecast every member from its window, and return it all in one Dataset."""
    cfg = dt.pick_size(SIZES, size)
    out = analyse(dt.train(sweep(cfg), key=key, store=store).metrics, cfg, key=key)
    return cfg.stamp(out, sim="grokking_forecast", size=size, key=key, citation=theory.CITATION,
                     threshold=THRESHOLD)


def _split(ds: xr.Dataset, cfg: Config, by: str, key: int) -> xr.DataArray:
    if by == "seed":
        return predict.split_members(ds, by="seed", fractions=cfg.fractions, key=key)
    return predict.split_members(ds, by="weight_decay", test=list(cfg.held_out_decays),
                                 calibrate_by="seed", fractions=cfg.fractions, key=key)


def _clock(ds: xr.Dataset, split: xr.DataArray, cfg: Config) -> xr.DataArray:
    """Omnigrok's clock from the norm at the cutoff, ``w_c`` the fit members' median at grokking."""
    fit_grok = dt.transition_times(ds.test_acc, threshold=THRESHOLD).t_cross.where(split == "fit")
    w_c = float(dt.value_at(ds.param_norm, fit_grok).median())
    cut = float(ds.step[0] + cfg.cutoff * (ds.step[-1] - ds.step[0]))
    w0 = ds.param_norm.sel(step=ds.step[ds.step <= cut][-1], drop=True)
    out = theory.grokking_time().evaluate({"w0": w0, "gamma": ds.weight_decay}, w_c=w_c, eta=cfg.lr)
    return out.theory_t_grok.where(out.theory_valid) + cut


def analyse(ds: xr.Dataset, cfg: Config, *, key: int = 0) -> xr.Dataset:
    """Forecasts of every predictor under both splits, stacked over ``split`` and ``predictor``
    (grokking) and ``split`` and ``value_predictor`` (the final test loss, ``loss_quantiles``)."""
    truth = predict.outcome(ds, EVENT)
    fcs, roles, values = [], [], []
    for by in SPLITS:
        split = _split(ds, cfg, by, key)
        clock = _clock(ds, split, cfg)
        per = [predict.forecast(ds, EVENT, cutoff=cfg.cutoff, predictor=pred, split=split,
                                theory=clock, seed=key).drop_vars("role")
               for pred in PREDICTORS.values()]
        fcs.append(xr.concat(per, dim=xr.DataArray(list(PREDICTORS), dims="predictor"),
                             combine_attrs="drop_conflicts"))
        per = [predict.forecast(ds, FINAL_LOSS, cutoff=cfg.cutoff, predictor=pred, seed=key,
                                split=split if isinstance(pred, predict.Population) else None)
               for pred in VALUE_PREDICTORS.values()]
        values.append(xr.concat([f[["quantiles", "used"]] for f in per],
                                dim=xr.DataArray(list(VALUE_PREDICTORS), dims="value_predictor"),
                                combine_attrs="drop_conflicts"))
        roles.append(split)
    fc = xr.concat(fcs, dim=xr.DataArray(list(SPLITS), dims="split"), combine_attrs="drop_conflicts")
    vfc = xr.concat(values, dim=xr.DataArray(list(SPLITS), dims="split"), combine_attrs="drop_conflicts")
    role = xr.concat(roles, dim=xr.DataArray(list(SPLITS), dims="split"))
    out = ds.assign(role=role, p_event=fc.p_event, t_quantiles=fc.t_quantiles, used=fc.used,
                    at_risk=fc.at_risk.isel(split=0, predictor=0, drop=True),
                    grokked=truth.happened, t_grok=truth.t_event,
                    loss_quantiles=vfc.quantiles, loss_used=vfc.used)
    out.attrs.update({k: fc.attrs[k] for k in ("cutoff", "target", "last_step")})
    out.attrs["loss_target"] = vfc.attrs["target"]
    return out


def loss_scores(ds: xr.Dataset, split: str, predictor: str) -> xr.Dataset:
    """``predict.score_forecast`` of the final test loss forecast, on the split's test members."""
    fc = xr.Dataset({"quantiles": ds.loss_quantiles.sel(split=split, value_predictor=predictor, drop=True),
                     "used": ds.loss_used.sel(split=split, value_predictor=predictor, drop=True),
                     "role": ds.role.sel(split=split, drop=True), "at_risk": ds.at_risk},
                    attrs={"predictor": predictor, "cutoff": ds.attrs["cutoff"],
                           "target": ds.attrs["loss_target"], "last_step": ds.attrs["last_step"]})
    role = ds.role.sel(split=split, drop=True)
    return predict.score_forecast(fc, ds[["test_loss"]], members=role == "test")


def scores(ds: xr.Dataset, split: str, predictor: str) -> xr.Dataset:
    """``predict.score_forecast`` of one predictor under one split, from ``run``'s Dataset."""
    fc = xr.Dataset({"p_event": ds.p_event.sel(split=split, predictor=predictor, drop=True),
                     "t_quantiles": ds.t_quantiles.sel(split=split, predictor=predictor, drop=True),
                     "used": ds.used.sel(split=split, predictor=predictor, drop=True),
                     "role": ds.role.sel(split=split, drop=True), "at_risk": ds.at_risk},
                    attrs={"predictor": predictor, "cutoff": ds.attrs["cutoff"],
                           "target": ds.attrs["target"], "last_step": ds.attrs["last_step"]})
    metrics = ds[["test_acc"]]
    return predict.score_forecast(fc, metrics)


def _wilson(s: xr.Dataset) -> str:
    """The member-wise Wilson interval of the 90% coverage, printed beside the seed-cluster one."""
    _, lo, hi = predict.coverage_ci(s)
    return f"Wilson over members [{lo:.3f}, {hi:.3f}]"


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts per split (``seed``: held-out seeds; ``config``: unseen weight decays).

    1. ``auroc_<split>``: AUROC of ``population`` above ``min_auroc`` (95% bootstrap interval).
    2. ``coverage90_<split>``: coverage of its 90% grokking-step intervals within
       ``±coverage_tol`` of 0.9 (Wilson interval; a member without a time forecast is a miss).
    3. ``lead_<split>``: median lead time above 0 steps at a false-alarm rate <= 10%.
    4. ``beats_curve_<split>``: paired AUROC difference ``population - sigmoid`` above 0.
    5. ``final_loss_coverage90_<split>``: the final test loss forecast's 90% intervals cover
       within ``±coverage_tol`` of 0.9 (every held-out member).
    6. ``final_loss_beats_curve_<split>``: its paired CRPS difference against the per-member
       power law is below 0.
    The other predictors' AUROC and CRPS are printed in the details.
    """
    cfg = Config.from_attrs(ds)
    out = []
    for split in SPLITS:
        s = {k: scores(ds, split, k) for k in PREDICTORS}
        pop = s["population"]
        n = int(pop.n_scored)
        est, lo, hi = predict.auroc_ci(pop, cluster=CLUSTER)
        others = ", ".join(f"{k} {float(v.auroc):.3f} (CRPS {float(v.crps_time):.4g})" for k, v in s.items())
        out.append(dt.interval_verdict(
            est, (lo, hi), predicted=cfg.min_auroc, side="above", name=f"auroc_{split}", n_members=n,
            label="AUROC", detail=f"grokked {float(pop.base_rate):.2f} of {n} at risk; AUROC: {others}"))
        k_ev = int(pop.n_events)
        cov = predict.coverage_ci(pop, cluster=CLUSTER)
        out.append(dt.interval_verdict(
            cov[0], cov[1:], predicted=0.9, tol=cfg.coverage_tol, name=f"coverage90_{split}",
            n_members=k_ev, label="coverage-0.9",
            detail=f"{_wilson(pop)}; 50%: {float(pop.coverage_50):.3f}; sigmoid 90%: "
                   f"{float(s['sigmoid'].coverage_90):.3f}; "
                   f"time forecasts missing {int(pop.n_time_missing)}; reliability (level: observed) "
                   + ", ".join(f"{lv:g}: {float(pop.reliability.sel(level=lv)):.2f}"
                               for lv in (0.05, 0.25, 0.5, 0.75, 0.95))))
        h = float(pop.median_lead_threshold)
        hit = f"hit rate {float(pop.hit_rate.sel(threshold=h)):.2f}" if np.isfinite(h) else "no threshold"
        out.append(dt.interval_verdict(
            float(pop.median_lead), (float(pop.median_lead_lo), float(pop.median_lead_hi)), predicted=0.0,
            side="above", name=f"lead_{split}", n_members=int(pop.n_lead_hits), label="median lead (steps)",
            detail=f"alarm at p >= {h:.2f} ({pop.attrs['lead_basis']}), {hit}, "
                   f"cutoff step {float(ds.attrs['cutoff']):.0f}"))
        d = predict.compare_forecasts(pop, s["sigmoid"], on="auroc", n_boot=2000, cluster=CLUSTER)
        out.append(dt.interval_verdict(
            d[0], (d[1], d[2]), predicted=0.0, side="above", name=f"beats_curve_{split}", n_members=n,
            label="AUROC diff", detail=f"population {float(pop.auroc):.3f} vs sigmoid "
                                       f"{float(s['sigmoid'].auroc):.3f}"))
        v = {k: loss_scores(ds, split, k) for k in VALUE_PREDICTORS}
        vp, n_v = v["population"], int(v["population"].n_scored)
        cov = predict.coverage_ci(vp, cluster=CLUSTER)
        table = "; ".join(f"{k} CRPS {float(x.crps):.3g}, log score {float(x.log_score):.3g}, 90% "
                          f"{float(x.coverage_90):.2f}" for k, x in v.items())
        out.append(dt.interval_verdict(
            cov[0], cov[1:], predicted=0.9, tol=cfg.coverage_tol, name=f"final_loss_coverage90_{split}",
            n_members=n_v, label="coverage-0.9", detail=f"{_wilson(vp)}; {table}"))
        d = predict.compare_forecasts(vp, v["power_law"], on="crps", n_boot=2000, cluster=CLUSTER)
        out.append(dt.interval_verdict(
            d[0], (d[1], d[2]), predicted=0.0, side="below", name=f"final_loss_beats_curve_{split}",
            n_members=n_v, label="CRPS diff",
            detail="final test loss, population - power law (every held-out member)"))
    return dt.mark_known(out, KNOWN, size=ds.attrs.get("size"))


if __name__ == "__main__":  # the same as `dyntheory run grokking_forecast [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "grokking_forecast", *sys.argv[1:]]))
