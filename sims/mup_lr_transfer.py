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
    that diverged counts as the worst. Each variant trains its own grid of 8 learning rates
    (``lrs`` shifted by ``lr_shift``: SP's optimum moves 5 octaves over these widths).

    The task: a linear teacher on ``d_in=256`` inputs, 40 steps of batch 16, muP's base width 8
    (below the smallest width run). Why (exploratory runs, muP, widths 64/256/1024, 2 seeds,
    key 0; log10 held-out loss, lrs 2^-11..2^-3):
    * ``d_in=32``, as before: the loss reaches a floor that is flat in lr at large width. At
      120 steps of batch 16, width 1024 reads -2.23 to -2.56 from lr 2^-10 to 2^-4; cutting the
      budget to 40 steps does not cure it (-1.66 to -1.79 from 2^-9 to 2^-5): at 120 steps the
      loss curves at lrs 2^-9 to 2^-5 coincide from step 40 on (-1.73 to -1.78 there).
    * label noise 0.5 (``noise``): the noise floor swamps the lr dependence (-0.74 to -0.83
      from 2^-10 to 2^-5 at width 1024).
    * ``d_in=256`` (a map that needs many samples, learned at a rate set by the step size, with
      Adam's jitter about the fit growing with it): a bowl, but with the base width at the
      smallest width (64) lr* drifted down with width (2^-6 at 64, 2^-7 at 256, 2^-9 at 1024).
      At the base width muP is SP, whose readout starts the network at an O(1) random function
      (initial loss 0.60 at width 64 against 0.46 at 1024) that larger lrs erase faster, a
      finite-width effect that shrinks as ``base/n``. With base width 8 every width starts
      near the teacher's 0.5 and lr* sat within 2^-8 to 2^-6 at every width (120 steps); at 40
      steps of batch 16 (the paper size, chosen for the CPU budget) at 2^-6 at every width, the
      loss rising on both sides (at width 1024: -0.96, -1.03, -0.96 at 2^-7, 2^-6, 2^-5, and
      -0.54 and -0.79 two octaves out).
    The theory's argument still applies: the loss at the budget is set by how far Adam's steps
    move the output (too short below lr*, jittering about the fit above), so lr* scales as one
    over the largest first-step update per unit lr.

Pairs with:
    ``theory/mup_lr_transfer.py``: the slope of ``log lr*`` against ``log width`` is minus the
    exponent of the largest first-step update per unit lr; its limits: SP -3/2, muP 0, readout
    mutant -1, eps mutant 0 (``theory_slope``). At the widths run the update is a sum of terms
    with different exponents, so ``first_step`` measures it directly (one Adam step at lr 2^-16,
    the output's rms change per unit lr from each layer's step and from all of them) and
    ``first_step_slope`` is the lr* slope it predicts at these widths.

Measured (``check``), each a ``design.Invariance`` rule (bootstrap over seeds, ``lr*`` refined
by a parabola through the grid minimum):
    * ``transfer_<variant>``: the muP claim, slope 0 within ``±MARGIN``, for every variant. muP
      must pass; SP and the mutants must fail it (declared ``KNOWN`` with their direction, so a
      mutant that slipped through would read ``XPASS``).
    * ``slope_<variant>`` (all but muP): the slope against the first step's prediction at these
      widths, within ``±SLOPE_MARGIN``.

Findings, paper size (key 0: widths 64-2048, 8 lrs per variant x 8 seeds, 40 steps of batch 16,
``d_in=256``, base width 8; bootstrap 95% CIs; about 8.5 CPU-minutes per variant, 35 in all, on
a shared 2-core machine). No member diverged.
    * muP PASSES: slope 0.008 [-0.019, 0.066]; lr* 0.0165, 0.0151, 0.0158, 0.0157, 0.0160,
      0.0166 (2^-6, the bottom of a bowl at every width: log10 held-out loss at width 2048 is
      -0.84, -0.95, -0.87 at 2^-7, 2^-6, 2^-5, seeds' sd about 0.09). First step: +0.04.
    * SP fails transfer (KNOWN): -1.16 [-1.28, -1.04]; lr* 0.0096, 0.0065, 0.0036,
      0.0014, 0.00053, 0.00019 (a factor 51 over a factor 32 in width). Its first-step output
      update grows as n^1.37 here (mostly the hidden layer's step read by the old readout: 40
      to 5,400 per unit lr; the limit is n^3/2) and predicts -1.37: measured against it
      0.21 [0.09, 0.33] (PASS within ±0.35). Its grid is 2^-13..2^-6; lr 2^-6 was trained after
      the rest (a first grid 2^-14..2^-7 left lr* on its top edge at widths 64 and 128), with
      the same member keys (``fold_in`` of the coordinates), so the run is the config's.
    * The readout mutant: fails transfer (KNOWN), -0.51 [-0.58, -0.41]; lr* 0.0088, 0.0060,
      0.0049, 0.0031, 0.0024, 0.0014. Against its first step's -0.83: 0.32 [0.25, 0.42],
      INCONCLUSIVE (~51 seeds): shallower than predicted, the declared direction (see below).
    * The eps mutant FAILS transfer (KNOWN), its lr* rising: +0.32 [0.29, 0.35]; lr* 0.0185,
      0.0194, 0.0227, 0.0290, 0.0397, 0.0532. Its input and hidden layers are eps-bound, so
      their update of the output shrinks with width (input part 4.3 to 0.78 per unit lr from
      64 to 2048) while the readout's own stays at 1.4-1.7: the first step's output update
      falls as n^-0.30 and predicts +0.30; measured against it 0.02 [-0.01, 0.05] (PASS).
      The theory's limit, 0, is reached only once the readout's own update dominates.

The readout mutant's slope (was -0.22 [-0.28, -0.17] on the earlier task, against the theory's
-1). Measured directly, its lr* follows the part of the first step that the theory's limit
drops. Per unit lr at widths 64 to 2048 its readout's own update of the output grows as n^0.98
(14.9 to 391; the theory's n), and its input and hidden layers' updates, read by its SP readout
(entries n^-1/2), as n^0.44 and n^0.51 (the theory's n^1/2). lr* times the input and hidden
parts stays flat (0.18 at width 64, 0.13 at 2048; log-log slopes -0.07 and -0.00), while lr*
times the readout's own part grows from 0.13 to 0.54 (slope +0.47). So at these widths the
readout's own n lr step does not bound lr*; the features' n^1/2 step read through the readout
does, and the slope is near -1/2, not -1. On the earlier task the floor set lr*, not any
update, hence -0.22. The limit -1 still holds if the readout's own step binds at some larger
width; this sim cannot show where. Why a readout step that moves the output 4x further is
tolerated at 2048 is not settled here. A plausible cause: a readout that overshoots flips its
own gradient's sign, so Adam's momentum averages its steps down, while a feature update moves
the input of every later layer.

Small size (key 0: widths 32-256, 8 lrs x 4 seeds, the same task): muP PASSES, -0.09
[-0.17, -0.00] (lr* 0.018, 0.0145, 0.0143, 0.0145). SP fails transfer (KNOWN), -0.51
[-0.78, -0.32], but falls slower than its first step's -1.27 (``slope_sp`` FAIL, 0.76
[0.49, 0.95], KNOWN at this size: lr* times the features' update stays within 0.10-0.14 at
widths 32-256, while lr* times the output's grows 5-fold). The readout mutant fails transfer
(KNOWN), -0.39 [-0.50, -0.27]; against its first step's -0.66: 0.27 [0.16, 0.39]
(INCONCLUSIVE, known attached). The eps mutant reads +0.15 [0.07, 0.26] (INCONCLUSIVE, ~14
seeds; lr* 0.017 to 0.023); against its first step's +0.32: -0.17 [-0.25, -0.06] (PASS).

Earlier task (``d_in=32``, base width 64, 120 steps of batch 16, 9 lrs x 8 seeds; kept for the
record): SP -0.73 [-0.79, -0.66]; muP INCONCLUSIVE, -0.45 [-0.72, 0.10], lr* not identified
on the flat floor from width 512 up; readout mutant -0.22 [-0.28, -0.17].

Reference:
    G. Yang et al. (2022), "Tensor Programs V", arXiv 2203.03466, Figure 1 and Table 3.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run mup_lr_transfer``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import design
from theory import mup_lr_transfer as theory

__all__ = ["EPS", "KNOWN", "MARGIN", "PARTS", "SIZES", "SLOPE_MARGIN", "VARIANTS", "Config", "check",
           "first_step", "first_step_slope", "held_out", "run", "sweep", "train_variant", "transfer_rule",
           "variant_data", "with_first_step"]

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
    dt.Known(name="transfer_sp", reason="SP with Adam: its hidden layers and readout move the output by "
             "n^1 to n^1.5 per unit lr, so lr* falls as width grows (paper: -1.14 [-1.19, -1.01])",
             where=_WHERE, direction="below"),
    dt.Known(name="transfer_mutant_readout", reason="muP with an SP readout: its readout's own n*lr "
             "update moves lr* down as width grows", where=_WHERE, direction="below"),
    dt.Known(name="transfer_mutant_eps", reason="muP with eps unscaled: its eps-bound input and hidden "
             "layers move the output less as width grows (first step n^-0.30), so lr* rises (paper: "
             "+0.32 [0.29, 0.35])", where=_WHERE, direction="above"),
    dt.Known(name="slope_sp", reason="SP at widths 32-256: its lr* (0.0106, 0.0107, 0.0066, 0.0039) falls "
             "slower than its first-step output update grows (n^1.27): there lr* x the features' update "
             "(9.4 to 37 per unit lr, slower than n) stays within 0.10-0.14; at 64-2048 the prediction "
             "holds", where=_WHERE, direction="above", sizes=("small",)),
    dt.Known(name="slope_mutant_readout", reason="readout mutant: its lr* follows its input and hidden "
             "layers' first-step update read by its SP readout (n^0.44-0.51 at 64-2048, lr* x it flat), not "
             "its readout's own n^0.98 update, which dominates the first step's prediction (-0.83 at paper "
             "size; measured -0.51)", where=_WHERE, direction="above"),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        widths: hidden widths (at least 3).
        lrs: Adam learning rates (at least 5, a geometric grid).
        d_in, teacher, teacher_width: the teacher-student task (``teacher`` ``"linear"`` or
            ``"mlp"``, a tanh teacher of ``teacher_width``).
        batch_size, steps: Adam's minibatch and budget.
        tail: held-out loss averaged over this many last records (every 2 steps).
        seeds: replicate seeds.
        n_test: held-out points.
        noise: label-noise standard deviation.
        base_width: muP's base width (where it equals SP); the smallest width if None.
        lr_shift: ``(variant, k)`` pairs: that variant trains ``lrs`` times ``2 ** k``.
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
    noise: float = 0.0
    base_width: int | None = None
    lr_shift: tuple[tuple[str, int], ...] = ()
    teacher: str = "linear"
    variants: tuple[str, ...] = tuple(VARIANTS)

    def variant_lrs(self, variant: str) -> tuple[float, ...]:
        """``variant``'s learning rates: ``lrs`` times ``2 ** shift`` (``lr_shift``, 0 if unlisted)."""
        shift = dict(self.lr_shift).get(variant, 0)
        return tuple(float(lr * 2.0 ** shift) for lr in self.lrs)

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
        bad = [v for v in dict(self.lr_shift) if v not in VARIANTS]
        if bad:
            raise ValueError(f"Config.lr_shift: unknown variants {bad}; known {list(VARIANTS)}")
        if self.base_width is not None and not (isinstance(self.base_width, int) and self.base_width > 0):
            raise ValueError(f"Config.base_width must be a positive int or None, got {self.base_width!r}")
        if not self.noise >= 0:
            raise ValueError(f"Config.noise must be >= 0, got {self.noise!r}")


def _grid(lo: float, n: int) -> tuple[float, ...]:
    return tuple(float(lo * 2.0 ** k) for k in range(n))


SIZES = {
    "small": Config(widths=(32, 64, 128, 256), lrs=_grid(2.0 ** -10, 8), d_in=256, teacher_width=1,
                    batch_size=16, steps=40, tail=3, seeds=4, base_width=8,
                    lr_shift=(("sp", -2), ("mutant_readout", -2), ("mutant_eps", 1))),
    "paper": Config(widths=(64, 128, 256, 512, 1024, 2048), lrs=_grid(2.0 ** -10, 8), d_in=256,
                    teacher_width=1, batch_size=16, steps=40, tail=3, seeds=8, base_width=8,
                    lr_shift=(("sp", -3), ("mutant_readout", -3), ("mutant_eps", 1))),
}


def record_steps(cfg: Config) -> list[int]:
    """Step 0 and the last ``tail`` records, every 2 steps."""
    return sorted({0} | {cfg.steps - 2 * k for k in range(cfg.tail)})


def sweep(cfg: Config, variant: str, *, widths: tuple[int, ...] | None = None,
          lrs: tuple[float, ...] | None = None, seeds=None) -> dt.Sweep:
    """One variant's population: widths x lrs x seeds (``widths``, ``lrs``, ``seeds`` override the
    config's, for a design search)."""
    widths = cfg.widths if widths is None else widths
    base = cfg.base_width or min(cfg.widths)
    model = dt.models.MLP(widths=(widths[0],) * 2, bias=False, base_width=base, **VARIANTS[variant])
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher=cfg.teacher, teacher_width=cfg.teacher_width,
                                     noise=cfg.noise, n_test=cfg.n_test),
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
    sw = sweep(cfg, variant, **{"lrs": cfg.variant_lrs(variant), **over})
    m = dt.train(sw, key=key, store=store).metrics
    m = m.assign_coords(widths=[w[0] for w in dict(sw.axes)["widths"]])
    m = m[["test_loss", "train_loss", "diverged_at"]]
    m["held_out"] = held_out(m, cfg.tail)
    return m


# The output's first-step change from each layer's step alone and from all of them; and the last
# hidden features' change (rms per coordinate), from all of them.
PARTS = ("input", "hidden", "readout", "all", "features")


def first_step(cfg: Config, variant: str, *, key: int = 0, lr: float = 2.0 ** -16, seeds: int = 4) -> xr.DataArray:
    """The output's first Adam update per unit lr, ``rms_x |f(theta_1) - f(theta_0)| / lr``, at each
    width, from one layer's step alone (``input``, ``hidden``, ``readout``) and from all of them
    (``all``); and ``features``, the last hidden features' rms change per unit lr (all layers).

    The engine takes the step (the sweep at ``lr``, one step, checkpoints 0 and 1); the layers'
    updates are then swapped in one at a time and the output compared on fresh inputs. ``lr`` is
    small, so this is the linear response the theory's ``u`` describes; returns
    ``(widths, part)``, the mean over ``seeds``.
    """
    sw = dataclasses.replace(sweep(cfg, variant, lrs=(lr,), seeds=seeds), steps=1, record=[0, 1],
                             checkpoints=[0, 1])
    res = dt.train(sw, key=key)
    x = jax.random.normal(jax.random.fold_in(jax.random.key(key), 1), (cfg.n_test, cfg.d_in))
    take = {"input": (0,), "hidden": (1,), "readout": (2,), "all": (0, 1, 2)}

    def moved(p0, p1):
        f0 = sw.model.apply(p0, x)
        out = []
        for part in PARTS[:-1]:
            mix = {"layers": [p1["layers"][i] if i in take[part] else p0["layers"][i] for i in range(3)]}
            out.append(jnp.sqrt(jnp.mean((sw.model.apply(mix, x) - f0) ** 2)) / lr)
        h0, h1 = (sw.model.features(p, x)[-1] for p in (p0, p1))
        return jnp.stack([*out, jnp.sqrt(jnp.mean((h1 - h0) ** 2)) / lr])

    rows = []
    for w in cfg.widths:
        p0, p1 = (jax.tree.map(lambda a: jnp.asarray(a[0]), res.params_at(s, widths=(w, w))) for s in (0, 1))
        rows.append(np.asarray(jax.vmap(moved)(p0, p1)).mean(0))
    return xr.DataArray(np.array(rows), dims=("widths", "part"),
                        coords={"widths": list(cfg.widths), "part": list(PARTS)})


def first_step_slope(u: xr.DataArray) -> float:
    """The lr* slope the first step predicts at these widths: minus the log-log slope of ``u``'s
    ``all`` part against width (least squares)."""
    w = np.log(u.widths.values.astype(float))
    return -float(np.polyfit(w, np.log(u.sel(part="all").values), 1)[0])


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None,
        variants: tuple[str, ...] | None = None, first: bool = True) -> xr.Dataset:
    """Train every variant (or only ``variants``), each on its own lr grid (``variant_lrs``);
    returns ``held_out`` and the losses on ``(variant, widths, lr, seed)`` (NaN off a variant's
    grid), the asymptotic slope ``theory_slope`` per variant, and (``first``) the first-step
    update ``first_step`` on ``(variant, widths, part)`` with the slope it predicts at these
    widths, ``first_step_slope``."""
    cfg = dt.pick_size(SIZES, size)
    if variants is not None:
        cfg = dataclasses.replace(cfg, variants=tuple(variants))
    parts = [train_variant(cfg, v, key=key, store=None if store is None else f"{store}/{v}").expand_dims(variant=[v])
             for v in cfg.variants]
    ds = xr.concat(parts, "variant", join="outer")
    ds["theory_slope"] = ("variant", [theory.lr_star_slope(v) for v in cfg.variants])
    if first:
        ds = with_first_step(ds, xr.concat([first_step(cfg, v, key=key).expand_dims(variant=[v])
                                            for v in cfg.variants], "variant"))
    return cfg.stamp(ds, sim="mup_lr_transfer", size=size, key=key, citation=theory.CITATION,
                     theory="theory.mup_lr_transfer")


def with_first_step(ds: xr.Dataset, u: xr.DataArray) -> xr.Dataset:
    """``ds`` with ``first_step`` (``u``, from :func:`first_step` per variant) and the lr* slope it
    predicts, ``first_step_slope``."""
    ds = ds.assign(first_step=u)
    ds["first_step_slope"] = ("variant", [first_step_slope(u.sel(variant=v)) for v in ds.variant.values])
    return ds


def variant_data(ds: xr.Dataset, variant: str) -> xr.Dataset:
    """One variant's run, on its own lr grid (the learning rates it trained)."""
    return ds.sel(variant=variant).dropna("lr", how="all", subset=["held_out"])


def transfer_rule(name: str, *, slope: float = 0.0, margin: float = MARGIN) -> design.Invariance:
    """The invariance rule on ``held_out`` (of one variant: :func:`variant_data`)."""
    return design.Invariance(name=name, metric="held_out", argmin="lr", along="widths", slope=slope,
                             margin=margin)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    variants = list(ds.variant.values)
    data = {v: variant_data(ds, v) for v in variants}
    out = [design.check_rule(transfer_rule(f"transfer_{v}"), data[v]) for v in variants]
    if "first_step_slope" in ds:
        for v in [v for v in variants if v != "mup"]:
            pred = float(ds["first_step_slope"].sel(variant=v))
            out.append(design.check_rule(transfer_rule(f"slope_{v}", slope=pred, margin=SLOPE_MARGIN), data[v]))
    names = {o.name for o in out}
    return dt.mark_known(out, [k for k in KNOWN if k.name in names], size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run mup_lr_transfer [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "mup_lr_transfer", *sys.argv[1:]]))
