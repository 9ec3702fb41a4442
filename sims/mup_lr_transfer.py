"""Learning-rate transfer as a rule: muP's best Adam learning rate stays put as width grows; SP's falls.

Experiment:
    A two-hidden-layer ReLU MLP (``MLP(widths=(n, n))``, no biases) trained by minibatch Adam on
    a streaming teacher-student regression for a short budget, at several widths ``n`` x a
    geometric grid of learning rates x seeds, in the four parametrizations of
    ``sims/mup_coord_check.py``: SP, muP (Table 3 with ``eps`` scaled per layer), and the two
    mutants (readout left as in SP; ``eps`` unscaled). ``eps`` is ``EPS``, near the hidden
    gradients' size at the base width, so that the eps mutant differs within the widths run.
    The best learning rate is chosen by the held-out loss (``test_loss`` on the task's held-out
    set), averaged over the last ``tail`` records to damp Adam's step-to-step noise; a member
    that diverged counts as the worst.

    The teacher is linear (``teacher="linear"``). The earlier tanh teacher (width 256, fan-in
    32) is about 93% linear in variance (``E[tanh']^2 / E[tanh^2]`` for a unit Gaussian): the
    linear part was learned within the budget at every learning rate and the held-out loss
    stalled near the nonlinear 7% (0.018 of 0.26 at width 512 for lrs 2^-10 to 2^-5), so
    muP's ``lr*`` was not identified. A linear teacher is learned at a rate set by the learning
    rate until Adam's jitter or instability stops it, so the loss has a minimum over ``lr``
    (exploratory, muP, widths 64/256/1024, 150 steps of batch 32, 2 seeds: ``lr*`` at 2^-5 at
    each width, log10 loss lower there than one grid step below by 0.09 to 0.24).

Pairs with:
    ``theory/mup_lr_transfer.py``: the slope of ``log lr*`` against ``log width`` set by the
    largest first-step update per unit lr: SP -1, muP 0, readout mutant -1; the eps mutant's is
    not fixed by the argument (0 from stability, pulled up by features that stop learning).

Measured (``check``), each a ``design.Invariance`` rule (bootstrap over seeds, ``lr*`` refined
by a parabola through the grid minimum):
    * ``transfer_<variant>``: the muP claim, slope 0 within ``±MARGIN``, for every variant. muP
      must pass; SP and the readout mutant must fail it (declared ``KNOWN``, direction
      ``below``, so a mutant that slipped through would read ``XPASS``); the eps mutant is
      reported as measured.
    * ``slope_<sp|mutant_readout>``: the slope against the theory's -1, within ``±SLOPE_MARGIN``.

Findings (small size, key 0: widths 32-256, 8 lrs x 4 seeds, 100 steps of batch 16; bootstrap
95% CIs). SP's slope is -0.67 [-0.70, -0.43]: it fails transfer (KNOWN), shallower than the
theory's -1 at these widths (lr* 0.028, 0.023, 0.018, 0.0064). muP's is 0.07 [-0.58, 0.27],
INCONCLUSIVE (~41 seeds would settle it): its lr* stays within 0.018-0.036, but at width 256
its held-out loss is flat within noise from lr 2^-7 to 2^-4, so resamples move lr* along that
floor. The readout mutant's is -0.21 [-0.29, -0.03]: resolved below 0 but not past the margin
(INCONCLUSIVE, with its known disagreement attached). The eps mutant was not measured.

Paper size (key 0: widths 64-2048, 9 lrs 2^-11..2^-3 x 8 seeds, 120 steps of batch 16; about 4.7
TFLOP and 20 CPU-minutes per variant; the eps mutant not run). SP's slope is -0.73
[-0.79, -0.66]: it fails transfer (KNOWN) and agrees with the theory's -1 within ±0.35 (PASS);
lr* 0.023, 0.022, 0.0079, 0.0051, 0.0029, 0.0024 and its loss above lr* climbs ever more steeply
with width (log10 held-out loss at lr 2^-3: -0.33 at width 64, 1.22 at 2048). muP is
INCONCLUSIVE, -0.45 [-0.72, 0.10] (~22 seeds would settle it, if the estimate stayed): its lr*
holds at 0.021-0.028 from width 64 to 1024, and its stability edge stays at lr 2^-4 to 2^-3,
but from width 512 up its held-out loss is a floor, flat within the seeds' spread (about 0.15 in
log10) from lr 2^-10 to 2^-5 (log10 -2.46 to -2.52 at width 2048), so the argmin jumps along the
floor: at 2048 it reads 0.0022, and resamples do the same at 512 and 1024 (over widths 64-1024
alone the slope is 0.08 [-0.55, 0.15], still INCONCLUSIVE). The task saturates again at large
width, now at a floor that falls with width (log10 -2.19 at 64, -2.50 at 2048): lr* by held-out
loss is not identified there, and neither a pass nor a fail of muP is shown at this size. The
readout mutant's slope is -0.22 [-0.28, -0.17]: resolved below 0 (its lr* falls from 0.023 to
0.011) but not past the margin (INCONCLUSIVE, ~47 seeds), and far shallower than the theory's -1
(``slope_mutant_readout`` FAILs at this size: a disagreement not yet explained; at small size it
is KNOWN, where the hidden layers still bound lr*).

Reference:
    G. Yang et al. (2022), "Tensor Programs V", arXiv 2203.03466, Figure 1 and Table 3.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run mup_lr_transfer``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import design
from theory import mup_lr_transfer as theory

__all__ = ["EPS", "KNOWN", "MARGIN", "SIZES", "SLOPE_MARGIN", "VARIANTS", "Config", "check", "held_out", "run",
           "sweep", "train_variant", "transfer_rule"]

VARIANTS = {
    "sp": dict(parametrization="standard"),
    "mup": dict(parametrization="mup", mup_eps=True),
    "mutant_readout": dict(parametrization="mup", mup_eps=True, mup_readout="standard"),
    "mutant_eps": dict(parametrization="mup"),
}
EPS = 1e-3          # Adam's eps: near the hidden gradients' size at the base width
MARGIN = 0.2        # |slope of log lr* vs log width| allowed for "transfers"
SLOPE_MARGIN = 0.35  # |slope - predicted| allowed where the theory predicts -1
_WHERE = "sims/mup_lr_transfer.py"
KNOWN = (
    dt.Known(name="transfer_sp", reason="SP with Adam: the n*lr update of hidden layers and readout moves "
             "lr* down as width grows", where=_WHERE, direction="below"),
    dt.Known(name="transfer_mutant_readout", reason="muP with an SP readout: its n*lr output update moves "
             "lr* down as width grows", where=_WHERE, direction="below"),
    dt.Known(name="slope_mutant_readout", reason="readout mutant at widths <= 256: the hidden layers, not its "
             "readout, still bound lr*, so its slope is shallower than -1", where=_WHERE, direction="above",
             sizes=("small",)),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        widths: hidden widths (at least 3; the smallest is muP's base width).
        lrs: Adam learning rates (at least 5, a geometric grid).
        d_in, teacher, teacher_width: the teacher-student task (``teacher`` ``"linear"`` or
            ``"mlp"``, a tanh teacher of ``teacher_width``).
        batch_size, steps: Adam's minibatch and budget.
        tail: held-out loss averaged over this many last records (every 2 steps).
        seeds: replicate seeds.
        n_test: held-out points.
        variants: which of ``VARIANTS`` to train.
    """

    widths: tuple[int, ...]
    lrs: tuple[float, ...]
    d_in: int
    teacher_width: int
    batch_size: int
    steps: int
    tail: int
    seeds: int
    n_test: int = 256
    teacher: str = "linear"
    variants: tuple[str, ...] = tuple(VARIANTS)

    def __post_init__(self):
        if len(self.widths) < 3:
            raise ValueError(f"Config.widths: a slope needs >= 3 widths, got {self.widths}")
        if len(self.lrs) < 5:
            raise ValueError(f"Config.lrs: locating lr* needs >= 5 learning rates, got {self.lrs}")
        if not 1 <= self.tail <= self.steps // 2:
            raise ValueError(f"Config.tail must be in [1, steps/2], got {self.tail}")
        if self.teacher not in ("linear", "mlp"):
            raise ValueError(f"Config.teacher must be 'linear' or 'mlp', got {self.teacher!r}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"Config.variants: unknown {bad}; known {list(VARIANTS)}")


def _grid(lo: float, n: int) -> tuple[float, ...]:
    return tuple(float(lo * 2.0 ** k) for k in range(n))


SIZES = {
    "small": Config(widths=(32, 64, 128, 256), lrs=_grid(2.0 ** -9, 8), d_in=32, teacher_width=1,
                    batch_size=16, steps=100, tail=5, seeds=4),
    "paper": Config(widths=(64, 128, 256, 512, 1024, 2048), lrs=_grid(2.0 ** -11, 9), d_in=32,
                    teacher_width=1, batch_size=16, steps=120, tail=5, seeds=8),
}


def record_steps(cfg: Config) -> list[int]:
    """Step 0 and the last ``tail`` records, every 2 steps."""
    return sorted({0} | {cfg.steps - 2 * k for k in range(cfg.tail)})


def sweep(cfg: Config, variant: str, *, widths: tuple[int, ...] | None = None,
          lrs: tuple[float, ...] | None = None, seeds=None) -> dt.Sweep:
    """One variant's population: widths x lrs x seeds (``widths``, ``lrs``, ``seeds`` override the
    config's, for a design search)."""
    widths = cfg.widths if widths is None else widths
    model = dt.models.MLP(widths=(widths[0],) * 2, bias=False, base_width=min(cfg.widths), **VARIANTS[variant])
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher=cfg.teacher, teacher_width=cfg.teacher_width,
                                     n_test=cfg.n_test),
        model=model, optimizer="adam", eps=EPS, steps=cfg.steps, batch_size=cfg.batch_size,
        axes={"widths": [(w, w) for w in widths], "lr": list(cfg.lrs if lrs is None else lrs)},
        seeds=cfg.seeds if seeds is None else seeds, record=record_steps(cfg), checkpoints=[cfg.steps])


def held_out(ds: xr.Dataset, tail: int) -> xr.DataArray:
    """The held-out loss averaged over the last ``tail`` records; ``inf`` where a member diverged."""
    loss = ds["test_loss"].isel(step=slice(-tail, None)).mean("step")
    return loss.where(ds["diverged_at"] < 0, np.inf)


def train_variant(cfg: Config, variant: str, *, key: int = 0, store: str | None = None, **over) -> xr.Dataset:
    """Train one variant and return ``test_loss``, ``train_loss``, ``diverged_at`` and ``held_out``
    on ``(widths, lr, seed[, step])``, with the widths as plain integers."""
    sw = sweep(cfg, variant, **over)
    m = dt.train(sw, key=key, store=store).metrics
    m = m.assign_coords(widths=[w[0] for w in dict(sw.axes)["widths"]])
    m = m[["test_loss", "train_loss", "diverged_at"]]
    m["held_out"] = held_out(m, cfg.tail)
    return m


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None,
        variants: tuple[str, ...] | None = None) -> xr.Dataset:
    """Train every variant (or only ``variants``); returns ``held_out`` and the losses on
    ``(variant, widths, lr, seed)`` and the predicted slope ``theory_slope`` per variant."""
    cfg = dt.pick_size(SIZES, size)
    if variants is not None:
        cfg = dataclasses.replace(cfg, variants=tuple(variants))
    parts = [train_variant(cfg, v, key=key, store=None if store is None else f"{store}/{v}").expand_dims(variant=[v])
             for v in cfg.variants]
    ds = xr.concat(parts, "variant")
    ds["theory_slope"] = ("variant", [theory.lr_star_slope(v) for v in cfg.variants])
    return cfg.stamp(ds, sim="mup_lr_transfer", size=size, key=key, citation=theory.CITATION,
                     theory="theory.mup_lr_transfer")


def transfer_rule(name: str, variant: str | None = None, *, slope: float = 0.0, margin: float = MARGIN
                  ) -> design.Invariance:
    """The invariance rule on ``held_out`` (``variant`` selected when given)."""
    return design.Invariance(name=name, metric="held_out", argmin="lr", along="widths", slope=slope,
                             margin=margin, sel={"variant": variant} if variant else {})


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    variants = list(ds.variant.values)
    out = [design.check_rule(transfer_rule(f"transfer_{v}", v), ds) for v in variants]
    for v in [v for v in ("sp", "mutant_readout") if v in variants]:
        pred = float(ds["theory_slope"].sel(variant=v))
        out.append(design.check_rule(transfer_rule(f"slope_{v}", v, slope=pred, margin=SLOPE_MARGIN), ds))
    names = {o.name for o in out}
    return dt.mark_known(out, [k for k in KNOWN if k.name in names], size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run mup_lr_transfer [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "mup_lr_transfer", *sys.argv[1:]]))
