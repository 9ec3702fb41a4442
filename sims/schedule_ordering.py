"""A schedule rule: warmup-stable-decay against cosine at equal steps, as a paired effect over seeds.

Experiment:
    The muP MLP of ``sims/mup_lr_transfer.py`` (one width) trained by minibatch Adam on its
    streaming teacher-student task for ``steps`` steps with two learning-rate schedules of the same
    length: ``cosine`` (from the peak to 0) and ``wsd`` (the peak held, then a linear decay to 0
    over the last 20% of the steps; Hu et al. 2024), each at a grid of peak learning rates x
    seeds. A seed fixes the initialisation and the data order, so the two schedules of one seed
    see the same init and batches: the comparison is paired. Each schedule is judged at its own
    best peak learning rate (argmin of the seed mean of the held-out loss at the last step).

Measured (``check``):
    * ``wsd_beats_cosine``: ``design.Ordering``, the paired held-out loss advantage of WSD over
      cosine, one-sided above 0. PASS if WSD is shown better, FAIL if shown worse,
      INCONCLUSIVE (with a seed count) if the interval holds 0: Hägele et al. (2024) find a
      10-20% cooldown matches cosine at equal steps, so a tie is the expectation and a small
      edge either way plausible.
    * ``wsd_lr_star_ratio``: reported in the detail of the verdict above: the two schedules'
      best peak learning rates.

No theory module: the claim is empirical (Hägele et al. 2024, arXiv 2405.18392, section 3).

Findings (key 0; 95% bootstrap CIs over seeds). The ordering flips with the budget:

* small (width 128, 200 steps, 5 peak lrs x 8 seeds): cosine (best peak lr 0.064) ends lower
  than WSD (best 0.016) by 0.00067 [0.00018, 0.00116] held-out MSE (about 4% of 0.015):
  ``wsd_beats_cosine`` FAILS. WSD's decay is 40 steps here; cosine tolerates a 4x higher peak
  lr and ends lower.
* paper (width 256, 1000 steps, 7 peak lrs x 16 seeds; 28 min on the two shared cores): both
  best at peak lr 0.016, WSD ends lower by 0.00082 [0.00041, 0.00125] (0.01141 against
  0.01222, about 7%): ``wsd_beats_cosine`` PASSES. WSD trails cosine through its stable phase
  (by 0.0021 at step 650 in the seed mean) and overtakes only in its 200-step decay, as Hägele
  et al. (2024, fig. 3) describe; WSD is ahead at every peak lr <= 0.016 and level above.

Pairing matters: the paired differences' spread over seeds is far below the unpaired one (the
test checks it). ``paper_figs/schedule_ordering_fig1.py`` draws the curves and the paired gap.

Reference:
    A. Hägele, E. Bakouch, A. Kosson, L. B. Allal, L. Von Werra, M. Jaggi (2024), "Scaling laws
    and compute-optimal training beyond fixed training durations", arXiv 2405.18392; S. Hu et al.
    (2024), "MiniCPM", arXiv 2404.06395.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run schedule_ordering``.
"""

from __future__ import annotations

import dataclasses

import xarray as xr

import dyntheory as dt
from dyntheory import design
from sims.mup_lr_transfer import EPS

__all__ = ["CITATION", "CURVE", "SCHEDULES", "SIZES", "Config", "at_best_lr", "check", "record_steps", "run",
           "sweep"]

CITATION = ("Hägele, Bakouch, Kosson, Allal, Von Werra, Jaggi (2024), Scaling laws and compute-optimal "
            "training beyond fixed training durations, arXiv:2405.18392")
SCHEDULES = ("wsd", "cosine")
CURVE = 20  # recorded intervals along training; only the last record is judged


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run: the MLP ``width``, peak ``lrs``, the task and budget, ``seeds``."""

    width: int
    lrs: tuple[float, ...]
    d_in: int
    teacher_width: int
    batch_size: int
    steps: int
    seeds: int
    n_test: int = 256

    def __post_init__(self):
        if len(self.lrs) < 3:
            raise ValueError(f"Config.lrs: choosing a peak lr needs >= 3 values, got {self.lrs}")
        if self.seeds < 4:
            raise ValueError(f"Config.seeds: a paired interval needs >= 4 seeds, got {self.seeds}")


SIZES = {
    "small": Config(width=128, lrs=(0.008, 0.016, 0.032, 0.064, 0.128), d_in=32, teacher_width=256, batch_size=32,
                    steps=200, seeds=8),
    "paper": Config(width=256, lrs=tuple(0.002 * 2.0 ** k for k in range(7)), d_in=32, teacher_width=256,
                    batch_size=64, steps=1000, seeds=16),
}


def sweep(cfg: Config, schedule: str) -> dt.Sweep:
    """One schedule's population: peak lrs x seeds."""
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher="mlp", teacher_width=cfg.teacher_width,
                                     n_test=cfg.n_test),
        model=dt.models.MLP(widths=(cfg.width,) * 2, bias=False, base_width=32, parametrization="mup",
                            mup_eps=True),
        optimizer="adam", eps=EPS, steps=cfg.steps, batch_size=cfg.batch_size, schedule=schedule,
        axes={"lr": list(cfg.lrs)}, seeds=cfg.seeds, record=record_steps(cfg), checkpoints=[cfg.steps])


def record_steps(cfg: Config) -> list[int]:
    """The recorded steps: ``CURVE`` + 1 evenly spaced from 0 to the last (the figure's curves)."""
    return sorted({round(k * cfg.steps / CURVE) for k in range(CURVE + 1)})


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train both schedules; returns ``test_loss``, ``train_loss``, ``diverged_at`` on
    ``(schedule, lr, seed[, step])``."""
    cfg = dt.pick_size(SIZES, size)
    parts = [dt.train(sweep(cfg, s), key=key, store=None if store is None else f"{store}/{s}").metrics[
        ["test_loss", "train_loss", "diverged_at"]].expand_dims(schedule=[s]) for s in SCHEDULES]
    return cfg.stamp(xr.concat(parts, "schedule"), sim="schedule_ordering", size=size, key=key,
                     citation=CITATION)


def at_best_lr(ds: xr.Dataset) -> xr.DataArray:
    """Final held-out loss of each schedule at its own best peak lr (seed-mean argmin), per seed;
    a diverged member is ``inf``."""
    loss = ds["test_loss"].isel(step=-1).where(ds["diverged_at"] < 0, float("inf"))
    best = loss.mean("seed").argmin("lr")
    return loss.isel(lr=best)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    v = design.check_rule(design.Ordering(name="wsd_beats_cosine", metric=at_best_lr, axis="schedule",
                                          better="wsd", worse="cosine"), ds)
    best = at_best_lr(ds)["lr"]
    edge = [s for s in SCHEDULES if float(best.sel(schedule=s)) in (float(ds.lr.min()), float(ds.lr.max()))]
    lrs = ", ".join(f"{s}: {float(best.sel(schedule=s)):g}" for s in SCHEDULES)
    note = f"; on the grid's edge for {edge}: widen the grid" if edge else ""
    return [dataclasses.replace(v, detail=f"{v.detail}; best peak lr {lrs}{note}")]


if __name__ == "__main__":  # the same as `dyntheory run schedule_ordering [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "schedule_ordering", *sys.argv[1:]]))
