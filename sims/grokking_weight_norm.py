"""Grokking on modular addition and Omnigrok's weight-norm clock, ``t_grok ~ 1/(eta gamma)``.

Experiment: an embedding MLP (``dt.models.EmbedMLP``, quadratic activation as in Gromov 2023)
learns ``(a + b) mod p`` from a fixed fraction of the ``p^2`` pairs, full batch, with AdamW
(decoupled weight decay ``gamma``, learning rate ``eta``), over a grid of weight decay x
initialisation scale x seeds. Recorded through the engine: train/test accuracy, the weight
norm, and Nanda et al.'s progress measures computed inside user metrics from the member's own
parameters on all ``p^2`` pairs (``excluded_loss`` on the training pairs, ``restricted_loss``
on all pairs, both with the embedding's current key frequencies, and the ``gini`` of the
embedding's frequency norms).

Measured (``check``):
    * grokking: train accuracy reaches 0.9 long before test accuracy does (median delay ratio
      with a bootstrap interval; censored members counted as never crossing);
    * Omnigrok's exponent: the time from memorisation to generalisation against ``gamma`` at a
      fixed init scale, fitted as a log-log slope with a seed-bootstrap interval, compared with
      the derived ``d ln t_grok / d ln gamma = -1`` of ``theory.grokking_weight_norm``;
    * the clock itself: ``t_grok (eta gamma)`` against ``ln(w0 / w_c)`` with ``w0, w_c`` the
      measured weight norms at memorisation and at generalisation (the theory's assumption
      that weight decay alone moves the norm in between);
    * phases over (weight decay x init scale) with ``dt.grokking_rules`` (fractions of seeds);
    * progress measures move before the test accuracy jumps (Nanda et al.).

Theory partner: ``theory/grokking_weight_norm.py``.

References:
    Ziming Liu, Eric J. Michaud, Max Tegmark (2023), "Omnigrok: Grokking Beyond Algorithmic
    Data", ICLR 2023, arXiv:2210.01117. Alethea Power et al. (2022), arXiv:2201.02177. Neel
    Nanda, Lawrence Chan, Tom Lieberum, Jess Smith, Jacob Steinhardt (2023), "Progress measures
    for grokking via mechanistic interpretability", ICLR 2023, arXiv:2301.05217. Andrey Gromov
    (2023), "Grokking modular arithmetic", arXiv:2301.02679.

Choices: the quadratic activation (Gromov 2023) groks reliably within ~10^3 full-batch steps at
``p = 23`` on a CPU; with ReLU the same model grokked later and less cleanly in trials here.
Grokking already appears at the standard init scale 1 (the norm at memorisation, ~22, is above
the Goldilocks norm ~15-18 the generalising solutions settle at); init scale 2 shows the other
phases. ``t_grok`` is measured from memorisation (``t_test - t_train``), the theory's quantity
(it neglects the memorisation time); the exponent of ``t_test`` alone is printed next to it.

Result, small size (p=23, 4 weight decays x init 1, 2 x 3 seeds, lr 0.02, 1200 steps):
    * train accuracy reaches 0.9 at 18-38 steps, test accuracy at 742 / 349 / 198 / 139 steps
      (medians, wd 0.25 / 0.5 / 1 / 2): delay ratios 42 / 19 / 9.6 / 3.7, the worst 3.7
      [2.9, 4.0] > 2; no member censored at init 1;
    * exponent ``d ln t_grok / d ln gamma = -0.97 [-1.11, -0.87]`` against Omnigrok's -1:
      agrees (``t_test`` alone: -0.83 [-0.93, -0.75], flatter because memorisation takes
      longer at large ``gamma``);
    * DISAGREEMENT, the clock: the measured ``t_grok`` is ~22x (median; rel. err 34 [22, 50])
      the free-decay time ``ln(w0/w_c)/(eta gamma)`` at the measured norms. Between
      memorisation and generalisation the norm falls only from ~22 to ~16 and ~20x slower than
      ``exp(-eta gamma t)``: Adam normalises the (tiny) loss gradient into steps of size
      ~``eta`` per coordinate, comparable to the decay ``eta gamma w``, so the theory's
      assumption that the loss gradient is negligible fails for AdamW. The decay rate stays
      proportional to ``eta gamma`` (hence the -1 exponent), only the prefactor is off. The
      verdict FAILS by design; ``tests/sims`` lists it as a known disagreement;
    * phases (``dt.grokking_rules``): init 1 groks at every weight decay (3/3 seeds); init 2
      groks at wd <= 0.5 and is in "confusion" at wd >= 1 (the norm collapses below 1 before
      fitting, and the degree-5 homogeneous quadratic network cannot recover);
    * progress measures at the onset of the jump (test accuracy 0.1): restricted loss has
      made 85% [75, 87] of its fall, the gini of the embedding's frequency norms 34% [31, 38]
      of its rise, the excluded loss 23% [11, 33] of its rise (half-way 7 steps before test
      accuracy is half-way: circuit formation and clean-up overlap at this size).

Result, paper size (p=23, wd 0.125-2 x init 0.5-3 x 6 seeds, lr 0.01, 6000 steps; ~400 s on
a loaded 2-core CPU): exponent ``-1.02 [-1.17, -0.87]`` over a 16x range of ``gamma`` (``t_test``
alone -0.95 [-1.08, -0.82]); median ``t_grok`` 3877 / 1791 / 734 / 349 / 189 steps for wd
0.125 ... 2 at init 1; delay ratio >= 4.8 [3.8, 7.1]; the clock again ~23x too fast (rel. err
31 [24, 39]); phases: grokking everywhere at init <= 1, memorisation at (wd 0.5, init 3),
confusion at wd >= 1 for init >= 2, no comprehension (test never within 2x of train); at the
onset of the jump the restricted loss has made 86% [81, 90] of its fall, gini 33% [32, 35],
excluded loss 28% [17, 32] of their rises.
"""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import grokking_weight_norm as theory

__all__ = ["PAPER", "SMALL", "Config", "FourierMeasure", "analyse", "check",
           "record_steps", "run", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Sizes of one grokking sweep (a weight decay x init scale grid, ``seeds`` per cell)."""

    p: int
    train_frac: float
    embed_dim: int
    width: int
    lr: float
    weight_decays: tuple[float, ...]
    init_scales: tuple[float, ...]
    reference_init: float  # the init scale at which the weight-decay exponent is fitted
    seeds: int
    steps: int
    record: int
    top: int = 3  # key frequencies used by the progress measures


SMALL = Config(p=23, train_frac=0.6, embed_dim=16, width=64, lr=2e-2,
               weight_decays=(0.25, 0.5, 1.0, 2.0), init_scales=(1.0, 2.0), reference_init=1.0,
               seeds=3, steps=1200, record=20)
PAPER = Config(p=23, train_frac=0.6, embed_dim=16, width=64, lr=1e-2,
               weight_decays=(0.125, 0.25, 0.5, 1.0, 2.0), init_scales=(0.5, 1.0, 2.0, 3.0),
               reference_init=1.0, seeds=6, steps=6000, record=50)
_SIZES = {"small": SMALL, "paper": PAPER}
THRESHOLD = 0.9  # "reached" accuracy, as in dt.grokking_rules
MEASURES = ("excluded_loss", "restricted_loss", "gini")
ONSET = 0.1  # test accuracy that marks the start of the jump (chance is 1/p; memorising: ~0)


@dataclasses.dataclass(frozen=True)
class FourierMeasure:
    """Nanda et al.'s progress measures from a member's parameters (a ``dt.Metric``).

    ``kind`` is ``"excluded_loss"`` (logits with the key-frequency directions removed, on the
    training pairs, read from the engine's train evaluation batch), ``"restricted_loss"`` (only
    those directions, all pairs) or ``"gini"`` (of the embedding's frequency norms). Key
    frequencies are the ``top`` largest of the embedding's current frequency norms.

    Example:
        >>> m = FourierMeasure("gini", p=23)
    """

    kind: str
    p: int
    top: int = 3

    def __post_init__(self):
        if self.kind not in ("excluded_loss", "restricted_loss", "gini"):
            raise ValueError(f"FourierMeasure.kind must be excluded_loss, restricted_loss or gini, "
                             f"got {self.kind!r}")

    @property
    def name(self) -> str:
        return self.kind

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx: dt.MetricContext):
        p = self.p
        embed = ctx.params["embed"]
        if self.kind == "gini":
            return dt.gini(dt.frequency_norms(embed, p)), state
        a, b = np.divmod(np.arange(p * p), p)
        logits = ctx.apply(ctx.params, jnp.asarray(np.stack([a, b], 1), jnp.int32))
        labels = jnp.asarray((a + b) % p)
        freqs = dt.key_frequencies(embed, p, top=self.top)
        if self.kind == "restricted_loss":
            return dt.restricted_loss(logits, labels, p, freqs), state
        train = ctx.batch[0]
        mask = jnp.zeros(p * p, bool).at[train[:, 0] * p + train[:, 1]].set(True)
        return dt.excluded_loss(logits, labels, p, freqs, mask=mask), state


def sweep(cfg: Config) -> dt.Sweep:
    """The population of one size."""
    metrics = {k: FourierMeasure(k, cfg.p, cfg.top) for k in MEASURES}
    return dt.Sweep(
        task=dt.tasks.ModularArithmetic(p=cfg.p, op="+", train_frac=cfg.train_frac),
        model=dt.models.EmbedMLP(embed_dim=cfg.embed_dim, widths=(cfg.width,),
                                 activation="quadratic"),
        optimizer="adamw", lr=cfg.lr, steps=cfg.steps, batch_size=None,
        axes={"weight_decay": list(cfg.weight_decays), "init_scale": list(cfg.init_scales)},
        seeds=cfg.seeds, record=record_steps(cfg), checkpoints=[cfg.steps], metrics=metrics)


def record_steps(cfg: Config) -> list[int]:
    """Every ``cfg.record`` steps, and every 4 steps over the first 160: memorisation is fast,
    and the grokking delay is measured against it."""
    return sorted(set(range(0, 161, 4)) | set(range(0, cfg.steps + 1, cfg.record)))


def _value_at(da: xr.DataArray, t: xr.DataArray) -> xr.DataArray:
    """``da`` linearly interpolated in ``step`` at each member's time ``t`` (NaN where t is)."""
    steps = da["step"].values.astype(float)
    v = da.transpose(..., "step")
    tt = t.broadcast_like(v.isel(step=0, drop=True)).transpose(*v.dims[:-1])
    flat_v, flat_t = v.values.reshape(-1, steps.size), tt.values.ravel()
    out = np.array([np.interp(ti, steps, vi) if np.isfinite(ti) else np.nan
                    for ti, vi in zip(flat_t, flat_v)]).reshape(tt.shape)
    return tt.copy(data=out)


def _progress(da: xr.DataArray, after: xr.DataArray, at: xr.DataArray
              ) -> tuple[xr.DataArray, xr.DataArray]:
    """How far a progress measure has moved by ``at``, and when it is half-way.

    The measures start from an untrained network whose values say nothing about circuits, so
    each member's curve is taken from its first record at or after memorisation (``after``).
    Returns ``(fraction, t_mid)``: ``(m(at) - m_start) / (m_end - m_start)`` and the first time
    the measure is half-way from ``m_start`` to its final value ``m_end``.
    """
    late = da.where(da.step >= after.fillna(np.inf)).transpose(..., "step")
    first = np.argmax(np.isfinite(late.values), axis=-1)  # index of the first kept record
    start = late.isel(step=0, drop=True).copy(
        data=np.take_along_axis(late.values, first[..., None], -1)[..., 0])
    end = da.isel(step=-1, drop=True)
    level = (start + end) / 2
    toward_end = xr.where(end > start, late - level, level - late)  # crosses 0 upwards
    fraction = (_value_at(da, at) - start) / (end - start)
    return fraction, dt.transition_times(toward_end, threshold=0.0).t_cross


def _phases(ds: xr.Dataset) -> xr.Dataset:
    labels = dt.classify(ds[["train_acc", "test_acc"]], dt.grokking_rules(threshold=THRESHOLD))
    pm = dt.phase_map(labels)
    return xr.Dataset({"phase_label": labels, "phase_fraction": pm.fraction,
                       "phase_majority": pm.majority})


def run(size: str = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the grid and return metrics, transition times and theory in one Dataset.

    Added variables (dims weight_decay, init_scale, seed unless noted): ``t_train`` /
    ``t_test`` (first step at accuracy 0.9, NaN if censored), ``censored_train`` /
    ``censored_test``, ``t_grok`` (``t_test - t_train``), ``t_test50`` (test accuracy 0.5),
    ``t_onset`` (test accuracy ``ONSET``), ``w0`` / ``w_c`` (weight norm at ``t_train`` /
    ``t_test``), ``progress_<measure>`` (fraction of each progress measure's change from
    memorisation to the end already made at ``t_onset``), ``t_<measure>`` (its half-way time),
    ``phase_label`` (``dt.grokking_rules``),
    ``phase_fraction`` (weight_decay, init_scale, phase) and ``phase_majority``; theory:
    ``theory_t_grok`` (``ln(w0/w_c) / (eta gamma)`` at the measured norms), ``theory_valid``
    (``w0 > w_c``) and ``theory_exponent_gamma``.
    """
    if size not in _SIZES:
        raise ValueError(f"run: size must be one of {sorted(_SIZES)}, got {size!r}")
    cfg = _SIZES[size]
    ds = dt.train(sweep(cfg), key=key, store=store).metrics
    out = analyse(ds, cfg)
    out.attrs.update(size=size)
    return out


def analyse(ds: xr.Dataset, cfg: Config) -> xr.Dataset:
    """Transition times, phases, progress-measure times and theory from a run's metrics."""
    tr = dt.transition_times(ds.train_acc, threshold=THRESHOLD)
    te = dt.transition_times(ds.test_acc, threshold=THRESHOLD)
    out = ds.assign(t_train=tr.t_cross, t_test=te.t_cross, censored_train=tr.censored,
                    censored_test=te.censored, t_grok=te.t_cross - tr.t_cross,
                    t_test50=dt.transition_times(ds.test_acc, threshold=0.5).t_cross,
                    w0=_value_at(ds.param_norm, tr.t_cross),
                    w_c=_value_at(ds.param_norm, te.t_cross))
    onset = dt.transition_times(ds.test_acc, threshold=ONSET).t_cross
    out["t_onset"] = onset
    for m in MEASURES:
        out[f"progress_{m}"], out[f"t_{m}"] = _progress(ds[m], tr.t_cross, onset)
    out = out.merge(_phases(ds))
    th = theory.grokking_time().evaluate(
        {"w0": out.w0, "w_c": out.w_c, "gamma": out.weight_decay}, eta=cfg.lr)
    out = out.assign(theory_t_grok=th.theory_t_grok, theory_valid=th.theory_valid,
                     theory_exponent_gamma=th.theory_exponent_gamma)
    out.attrs.update(sim="grokking_weight_norm",
                     sim_config=json.dumps(dataclasses.asdict(cfg)), citation=theory.CITATION,
                     threshold=THRESHOLD)
    return out


def _bound(name: str, samples: np.ndarray, *, bound: float, label: str, detail: str = "",
           stat=np.median, seed: int = 0) -> dt.Verdict:
    """One-sided verdict: the bootstrap interval of ``stat`` over members lies above ``bound``.

    ``Verdict`` prints ``within ±tol``; a one-sided test reads ``> bound`` instead (see
    :class:`_OneSided`). Non-finite members are dropped and counted, except ``+inf`` (a censored
    member that never caught up), which is a legitimate, maximal value for a median.
    """
    x = np.asarray(samples, dtype=float).ravel()
    keep = ~np.isnan(x)
    est, lo, hi = dt.bootstrap_ci(x[keep], axis=0, stat=stat, n_boot=4000, seed=seed)
    return _OneSided(name=name, passed=bool(lo > bound), effect=float(est),
                  interval=(float(lo), float(hi)), tolerance=float(bound),
                  n_members=int(keep.sum()), n_excluded=int((~keep).sum()), label=label,
                  detail=detail)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _OneSided(dt.Verdict):
    """A one-sided :class:`dt.Verdict`: the whole interval lies above ``tolerance``."""

    direction: str = "above"

    def __str__(self) -> str:
        lo, hi = self.interval
        excluded = f", {self.n_excluded} excluded" if self.n_excluded else ""
        side = self.direction if self.passed else f"not {self.direction}"
        line = (f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.label} {self.effect:.3g} "
                f"[{lo:.3g}, {hi:.3g}] {side} {self.tolerance:.3g} "
                f"(n={self.n_members} members{excluded})")
        return f"{line}; {self.detail}" if self.detail else line


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts on the run at the reference init scale (and the phase map over the grid).

    1. ``grokking_delay``: at every weight decay, the median over seeds of ``t_test / t_train``
       (censored test = +inf) has its 95% interval above 2 (the delay of ``dt.grokking_rules``).
    2. ``omnigrok_exponent``: log-log slope of ``t_grok = t_test - t_train`` against ``gamma``
       within ±0.3 of the derived -1 (whole interval; ±0.3 separates ``1/gamma`` from
       ``1/sqrt(gamma)`` and ``1/gamma^2``). Censored members are excluded and counted.
    3. ``omnigrok_clock``: ``t_grok`` equals ``ln(w0/w_c)/(eta gamma)`` at the measured norms
       within a factor 2 (relative tol 0.5): the free-decay mechanism itself. Expected to FAIL
       with AdamW (module docstring).
    4. ``grokking_phase``: fraction of members at the reference init that ``dt.grokking_rules``
       labels "grokking", interval above 0.5.
    5. ``<measure>_moves_first``: by the step test accuracy reaches ``ONSET`` (the start of the
       jump), each progress measure has already made more than a tenth of its change from
       memorisation to the end of training (median over members, interval above 0.1). Half-way
       times against test accuracy 0.5 are printed as well.
    """
    cfg = json.loads(ds.attrs["sim_config"])
    ref = ds.sel(init_scale=cfg["reference_init"]).transpose("weight_decay", "seed", ...)
    wd = ref.weight_decay.values
    out = []

    ratio = (ref.t_test.where(~ref.censored_test, np.inf) / ref.t_train).values
    per_wd = [_bound("", r, bound=2.0, label="") for r in ratio]
    worst = int(np.argmin([v.interval[0] for v in per_wd]))
    v = per_wd[worst]
    out.append(_OneSided(
        name="grokking_delay", passed=all(p.passed for p in per_wd), effect=v.effect,
        interval=v.interval, tolerance=2.0, n_members=int(ratio.size), label="t_test/t_train",
        detail=(f"worst at weight_decay={wd[worst]:g}; medians "
                + ", ".join(f"{w:g}: {p.effect:.3g}" for w, p in zip(wd, per_wd))
                + f"; censored test {int(ref.censored_test.sum())}/{ref.censored_test.size}, "
                  f"censored train {int(ref.censored_train.sum())}")))

    predicted = float(ref.theory_exponent_gamma.isel(weight_decay=0, seed=0))
    v = dt.slope_verdict(wd, ref.t_grok.values, predicted=predicted, tol=0.3,
                         name="omnigrok_exponent")
    t_test_fit = dt.fit_slope(wd, ref.t_test.values)
    out.append(dataclasses.replace(v, detail=v.detail + (
        f"; t_grok = t_test - t_train; slope of t_test alone {t_test_fit.slope:.3g} "
        f"[{t_test_fit.interval[0]:.3g}, {t_test_fit.interval[1]:.3g}]")))

    ok = ref.theory_valid & np.isfinite(ref.t_grok)
    rel = ((ref.t_grok - ref.theory_t_grok) / ref.theory_t_grok).where(ok)
    est, lo, hi = dt.bootstrap_ci(rel.values.ravel()[np.isfinite(rel.values.ravel())], axis=0,
                                  n_boot=4000)
    ratio_clock = float(np.nanmedian((ref.t_grok / ref.theory_t_grok).where(ok)))
    out.append(dt.Verdict(
        name="omnigrok_clock", passed=bool(-0.5 <= lo and hi <= 0.5), effect=float(est),
        interval=(float(lo), float(hi)), tolerance=0.5, label="rel.err",
        n_members=int(np.isfinite(rel.values).sum()),
        n_excluded=int(rel.size - np.isfinite(rel.values).sum()),
        detail=(f"measured t_grok is {ratio_clock:.3g}x ln(w0/w_c)/(eta gamma) (median): the "
                f"norm decays slower than free weight decay; ln(w0/w_c) median "
                f"{float(np.log(ref.w0 / ref.w_c).median()):.3g}")))

    is_grok = (ref.phase_label == "grokking").values.astype(float)
    v = _bound("grokking_phase", is_grok, bound=0.5, label="fraction grokking", stat=np.mean)
    fr = ds.phase_fraction
    cells = "; ".join(
        f"(wd={w:g}, init={i:g}): {str(ds.phase_majority.sel(weight_decay=w, init_scale=i).item())} "
        f"{float(fr.sel(weight_decay=w, init_scale=i).max()):.2f}"
        for w in ds.weight_decay.values for i in ds.init_scale.values)
    out.append(dataclasses.replace(v, detail=f"majority phase per cell: {cells}"))

    t50 = ref.t_test50
    for m in MEASURES:
        lead = (t50 - ref[f"t_{m}"]).values
        lead_med = float(np.nanmedian(lead))
        out.append(_bound(
            f"{m}_moves_first", ref[f"progress_{m}"].values, bound=0.1,
            label="fraction of change done at onset",
            detail=(f"by the step test acc reaches {ONSET:g} (median {float(ref.t_onset.median()):.4g}); "
                    f"half-way at {float(ref[f't_{m}'].median()):.4g} vs test acc 0.5 at "
                    f"{float(t50.median()):.4g} (median lead {lead_med:.3g} steps)")))
    return out


if __name__ == "__main__":  # the same as `dyntheory run grokking_weight_norm [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "grokking_weight_norm", *sys.argv[1:]]))
