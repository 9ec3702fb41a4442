"""Timing matters: the same intervention, applied at different times during grokking.

Experiment: the grokking set-up of ``sims/grokking_weight_norm.py`` (modular addition, an
embedding MLP with a quadratic activation, full-batch AdamW, weight decay 0.5, init scale 1;
its ``sweep``, without the Fourier metrics), and two interventions, each applied to every member
at one step ``t`` per population: a weight-decay pulse (``WeightDecayPulse``: weight decay 4.0
for 50 steps) and Grokfast (Lee et al. 2024: an EMA gradient filter, ``alpha=0.98``,
``lambda=2``, on from ``t`` to the end). Each population runs on the sweep and key of the
control, so each member has a twin without the intervention; ``dt.event_effect`` gives the
paired change in grokking time (test accuracy reaching 0.9; members that never do are censored
at the last step, the restricted mean) and in the rate of grokking, with bootstrap intervals.
Memorisation (train accuracy 0.9) comes at ~20 steps, grokking at ~350-550 in the control.

The claim tested (cf. Chen et al. 2023, where suppressing a structure briefly early helps and
suppressing it later hurts): the effect of an intervention depends on when it is applied, and a
badly timed one hurts (delays grokking) where a well timed one helps.

Measured at small size (8 seeds, ``check`` prints every number; control grokking time median
434 steps): the weight-decay pulse speeds grokking at every time tried, most right after
memorisation (t=100: -194 [-230, -157] steps; t=300: -107); applied before memorisation (t=8)
its effect is not resolved (-103 [-200, +23], and one member in eight then never groks), so
"badly timed hurts" is not shown for it (a plain FAIL). Grokfast, as configured, delays
grokking at every time, the earlier the more (t=8: +195 [176, 214]; t=300: +29 [13, 46]):
timing matters (contrast +166 [147, 186]) and badly timed hurts, but no time helps (``KNOWN``).

Measured at paper size (32 seeds, 1200 steps, t in 8, 50, 100, 200, 300, 400; 357 s on 2 shared
cores; memorisation at step ~20, control grokking median 470): the weight-decay pulse speeds
grokking at every time, most in the middle of the plateau (t=200: -175 [-205, -146] steps;
t=50: -162 [-239, -83]; t=8: -91 [-197, +22], unresolved) and least late (t=400: -72 [-101,
-46]); timing matters (contrast +103 [81, 121]), but no time hurts: "badly timed hurts" is
refuted for the pulse (``KNOWN`` at this size). Grokfast delays grokking at every time, the
earlier the more (t=8: +213 [170, 258], 2 of 32 members then never grok; t=400: +21 [4, 40];
contrast +192 [142, 243]): badly timed hurts and timing matters pass; no time helps (``KNOWN``).
So the claim's shape holds for both (the effect depends on when), but each intervention only
ever helps or only ever hurts here, rather than flipping sign with timing.

References: A. Lee et al. (2024), "Grokfast: Accelerated Grokking by Amplifying Slow Gradients",
arXiv:2405.20233; A. Chen et al. (2023), "Sudden Drops in the Loss: Syntax Acquisition, Phase
Transitions, and Simplicity Bias in MLMs", arXiv:2309.07311; set-up of
``sims/grokking_weight_norm.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from sims import grokking_weight_norm as grokking

__all__ = ["ACTIONS", "KNOWN", "PAPER", "SIZES", "SMALL", "Config", "action", "analyse", "change", "check",
           "effects", "run", "sweep"]

I = dt.interventions
ACTIONS = ("wd_pulse", "grokfast")
CITATION = "A. Lee et al. (2024), arXiv:2405.20233; A. Chen et al. (2023), arXiv:2309.07311"
THRESHOLD = 0.9


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """The grokking run (one cell of ``sims/grokking_weight_norm``) and the interventions."""

    grokking: grokking.Config
    times: tuple[int, ...]  # steps at which the intervention is applied, one population each
    pulse_value: float
    pulse_steps: int
    grokfast_alpha: float
    grokfast_lamb: float


_BASE = dataclasses.replace(grokking.SMALL, weight_decays=(0.5,), init_scales=(1.0,), seeds=8, steps=800)
SMALL = Config(grokking=_BASE, times=(8, 100, 300), pulse_value=4.0, pulse_steps=50,
               grokfast_alpha=0.98, grokfast_lamb=2.0)
PAPER = dataclasses.replace(SMALL, grokking=dataclasses.replace(_BASE, seeds=32, steps=1200),
                            times=(8, 50, 100, 200, 300, 400))
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = (dt.Known(
    name="well_timed_helps_grokfast", direction="above",
    reason="Grokfast (alpha 0.98, lambda 2) on full-batch AdamW delays grokking at every time "
           "tried, the earlier the more",
    where="sims/intervention_timing.py, module docstring"),
    dt.Known(
    name="badly_timed_hurts_wd_pulse", direction="below", sizes=("paper",),
    reason="a weight-decay pulse speeds grokking at every time tried; the worst time (last, "
           "t=400) still helps",
    where="sims/intervention_timing.py, module docstring"))


def action(name: str, cfg: Config):
    """The intervention's action (to be placed with ``.at(t)``)."""
    if name == "wd_pulse":
        return I.WeightDecayPulse(cfg.pulse_value, cfg.pulse_steps)
    if name == "grokfast":
        return I.Grokfast(cfg.grokfast_alpha, cfg.grokfast_lamb)
    raise ValueError(f"action: name must be one of {ACTIONS}, got {name!r}")


def sweep(cfg: Config, interventions: tuple = ()) -> dt.Sweep:
    """The grokking population; every one carries the Grokfast filter, switched on only where an
    intervention says, so all compile to one program and twins agree bit for bit until ``t``."""
    off = action("grokfast", cfg).when(I.Threshold("train_loss", -1.0, "below"))  # no loss gets there
    if not any(isinstance(it.action, I.Grokfast) for it in interventions):
        interventions = (*interventions, off)
    return dataclasses.replace(grokking.sweep(cfg.grokking), metrics={}, interventions=interventions)


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the control and one population per (action, time); return the paired effects.

    Returned (dims action, time, seed): ``t_treated`` / ``t_control`` (first step test accuracy
    reaches 0.9, NaN if never), ``reached_treated`` / ``reached_control``; attrs ``last_step``.
    """
    cfg = dt.pick_size(SIZES, size)
    at = (lambda name: None) if store is None else (lambda name: f"{store}/{name}")
    control = dt.train(sweep(cfg), key=key, store=at("control")).metrics
    rows = []
    for name in ACTIONS:
        per = [analyse(dt.train(sweep(cfg, (action(name, cfg).at(t),)), key=key,
                                store=at(f"{name}_{t}")).metrics, control)
               for t in cfg.times]
        rows.append(xr.concat(per, dim=xr.DataArray(list(cfg.times), dims="time", name="time")))
    out = xr.concat(rows, dim=xr.DataArray(list(ACTIONS), dims="action", name="action"))
    out = out.assign(test_acc=control.test_acc, train_acc=control.train_acc)
    out.attrs["last_step"] = float(control.step.values[-1])
    return cfg.stamp(out, sim="intervention_timing", size=size, key=key, citation=CITATION)


def analyse(treated: xr.Dataset, control: xr.Dataset) -> xr.Dataset:
    """One population's members against their twins (at the grokking run's one cell)."""
    ev = dt.event_effect(treated, control, "test_acc", threshold=THRESHOLD, direction="up", n_boot=10)
    cell = dict(weight_decay=0, init_scale=0)
    return xr.Dataset({k: ev[k].isel(cell, drop=True) for k in
                       ("t_treated", "t_control", "reached_treated", "reached_control")})


def _ci(values: np.ndarray) -> tuple[float, float, float, int]:
    v = values[np.isfinite(values)]
    est, lo, hi = dt.bootstrap_ci(v, axis=-1, n_boot=4000)
    return float(est), float(lo), float(hi), int(v.size)


def change(ds: xr.Dataset) -> xr.DataArray:
    """Per member, the change in restricted grokking time (never grokked: the last step),
    treated minus twin; dims (action, time, seed)."""
    last = ds.attrs["last_step"]
    return (ds.t_treated.fillna(last) - ds.t_control.fillna(last)).transpose("action", "time", "seed")


def effects(ds: xr.Dataset) -> xr.Dataset:
    """The paired effects per action and intervention time (95% bootstrap intervals over seeds).

    Returned (dims action, time): ``d_t`` with ``d_t_lo`` / ``d_t_hi`` (mean change in restricted
    grokking time, steps), ``d_rate`` (change in the fraction that groks), ``n``. ``check`` and
    the figure read their numbers from here.
    """
    c = change(ds).values
    cols = {k: np.full(c.shape[:2], np.nan) for k in ("d_t", "d_t_lo", "d_t_hi", "n")}
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            cols["d_t"][i, j], cols["d_t_lo"][i, j], cols["d_t_hi"][i, j], cols["n"][i, j] = _ci(c[i, j])
    rate = (ds.reached_treated.astype(float) - ds.reached_control.astype(float)).mean("seed")
    out = xr.Dataset({k: (("action", "time"), v) for k, v in cols.items()},
                     coords={"action": ds.action.values, "time": ds.time.values})
    return out.assign(d_rate=rate.transpose("action", "time"))


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts per action (95% paired bootstrap intervals over seeds).

    Per member, the change in restricted grokking time (never grokked: the last step) between the
    population intervened at ``t`` and its twin.

    1. ``well_timed_helps_<action>``: at the time with the most negative mean change, the
       interval lies below 0 (grokking comes earlier).
    2. ``badly_timed_hurts_<action>``: at the time with the most positive mean change, the
       interval lies above 0 (grokking comes later).
    3. ``timing_matters_<action>``: the paired contrast between those two times (same seeds,
       same twins) lies above 0: the effect depends on when. The times are picked after the fact
       (the best and the worst of ``len(times)``), so this is a claim about the spread.
    """
    eff = effects(ds)
    out = []
    for name in ACTIONS:
        d, e = ds.sel(action=name), eff.sel(action=name)
        ch = change(ds).sel(action=name).values
        means = e.d_t.values
        table = ", ".join(
            f"t={t}: {m:+.0f} (grokked {float(d.reached_treated.sel(time=t).mean()):.2f})"
            for t, m in zip(d.time.values, means))
        best, worst = int(np.argmin(means)), int(np.argmax(means))
        tb, tw = int(d.time.values[best]), int(d.time.values[worst])
        b, w = e.isel(time=best), e.isel(time=worst)
        out.append(dt.interval_verdict(float(b.d_t), (float(b.d_t_lo), float(b.d_t_hi)), predicted=0.0,
                                       side="below", name=f"well_timed_helps_{name}", n_members=int(b.n),
                                       label=f"d t_grok at t={tb}", detail=f"mean change per time: {table}"))
        out.append(dt.interval_verdict(float(w.d_t), (float(w.d_t_lo), float(w.d_t_hi)), predicted=0.0,
                                       side="above", name=f"badly_timed_hurts_{name}", n_members=int(w.n),
                                       label=f"d t_grok at t={tw}",
                                       detail=f"grokking rate change there {float(w.d_rate):+.2f}; control "
                                              f"t_grok median {float(np.nanmedian(d.t_control.values)):.0f}"))
        est, lo, hi, n = _ci(ch[worst] - ch[best])
        out.append(dt.interval_verdict(est, (lo, hi), predicted=0.0, side="above",
                                       name=f"timing_matters_{name}", n_members=n,
                                       label=f"d t_grok(t={tw}) - d t_grok(t={tb})"))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run intervention_timing [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "intervention_timing", *sys.argv[1:]]))
