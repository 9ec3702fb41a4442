"""Depth transfer as a rule: with residual branches scaled by 1/L (CompleteP) or 1/sqrt(L) (depth-muP), Adam's best learning rate holds across depth; unscaled, it falls.

Experiment:
    A residual MLP (``dt.models.ResMLP``: ``h_l = h_{l-1} + m_L W_l relu(h_{l-1})``, fixed width)
    trained by minibatch Adam on the streaming teacher-student task of ``sims/mup_lr_transfer.py``
    for a short budget, at several depths ``L`` x a geometric grid of learning rates x seeds, with
    the branch multiplier ``m_L = (L_0 / L)^alpha`` of each ``RESIDUALS`` entry (``L_0`` the
    smallest depth) and the residual weights' Adam learning rate scaled to match
    (``(L / L_0)^(alpha - 1)``). The best learning rate is chosen by the held-out loss averaged
    over the last records (a diverged member counts as the worst).

Pairs with:
    ``theory/depth_transfer.py``: the first-step residual-stream update summed over the blocks
    gives the slope of ``log lr*`` against ``log L``: -1 unscaled, 0 for both 1/sqrt(L) and 1/L.
    (They differ in each block's own relative change, ``L^-1/2`` against ``L^0``, which the
    first-step argument does not turn into an lr* difference.)

Measured (``check``), each a ``design.Invariance`` rule along ``depth``:
    * ``transfer_<label>``: slope 0 within ``±MARGIN`` for ``completep`` (1/L), ``depth_mup``
      (1/sqrt(L)) and ``none``; ``none`` must fail it (``KNOWN``, direction ``below``).
    * ``slope_none``: the unscaled slope against the theory's -1, within ``±SLOPE_MARGIN``.
    * ``completep_beats_depth_mup``: a ``design.Ordering`` at the deepest depth, each scaling at
      its own best learning rate (chosen on the seed mean), paired by seed: CompleteP's held-out
      loss is lower (Dey et al. 2025: depth-muP's lazy blocks waste depth). The theory above does
      not predict it; it is the paper's empirical claim, checked here.

Findings (key 0; 95% bootstrap CIs over seeds):

* small (width 64, depths 2-16, 8 lrs x 4 seeds, 50 steps): CompleteP's slope is -0.01
  [-0.09, 0.08] and depth-muP's -0.03 [-0.12, 0.05]: both PASS, as the first-step theory says.
  Unscaled, -0.38 [-0.50, -0.10]: resolved below 0 but straddling the margin (INCONCLUSIVE,
  ~6 seeds), and shallower than -1 (KNOWN). At depth 16, each at its best lr, CompleteP's
  held-out loss beats depth-muP's by 0.013 [0.007, 0.020]: PASS.
* paper (width 128, depths 2-32, 9 lrs x 8 seeds, 120 steps; about 18 min per scaling on the
  two shared cores, the three scalings run as three processes): CompleteP 0.007 [-0.051, 0.033]
  (lr* 0.0096-0.0125 over depths 2-32) and depth-muP -0.006 [-0.022, 0.031] (lr* 0.0119-0.0126):
  both PASS, with intervals half and a third as wide as the small size's. Unscaled -0.17 [-0.23, -0.07]:
  below 0, inside neither the ±0.2 margin nor the theory's -1 (INCONCLUSIVE, ~43 seeds;
  ``slope_none`` KNOWN). Unscaled, the initial loss grows from 1.1 at depth 2 to 343 at depth 16
  and 2e5 at depth 32, and the best held-out loss from 0.019 to 0.43 and 1.17 (8 of 72
  depth-32 members diverge at lr >= 0.064): past depth 8 the net barely trains in 120 steps,
  lr* stops falling (0.0125, 0.0118, 0.0063, 0.0073, 0.0089), and the first-step argument
  behind -1 does not describe it. At depth 32 CompleteP beats depth-muP by 0.0043 [0.0028,
  0.0060] held-out MSE (0.0162 against 0.0205 at their best lrs): PASS. Across depths
  CompleteP's best loss falls (0.0186 at depth 2 to 0.0162 at 32) while depth-muP's rises (to
  0.0205): the paper's claim that depth-muP's lazy blocks waste depth.

``paper_figs/completep2025_fig1.py`` draws the loss against lr per depth and lr* against depth.

Reference:
    N. Dey et al. (2025), "Don't be lazy: CompleteP enables compute-efficient deep transformers",
    arXiv 2505.01618; G. Yang et al. (2023), "Tensor Programs VI", arXiv 2310.02244.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run depth_transfer``.
"""

from __future__ import annotations

import dataclasses

import xarray as xr

import dyntheory as dt
from dyntheory import design
from sims.mup_lr_transfer import EPS, held_out
from theory import depth_transfer as theory

__all__ = ["KNOWN", "MARGIN", "RESIDUALS", "SIZES", "SLOPE_MARGIN", "Config", "at_best_lr", "check", "run",
           "sweep"]

RESIDUALS = {"completep": "1/L", "depth_mup": "1/sqrt(L)", "none": "none"}
MARGIN = 0.2
SLOPE_MARGIN = 0.35
_WHERE = "sims/depth_transfer.py"
KNOWN = (
    dt.Known(name="transfer_none", reason="unscaled residual branches: L blocks each move the stream by lr, "
             "so lr* falls with depth", where=_WHERE, direction="below"),
    dt.Known(name="slope_none", reason="unscaled at depths <= 32: the forward pass grows with depth at init, "
             "so recovering from it, not only the summed update, sets lr*, and the slope is shallower than -1",
             where=_WHERE, direction="above", sizes=("small", "paper")),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        depths: numbers of residual blocks (at least 3; the smallest is the base depth).
        width: residual-stream width.
        lrs: Adam learning rates (at least 5).
        d_in, teacher_width, batch_size, steps, tail, seeds, n_test: as in ``sims/mup_lr_transfer``.
        residuals: which of ``RESIDUALS`` to train.
    """

    depths: tuple[int, ...]
    width: int
    lrs: tuple[float, ...]
    d_in: int
    teacher_width: int
    batch_size: int
    steps: int
    tail: int
    seeds: int
    n_test: int = 256
    residuals: tuple[str, ...] = tuple(RESIDUALS)

    def __post_init__(self):
        if len(self.depths) < 3:
            raise ValueError(f"Config.depths: a slope needs >= 3 depths, got {self.depths}")
        if len(self.lrs) < 5:
            raise ValueError(f"Config.lrs: locating lr* needs >= 5 learning rates, got {self.lrs}")
        bad = [r for r in self.residuals if r not in RESIDUALS]
        if bad:
            raise ValueError(f"Config.residuals: unknown {bad}; known {list(RESIDUALS)}")


SIZES = {
    "small": Config(depths=(2, 4, 8, 16), width=64, lrs=tuple(1e-3 * 2.0 ** k for k in range(8)), d_in=32,
                    teacher_width=256, batch_size=32, steps=50, tail=4, seeds=4),
    "paper": Config(depths=(2, 4, 8, 16, 32), width=128, lrs=tuple(5e-4 * 2.0 ** k for k in range(9)),
                    d_in=32, teacher_width=256, batch_size=64, steps=120, tail=5, seeds=8),
}


def sweep(cfg: Config, label: str) -> dt.Sweep:
    """One residual scaling's population: depths x lrs x seeds."""
    model = dt.models.ResMLP(width=cfg.width, depth=cfg.depths[0], residual=RESIDUALS[label],
                             base_depth=min(cfg.depths), base_width=cfg.width)
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher="mlp", teacher_width=cfg.teacher_width,
                                     n_test=cfg.n_test),
        model=model, optimizer="adam", eps=EPS, steps=cfg.steps, batch_size=cfg.batch_size,
        axes={"depth": list(cfg.depths), "lr": list(cfg.lrs)}, seeds=cfg.seeds,
        record=sorted({0} | {cfg.steps - 2 * k for k in range(cfg.tail)}), checkpoints=[cfg.steps])


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None,
        residuals: tuple[str, ...] | None = None) -> xr.Dataset:
    """Train every residual scaling (or only ``residuals``); returns ``held_out`` and the losses on
    ``(residual, depth, lr, seed)`` and the predicted slope ``theory_slope`` per scaling."""
    cfg = dt.pick_size(SIZES, size)
    if residuals is not None:
        cfg = dataclasses.replace(cfg, residuals=tuple(residuals))
    parts = []
    for r in cfg.residuals:
        m = dt.train(sweep(cfg, r), key=key, store=None if store is None else f"{store}/{r}").metrics
        m = m[["test_loss", "train_loss", "diverged_at"]]
        m["held_out"] = held_out(m, cfg.tail)
        parts.append(m.expand_dims(residual=[r]))
    ds = xr.concat(parts, "residual")
    ds["theory_slope"] = ("residual", [theory.lr_star_slope(RESIDUALS[r]) for r in cfg.residuals])
    return cfg.stamp(ds, sim="depth_transfer", size=size, key=key, citation=theory.CITATION,
                     theory="theory.depth_transfer")


def at_best_lr(ds: xr.Dataset) -> xr.DataArray:
    """Held-out loss at the deepest depth, at each scaling's best learning rate (argmin of the
    seed mean), per seed: ``(residual, seed)``."""
    loss = ds["held_out"].sel(depth=ds.depth.max())
    best = loss.mean("seed").fillna(float("inf")).argmin("lr")
    return loss.isel(lr=best)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    rule = lambda name, r, slope, margin: design.check_rule(design.Invariance(  # noqa: E731
        name=name, metric="held_out", argmin="lr", along="depth", slope=slope, margin=margin,
        sel={"residual": r}), ds)
    labels = list(ds.residual.values)
    out = [rule(f"transfer_{r}", r, 0.0, MARGIN) for r in labels]
    if {"completep", "depth_mup"} <= set(labels):
        out.append(design.check_rule(design.Ordering(
            name="completep_beats_depth_mup", metric=at_best_lr, axis="residual", better="completep",
            worse="depth_mup"), ds))
    if "none" in labels:
        out.append(rule("slope_none", "none", float(ds["theory_slope"].sel(residual="none")), SLOPE_MARGIN))
    # An inconclusive verdict keeps its status and names the documented direction (dt.mark_known);
    # a known entry whose verdict was not computed (a subset of residuals) is left out.
    names = {v.name for v in out}
    return dt.mark_known(out, [k for k in KNOWN if k.name in names], size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run depth_transfer [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "depth_transfer", *sys.argv[1:]]))
