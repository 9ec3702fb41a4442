"""Grokking on modular addition and Omnigrok's weight-norm clock, ``t_grok ~ 1/(eta gamma)``.

Experiment: an embedding MLP (``dt.models.EmbedMLP``, quadratic activation as in Gromov 2023)
learns ``(a + b) mod p`` from a fixed fraction of the ``p^2`` pairs, full batch, with AdamW
(decoupled weight decay ``gamma``, learning rate ``eta``), over weight decay x init scale x
seeds. Recorded: train/test accuracy, the weight norm, and Nanda et al.'s progress measures,
computed by a user metric from the member's own parameters (:class:`FourierMeasure`).

Measured (``check`` prints every number): grokking (test accuracy reaches 0.9 long after train
accuracy); Omnigrok's exponent ``d ln t_grok / d ln gamma = -1`` (``theory.grokking_weight_norm``)
with ``t_grok = t_test - t_train``, the theory's quantity; the clock itself, ``t_grok`` against
``ln(w0 / w_c) / (eta gamma)`` at the measured norms; phases (``dt.grokking_rules``); progress
measures moving before the test accuracy jumps.

Known disagreement (``KNOWN``), the clock: the measured ``t_grok`` is about 20x the free-decay
time ``ln(w0/w_c)/(eta gamma)``, at both sizes. Between memorisation and generalisation the norm
falls far slower than ``exp(-eta gamma t)``: Adam normalises the (tiny) loss gradient into steps
of size ~``eta`` per coordinate, comparable to the decay ``eta gamma w``, so the theory's
assumption that the loss gradient is negligible fails for AdamW. The decay rate stays
proportional to ``eta gamma`` (hence the -1 exponent); only the prefactor is off.

Choices: the quadratic activation groks within ~10^3 full-batch steps at ``p = 23`` (ReLU later
and less cleanly, in trials here). Init scale 2 adds "confusion" at large weight decay: the norm
collapses before fitting, and the degree-5 homogeneous network cannot recover.

References: Z. Liu, E. J. Michaud, M. Tegmark (2023), "Omnigrok: Grokking Beyond Algorithmic
Data", arXiv:2210.01117; A. Power et al. (2022), arXiv:2201.02177; N. Nanda, L. Chan, T. Lieberum,
J. Smith, J. Steinhardt (2023), "Progress measures for grokking via mechanistic
interpretability", arXiv:2301.05217; A. Gromov (2023), "Grokking modular arithmetic",
arXiv:2301.02679. Theory partner: ``theory/grokking_weight_norm.py``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import grokking_weight_norm as theory

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "Config", "FourierMeasure", "analyse", "check",
           "record_steps", "run", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
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
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = (dt.Known(
    name="omnigrok_clock", direction="above",
    reason="AdamW's weight norm decays ~20x slower than free weight decay: Adam's normalised "
           "loss-gradient steps push back (the 1/gamma exponent survives, the prefactor does not)",
    where="sims/grokking_weight_norm.py, module docstring"),)
THRESHOLD = 0.9  # "reached" accuracy, as in dt.grokking_rules
MEASURES = ("excluded_loss", "restricted_loss", "gini")
ONSET = 0.1  # test accuracy that marks the start of the jump (chance is 1/p; memorising: ~0)


@dataclasses.dataclass(frozen=True)
class FourierMeasure:
    """Nanda et al.'s progress measures from a member's parameters (a ``dt.Metric``).

    ``kind``: ``"excluded_loss"`` (logits without the key-frequency directions, on the training
    pairs of the engine's evaluation batch), ``"restricted_loss"`` (only those directions, all
    pairs) or ``"gini"`` (of the embedding's frequency norms); key frequencies are the ``top``
    largest of the embedding's current frequency norms. Example: ``FourierMeasure("gini", p=23)``.
    """

    kind: str
    p: int
    top: int = 3

    def __post_init__(self):
        if self.kind not in MEASURES:
            raise ValueError(f"FourierMeasure.kind must be one of {MEASURES}, got {self.kind!r}")

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
    """Every ``cfg.record`` steps, and every 4 over the first 160 (memorisation is fast)."""
    return sorted(set(range(0, 161, 4)) | set(range(0, cfg.steps + 1, cfg.record)))


def _progress(da: xr.DataArray, after: xr.DataArray, at: xr.DataArray
              ) -> tuple[xr.DataArray, xr.DataArray]:
    """``(m(at) - m_start) / (m_end - m_start)`` and the time ``m`` is half-way to ``m_end``.

    An untrained network's values say nothing about circuits, so each member's curve starts at
    its first record at or after memorisation (``after``).
    """
    late = da.where(da.step >= after.fillna(np.inf)).transpose(..., "step")
    first = np.argmax(np.isfinite(late.values), axis=-1)  # index of the first kept record
    start = late.isel(step=0, drop=True).copy(
        data=np.take_along_axis(late.values, first[..., None], -1)[..., 0])
    end = da.isel(step=-1, drop=True)
    level = (start + end) / 2
    toward_end = xr.where(end > start, late - level, level - late)  # crosses 0 upwards
    fraction = (dt.value_at(da, at) - start) / (end - start)
    return fraction, dt.transition_times(toward_end, threshold=0.0).t_cross


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the grid and return metrics, transition times and theory in one Dataset.

    Added (dims weight_decay, init_scale, seed): ``t_train`` / ``t_test`` (accuracy 0.9, NaN if
    censored), ``censored_train`` / ``censored_test``, ``t_grok``, ``t_test50``, ``t_onset``
    (test accuracy ``ONSET``), ``w0`` / ``w_c`` (weight norm at ``t_train`` / ``t_test``),
    ``progress_<measure>`` (fraction of its change made by ``t_onset``), ``t_<measure>`` (its
    half-way time), ``phase_label`` / ``phase_fraction`` / ``phase_majority``; theory
    ``theory_t_grok`` (``ln(w0/w_c) / (eta gamma)``), ``theory_valid``, ``theory_exponent_gamma``.
    """
    cfg = dt.pick_size(SIZES, size)
    out = analyse(dt.train(sweep(cfg), key=key, store=store).metrics, cfg)
    return cfg.stamp(out, sim="grokking_weight_norm", size=size, key=key,
                     citation=theory.CITATION, threshold=THRESHOLD)


def analyse(ds: xr.Dataset, cfg: Config) -> xr.Dataset:
    """Transition times, phases, progress-measure times and theory from a run's metrics."""
    tr = dt.transition_times(ds.train_acc, threshold=THRESHOLD)
    te = dt.transition_times(ds.test_acc, threshold=THRESHOLD)
    out = ds.assign(t_train=tr.t_cross, t_test=te.t_cross, censored_train=tr.censored,
                    censored_test=te.censored, t_grok=te.t_cross - tr.t_cross,
                    t_test50=dt.transition_times(ds.test_acc, threshold=0.5).t_cross,
                    w0=dt.value_at(ds.param_norm, tr.t_cross),
                    w_c=dt.value_at(ds.param_norm, te.t_cross))
    onset = dt.transition_times(ds.test_acc, threshold=ONSET).t_cross
    out["t_onset"] = onset
    for m in MEASURES:
        out[f"progress_{m}"], out[f"t_{m}"] = _progress(ds[m], tr.t_cross, onset)
    labels = dt.classify(ds[["train_acc", "test_acc"]], dt.grokking_rules(threshold=THRESHOLD))
    pm = dt.phase_map(labels)
    out = out.assign(phase_label=labels, phase_fraction=pm.fraction, phase_majority=pm.majority)
    th = theory.grokking_time().evaluate(
        {"w0": out.w0, "w_c": out.w_c, "gamma": out.weight_decay}, eta=cfg.lr)
    return out.assign(theory_t_grok=th.theory_t_grok, theory_valid=th.theory_valid,
                      theory_exponent_gamma=th.theory_exponent_gamma)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts at the reference init scale (95% intervals, members = weight decay x seed).

    1. ``grokking_delay``: per weight decay, median ``t_test / t_train`` (censored = +inf) above 2.
    2. ``omnigrok_exponent``: slope of ``t_grok`` against ``gamma`` within ±0.3 of -1 (separates
       ``1/gamma`` from ``1/sqrt(gamma)`` and ``1/gamma^2``; censored members excluded).
    3. ``omnigrok_clock``: ``t_grok`` equals ``ln(w0/w_c)/(eta gamma)`` within a factor 2
       (relative tol 0.5): the free-decay mechanism itself; ``KNOWN`` to fail with AdamW.
    4. ``grokking_phase``: fraction labelled "grokking" by ``dt.grokking_rules`` above 0.5.
    5. ``<measure>_moves_first``: by test accuracy ``ONSET`` (the start of the jump), median
       fraction of the measure's change since memorisation above 0.1.
    """
    cfg = Config.from_attrs(ds)
    ref = ds.sel(init_scale=cfg.reference_init).transpose("weight_decay", "seed", ...)
    wd = ref.weight_decay.values
    members = ("weight_decay", "seed")
    out = []

    ratio = ref.t_test.where(~ref.censored_test, np.inf) / ref.t_train
    v = dt.equivalence(ratio, 2.0, side="above", statistic="median", n_boot=4000,
                       name="grokking_delay")
    medians = ", ".join(f"{w:g}: {m:.3g}" for w, m in zip(wd, v.per_coord.estimate.values))
    out.append(dataclasses.replace(v, label="median t_test/t_train", detail=(
        f"{v.detail}; medians {medians}; censored test {int(ref.censored_test.sum())}/"
        f"{ref.censored_test.size}, censored train {int(ref.censored_train.sum())}")))

    predicted = float(ref.theory_exponent_gamma.isel(weight_decay=0, seed=0))
    v = dt.slope_verdict(wd, ref.t_grok.values, predicted=predicted, tol=0.3,
                         name="omnigrok_exponent")
    t_test_fit = dt.fit_slope(wd, ref.t_test.values)
    out.append(dataclasses.replace(v, detail=v.detail + (
        f"; t_grok = t_test - t_train; slope of t_test alone {t_test_fit.slope:.3g} "
        f"[{t_test_fit.interval[0]:.3g}, {t_test_fit.interval[1]:.3g}]")))

    ok = ref.theory_valid & np.isfinite(ref.t_grok)
    rel = ((ref.t_grok - ref.theory_t_grok) / ref.theory_t_grok).where(ok)
    v = dt.equivalence(rel, 0.0, over=members, relative=False, tol=0.5, n_boot=4000,
                       name="omnigrok_clock")
    out.append(dataclasses.replace(v, label="rel.err", detail=(
        f"measured t_grok is {float((ref.t_grok / ref.theory_t_grok).where(ok).median()):.3g}x "
        f"ln(w0/w_c)/(eta gamma) (median): the norm decays slower than free weight decay; "
        f"ln(w0/w_c) median {float(np.log(ref.w0 / ref.w_c).median()):.3g}")))

    is_grok = (ref.phase_label == "grokking").astype(float)
    v = dt.equivalence(is_grok, 0.5, over=members, side="above", n_boot=4000,
                       name="grokking_phase")
    cells = "; ".join(
        f"(wd={w:g}, init={i:g}): {ds.phase_majority.sel(weight_decay=w, init_scale=i).item()} "
        f"{float(ds.phase_fraction.sel(weight_decay=w, init_scale=i).max()):.2f}"
        for w in ds.weight_decay.values for i in ds.init_scale.values)
    out.append(dataclasses.replace(v, label="fraction grokking",
                                   detail=f"majority phase per cell: {cells}"))

    t50 = ref.t_test50
    for m in MEASURES:
        v = dt.equivalence(ref[f"progress_{m}"], 0.1, over=members, side="above",
                           statistic="median", n_boot=4000, name=f"{m}_moves_first")
        out.append(dataclasses.replace(v, label="fraction of change done at onset", detail=(
            f"by the step test acc reaches {ONSET:g} (median {float(ref.t_onset.median()):.4g}); "
            f"half-way at {float(ref[f't_{m}'].median()):.4g} vs test acc 0.5 at "
            f"{float(t50.median()):.4g} (median lead "
            f"{float(np.nanmedian((t50 - ref[f't_{m}']).values)):.3g} steps)")))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run grokking_weight_norm [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "grokking_weight_norm", *sys.argv[1:]]))
