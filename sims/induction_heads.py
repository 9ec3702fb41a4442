"""Induction heads form when the in-context loss drops, in two-layer attention-only transformers only.

Experiment: attention-only transformers (``dt.models.Transformer``, ``d_mlp=0``) with one and two
layers learn next-token prediction on random token sequences repeated once
(``dt.tasks.RepeatedTokens``), with Adam, over seeds. Recorded: the in-context loss (the
repeated half of the test set, ``dt.tasks.PositionLoss``), the last layer's largest
prefix-matching score and the first layer's largest previous-token score, each on a fixed probe
of distinct tokens repeated (``dt.models.prefix_matching``, ``previous_token``).

Claims (``check``): the two-layer in-context loss plateaus near the "seen tokens" level and then
drops below half of it (``theory.induction_heads.loss_levels``); the last layer's
prefix-matching score crosses half-way from chance (``theory.induction_heads.uniform_scores``)
to 1 within 10% of training time of the drop (lag with a bootstrap CI over seeds); a one-layer
model never drops (an induction head needs a previous-token head in an earlier layer).

Choice, and a finding: with a fixed period ``P`` a one-layer model solves the repeated half too
(measured, small size, 4 seeds: final in-context loss 0.12-0.13, prefix-matching 0.99): its
single head attends to position ``q - P + 1`` by position, no induction needed. The task here
draws each sequence's period from ``min_prefix..prefix`` (``RepeatedTokens(min_prefix=...)``), so
only the tokens say where the previous occurrence is.

Measured (small: vocab 16, P 8, periods 4..8, d_model 32, 2 heads, Adam 3e-3, 1200 steps, 4
seeds; 34 s on a shared 2-core machine): two layers drop at t = 373-431 (loss below 0.927, half
the seen-tokens level 1.854; final 0.22-0.28); the last layer's prefix-matching crosses 0.543
(half-way from chance 0.086 to 1) at t = 354-434, lag -0.012 of training [-0.020, -0.002];
one layer ends at 1.36-1.49 (below the seen-tokens level: it uses more than the bag of tokens,
but never drops) with prefix-matching 0.28-0.29.

Measured (paper: vocab 32, P 12, periods 6..12, d_model 32, 2 heads, Adam 3e-3, 2,400 steps, 8
seeds, key 0; 14.7 min wall, 91 s CPU, on the shared 2-core machine at load ~15): all four claims
hold. Two layers drop at t = 517-1184 (median ~580; loss below 1.155, half the seen-tokens level
2.310; final 0.22-0.31); the last layer's prefix-matching crosses 0.529 (half-way from chance
0.057) at t = 480-1185, lag -0.0099 of training [-0.013, -0.006] (the head forms ~24 steps
before the loss crosses), final 0.87-0.93; one layer ends at 2.07-2.17 with prefix-matching
0.19-0.21. Larger models (d_model 64, 4 heads, vocab 64) were not run: the claim does not need
them.

Reference: C. Olsson, N. Elhage, N. Nanda, N. Joseph et al. (2022), "In-context learning and
induction heads", arXiv:2209.11895. Theory partner: ``theory/induction_heads.py``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import induction_heads as theory

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "Config", "LayerScore", "analyse", "check", "run", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run: layers 1 and 2, ``seeds`` each."""

    vocab: int
    prefix: int
    d_model: int
    heads: int
    lr: float
    batch_size: int
    steps: int
    record: int
    seeds: int
    min_prefix: int
    n_test: int = 128
    probe: int = 32


SMALL = Config(vocab=16, prefix=8, min_prefix=4, d_model=32, heads=2, lr=3e-3, batch_size=32, steps=1200,
               record=20, seeds=4)
PAPER = Config(vocab=32, prefix=12, min_prefix=6, d_model=32, heads=2, lr=3e-3, batch_size=32, steps=2400,
               record=20, seeds=8)
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN: tuple[dt.Known, ...] = ()
LAG_TOL = 0.1  # of training time


@dataclasses.dataclass(frozen=True)
class LayerScore:
    """A metric: the largest score over the heads of one layer (``layer=-1``: the last), on a fixed
    repeated probe. ``model`` gives ``attention``; only ``layers`` differs between the groups, and
    ``attention`` reads the layers from the parameters. Example: ``LayerScore(model, "prefix", -1,
    16, 8)``."""

    model: object
    score: str
    layer: int
    vocab: int
    prefix: int
    n: int = 32

    @property
    def name(self) -> str:
        return f"{self.score}_{'last' if self.layer == -1 else self.layer}"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x = dt.models.repeated_probe(self.vocab, self.prefix, self.n)
        pats = self.model.attention(ctx.params, x)
        s = dt.models.prefix_matching(pats, self.prefix) if self.score == "prefix" else dt.models.previous_token(pats)
        return jnp.max(s[self.layer]), state


def sweep(cfg: Config) -> dt.Sweep:
    """Layers 1 and 2 (compiled groups) x seeds."""
    model = dt.models.Transformer(layers=2, heads=cfg.heads, d_model=cfg.d_model)
    metrics = {"icl_loss": dt.tasks.PositionLoss("icl_loss", start=cfg.prefix, of="test"),
               "prefix_last": LayerScore(model, "prefix", -1, cfg.vocab, cfg.prefix, cfg.probe),
               "previous_0": LayerScore(model, "previous", 0, cfg.vocab, cfg.prefix, cfg.probe)}
    return dt.Sweep(task=dt.tasks.RepeatedTokens(vocab=cfg.vocab, prefix=cfg.prefix,
                                                         min_prefix=cfg.min_prefix, n_test=cfg.n_test),
                    model=model, optimizer="adam", lr=cfg.lr, steps=cfg.steps, batch_size=cfg.batch_size,
                    axes={"layers": [1, 2]}, seeds=cfg.seeds, record=cfg.record, checkpoints=[cfg.steps],
                    metrics=metrics)


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train both depths and add transition times and theory levels.

    Added: ``t_drop`` (in-context loss below ``drop_level``), ``t_head`` (last-layer
    prefix-matching above ``head_level``), their ``censored_*`` flags, ``lag`` (``(t_head -
    t_drop) / steps``), ``final_icl``; attrs ``seen_level``, ``drop_level``, ``chance_score``,
    ``head_level``.
    """
    cfg = dt.pick_size(SIZES, size)
    ds = analyse(dt.train(sweep(cfg), key=key, store=store).metrics, cfg)
    return cfg.stamp(ds, sim="induction_heads", size=size, key=key, citation=theory.CITATION)


def analyse(ds: xr.Dataset, cfg: Config) -> xr.Dataset:
    levels = theory.loss_levels(cfg.vocab, cfg.prefix)
    chance = float(theory.uniform_scores()(P=float(cfg.prefix))["prefix_matching"])
    drop_level, head_level = levels["seen"] / 2, (chance + 1) / 2
    drop = dt.transition_times(ds.icl_loss, threshold=drop_level, direction="down")
    head = dt.transition_times(ds.prefix_last, threshold=head_level)
    out = ds.assign(t_drop=drop.t_cross, censored_drop=drop.censored, t_head=head.t_cross,
                    censored_head=head.censored, lag=(head.t_cross - drop.t_cross) / cfg.steps,
                    final_icl=ds.icl_loss.isel(step=-1, drop=True))
    out.attrs.update(seen_level=levels["seen"], unigram_level=levels["unigram"], drop_level=drop_level,
                     chance_score=chance, head_level=head_level)
    return out


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts (95% bootstrap intervals over seeds).

    1. ``two_layer_drops``: every two-layer member's in-context loss crosses ``drop_level``
       (fraction of members crossing, CI above 0.5).
    2. ``head_forms_with_drop``: ``|t_head - t_drop| / steps`` within ``LAG_TOL`` (two-sided on
       the lag's mean).
    3. ``one_layer_no_drop``: the one-layer final in-context loss stays above ``drop_level``.
    4. ``one_layer_no_head``: the one-layer prefix-matching score stays below ``head_level``.
    """
    a = ds.attrs
    two, one = ds.sel(layers=2), ds.sel(layers=1)
    out = []
    crossed = (~two.censored_drop).astype(float)
    v = dt.equivalence(crossed, 0.5, side="above", name="two_layer_drops")
    out.append(dataclasses.replace(v, label="fraction dropping", detail=(
        f"{v.detail}; t_drop {np.round(two.t_drop.values, 1).tolist()}; plateau level (seen tokens) "
        f"{a['seen_level']:.3f}, drop below {a['drop_level']:.3f}; final in-context loss "
        f"{np.round(two.final_icl.values, 3).tolist()}")))
    v = dt.equivalence(two.lag, 0.0, tol=LAG_TOL, relative=False, name="head_forms_with_drop")
    out.append(dataclasses.replace(v, label="(t_head - t_drop)/steps", detail=(
        f"{v.detail}; t_head {np.round(two.t_head.values, 1).tolist()}; head level {a['head_level']:.3f} "
        f"(chance {a['chance_score']:.3f})")))
    v = dt.equivalence(one.final_icl, a["drop_level"], side="above", name="one_layer_no_drop")
    out.append(dataclasses.replace(v, label="final in-context loss", detail=(
        f"{v.detail}; one-layer final {np.round(one.final_icl.values, 3).tolist()} vs seen level "
        f"{a['seen_level']:.3f}")))
    final_pm = one.prefix_last.isel(step=-1, drop=True)
    v = dt.equivalence(final_pm, a["head_level"], side="below", name="one_layer_no_head")
    out.append(dataclasses.replace(v, label="final prefix-matching", detail=(
        f"{v.detail}; one-layer {np.round(final_pm.values, 3).tolist()}, two-layer "
        f"{np.round(two.prefix_last.isel(step=-1).values, 3).tolist()}")))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run induction_heads [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "induction_heads", *sys.argv[1:]]))
