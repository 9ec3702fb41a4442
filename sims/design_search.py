"""A design search, validated: choose muP's Adam learning rate on a small model, check it wider on fresh seeds.

Experiment:
    1. Search: the lr-transfer rule's own sweep (``sims/mup_lr_transfer.sweep``, muP) at the
       small width only, on search seeds ``0..seeds-1``; the chosen learning rate is the grid
       point with the lowest seed-mean held-out loss.
    2. Validate: the same sweep at a larger width, on fresh seeds (``FRESH`` onward, none shared
       with the search), at the chosen lr, its grid neighbours x4 and /4, and Adam's default
       ``1e-3``.

Measured (``check``), each a ``design.Ordering`` on the fresh seeds at the larger width, paired
by seed (one seed: one init and data order for every lr):
    * ``chosen_beats_default``: the chosen lr's held-out loss is lower than at ``1e-3``.
    * ``chosen_beats_x4`` and ``chosen_beats_div4``: it is lower than at 4 times and a quarter
      of the chosen lr: the choice still sits at the optimum after transfer.
    The validated effect is the first one's advantage and its interval.

Findings (small size, key 0: searched at width 32 on 4 seeds, validated at width 256 on 8 fresh
seeds; 95% bootstrap CIs). The search chose 0.032. At width 256 it beats Adam's default 1e-3 by
0.062 [0.043, 0.080] held-out MSE (PASS: the validated effect) and 4x the chosen lr by 0.027
[0.010, 0.054] (PASS); against a quarter of it the difference is -0.0008 [-0.0023, 0.0007]
(INCONCLUSIVE, ~31 seeds): muP's loss is flat below the optimum at the larger width, so the
choice is as good as, not shown better than, the lower neighbour.

Reference:
    G. Yang et al. (2022), "Tensor Programs V", arXiv 2203.03466 (muTransfer: tune small, run wide).

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run design_search``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import design
from sims import mup_lr_transfer as transfer

__all__ = ["DEFAULT_LR", "FRESH", "SIZES", "Config", "check", "run"]

DEFAULT_LR = 1e-3
FRESH = 1000  # validation seeds start here: disjoint from any search seed


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes: ``transfer`` (the lr-transfer config, its lr grid and task), the ``small`` width
    searched on ``seeds`` seeds, and the ``large`` width validated on ``fresh_seeds``."""

    transfer: transfer.Config
    small: int
    large: int
    seeds: int
    fresh_seeds: int

    def __post_init__(self):
        if self.large <= self.small:
            raise ValueError(f"Config.large must exceed small={self.small}, got {self.large}")
        if self.fresh_seeds < 4 or self.seeds > FRESH:
            raise ValueError(f"Config: fresh_seeds >= 4 and seeds <= {FRESH}, got {self.fresh_seeds}, {self.seeds}")


# The small search keeps the tanh-teacher task and budget its findings above were measured on (and its
# default test's run time); the lr-transfer sim's own small size moved to a linear teacher.
_SMALL_TASK = transfer.Config(widths=(32, 64, 128, 256), lrs=tuple(2e-3 * 2.0 ** k for k in range(8)), d_in=32,
                              teacher="mlp", teacher_width=256, batch_size=32, steps=50, tail=4, seeds=4)
# The paper search keeps the linear-teacher task its paper findings were measured on (d_in 32, 120
# steps, lrs 2^-11..2^-3; base width = the search width); the lr-transfer sim's own paper size moved
# to a harder task (d_in 256, base width 8) on which muP's lr* is identified up to width 2048.
_PAPER_TASK = transfer.Config(widths=(64, 128, 256, 512, 1024, 2048), lrs=tuple(2.0 ** k for k in range(-11, -2)),
                              d_in=32, teacher_width=1, batch_size=16, steps=120, tail=5, seeds=8)
SIZES = {
    "small": Config(transfer=_SMALL_TASK, small=32, large=256, seeds=4, fresh_seeds=8),
    "paper": Config(transfer=_PAPER_TASK, small=64, large=2048, seeds=8, fresh_seeds=16),
}


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Search then validate; returns the validation's ``held_out`` on ``(lr, seed)`` at the large
    width, the search's ``search_held_out`` on ``(search_lr, search_seed)``, and ``chosen_lr``."""
    cfg = dt.pick_size(SIZES, size)
    t = dataclasses.replace(cfg.transfer, widths=(cfg.small, cfg.large, cfg.large * 2))  # base = small
    search = transfer.train_variant(t, "mup", key=key, widths=(cfg.small,), seeds=cfg.seeds,
                                    store=None if store is None else f"{store}/search")
    mean = search["held_out"].isel(widths=0).mean("seed")
    chosen = float(mean["lr"][int(mean.fillna(np.inf).argmin("lr"))])
    lrs = tuple(sorted({chosen / 4, chosen, chosen * 4, DEFAULT_LR}))
    val = transfer.train_variant(t, "mup", key=key, widths=(cfg.large,), lrs=lrs,
                                 seeds=list(range(FRESH, FRESH + cfg.fresh_seeds)),
                                 store=None if store is None else f"{store}/validate")
    ds = val[["held_out"]].isel(widths=0, drop=True)
    ds["search_held_out"] = search["held_out"].isel(widths=0, drop=True).rename(lr="search_lr",
                                                                                 seed="search_seed")
    ds["chosen_lr"] = chosen
    return cfg.stamp(ds, sim="design_search", size=size, key=key, citation=transfer.theory.CITATION)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    chosen = float(ds["chosen_lr"])
    rivals = {"default": DEFAULT_LR, "x4": chosen * 4, "div4": chosen / 4}
    out = []
    for name, lr in rivals.items():
        if lr == chosen:  # the search chose Adam's default itself: nothing to beat
            continue
        out.append(design.check_rule(design.Ordering(name=f"chosen_beats_{name}", metric="held_out", axis="lr",
                                                     better=chosen, worse=lr), ds))
    return [dataclasses.replace(v, detail=f"{v.detail}; chosen lr {chosen:g} at the small width") for v in out]


if __name__ == "__main__":  # the same as `dyntheory run design_search [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "design_search", *sys.argv[1:]]))
