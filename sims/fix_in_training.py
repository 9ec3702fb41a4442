""""Fix in post" against "fix in training": a spurious shortcut, removed after or during training.

Task (``Shortcut``, defined here): binary labels from a noisy linear teacher on ``d_core``
Gaussian inputs (the core alone is right ~90% of the time), plus one shortcut input,
``scale * (2y - 1)``, that agrees with the label with probability ``reliability`` (the
shortcut's strength) in training and is independent of it at test. A small MLP with Adam learns
the shortcut first and leans on it: on a *conflict* set (shortcut against the label) it follows
the shortcut. ``reliance`` (a metric) is the fraction of conflict examples on which the member
sides with the shortcut: the unwanted property. The clean test loss (shortcut independent of the
label) is the collateral.

The fix is the same in both arms, corrected data (the shortcut made independent of the label)
from a step on, the task's traced ``fix_step``, and every arm trains ``steps + k`` steps in all
(equal total compute):

- ``none``: never corrected;
- ``post``: corrected only for the last ``k`` steps (fine-tuning the trained model);
- ``training``: corrected from when the property forms, as the member's own signal detects it:
  a ``Threshold("reliance", 0.7)`` trigger (at init it is ~0.5) (recorded, ``intervened_0``, on the uncorrected
  twin), acted on at the next step of the ``fix_step`` grid.

The engine cannot change a member's data when its trigger fires (relabelling or removing
examples, or a penalty, from a triggered step on is not an intervention yet), so ``fix_step`` is
a swept axis on a grid and each member's "training" arm is read from the grid point at or after
its own detection step; the arms of one seed share init and batches (paired).

Measured (``check``): paired differences at the end, training minus post, of reliance and of the
clean test loss, per shortcut strength, with bootstrap intervals over seeds. At small size (12
seeds, 200 + 50 steps) the property forms (peak reliance ~0.8 at strength 0.9, ~0.88 at 0.98;
the signal fires at step ~10-30), and without a fix the final clean test loss is 0.40 / 0.86.
Both fixes remove most of it; at equal total compute the arm corrected from detection on ends
with a *higher* reliance than post (+0.03 [0.008, 0.07] at 0.9, +0.004 [0.0002, 0.007] at
0.98: ``KNOWN`` at this size, the thesis fails on the property here) and a lower clean test loss
at strength 0.98 (-0.014 [-0.017, -0.012]); at 0.9 the clean-loss difference is not resolved
(+0.008 [-0.006, 0.036]).

At paper size (32 seeds, 600 + 100 steps; 333 s on 2 shared cores) the small-size reversal does
not hold. Peak reliance 0.82 [0.80, 0.85] (0.9) and 0.90 [0.89, 0.92] (0.98); the signal fires
at step 20 (median; 31 of 32 members at 0.9, all at 0.98); unfixed, the final reliance is
0.30 / 0.50 and the clean loss 0.38 / 0.71. Both fixes bring reliance to ~0.1 and the clean loss
to ~0.21. At strength 0.98 fixing in training wins on both, by little: reliance -0.0027
[-0.0038, -0.0015] (0.094 against 0.097), clean loss -0.0042 [-0.0049, -0.0034]. At 0.9
neither difference is resolved: reliance +0.005 [-0.001, +0.018], clean loss +0.002 [-0.003,
+0.012]. What the data show: with the same fix and equal compute, when it is applied barely
matters once ``k`` corrected steps have been taken; the earlier fix is ahead only at the
stronger shortcut, by ~3% of the remaining reliance.

Reference: the position paper this project serves, arXiv:2606.06533 ("fix in training, not in
post"); the shortcut set-up follows R. Geirhos et al. (2020), "Shortcut learning in deep neural
networks", arXiv:2004.07780, and P. Kirichenko, P. Izmailov, A. G. Wilson (2023), "Last layer
re-training is sufficient for robustness to spurious correlations", arXiv:2204.02937.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt

__all__ = ["ARMS", "KNOWN", "PAPER", "SIZES", "SMALL", "Config", "Shortcut", "analyse", "check",
           "effects", "reliance", "run", "sweep"]

I = dt.interventions
ARMS = ("none", "post", "training")
NEVER = 1e9  # a fix step no run reaches
CITATION = "arXiv:2606.06533; R. Geirhos et al. (2020), arXiv:2004.07780"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Shortcut(dt.tasks.Task):
    """Noisy linear teacher labels plus a shortcut input that is reliable only in training.

    Example:
        >>> task = Shortcut(d_core=16, reliability=0.95)
    """

    kind: ClassVar[str] = "classification"
    traced_fields: ClassVar[tuple[str, ...]] = ("reliability", "fix_step")
    d_core: int = 16
    teacher_noise: float = 0.3  # label = [w.z + noise > 0], |w| = 1: the core is ~90% right
    scale: float = 2.0
    reliability: float = 0.95
    fix_step: float = NEVER
    n_test: int = 2048

    def spec(self):
        return dt.tasks.Spec(d_in=self.d_core + 1, d_out=2)

    def _draw(self, key, n, w):
        kz, kn, ks = jax.random.split(key, 3)
        z = jax.random.normal(kz, (n, self.d_core))
        y = (z @ w + self.teacher_noise * jax.random.normal(kn, (n,)) > 0).astype(jnp.int32)
        return z, y, ks

    def _batch(self, z, y, sign):
        return dt.tasks.Batch(jnp.concatenate([z, self.scale * sign[:, None]], axis=1), y)

    def setup(self, task_key, noise_key, tp):
        w = jax.random.normal(task_key, (self.d_core,))
        w = w / jnp.linalg.norm(w)
        z, y, ks = self._draw(jax.random.fold_in(task_key, 1), self.n_test, w)
        rand = jnp.where(jax.random.bernoulli(ks, 0.5, (self.n_test,)), 1.0, -1.0)
        return {"teacher": w, "test": self._batch(z, y, rand), "conflict": self._batch(z, y, 1.0 - 2.0 * y)}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        z, y, ks = self._draw(jax.random.fold_in(data_key, step), batch_size, state["teacher"])
        ka, kr = jax.random.split(ks)
        agree = jax.random.bernoulli(ka, tp["reliability"], (batch_size,))
        spurious = jnp.where(agree, 2.0 * y - 1.0, 1.0 - 2.0 * y)
        rand = jnp.where(jax.random.bernoulli(kr, 0.5, (batch_size,)), 1.0, -1.0)
        return self._batch(z, y, jnp.where(step < tp["fix_step"], spurious, rand))

    def eval_sets(self, state, tp):
        return {"train": None, "test": state["test"]}


def reliance(params, ctx: dt.MetricContext):
    """Fraction of conflict examples (shortcut against the label) on which the member sides with
    the shortcut: 0 ignores it, 1 follows it everywhere."""
    conflict = ctx.task_state["conflict"]
    return jnp.mean(jnp.argmax(ctx.predict(conflict.x), axis=-1) != conflict.y)


@dataclasses.dataclass(frozen=True)
class _Reliance:
    """``reliance`` as a stateless ``dt.Metric``."""

    @property
    def name(self) -> str:
        return "reliance"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        return reliance(ctx.params, ctx), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes: shortcut strengths x fix steps x seeds."""

    d_core: int
    width: int
    lr: float
    batch_size: int
    reliabilities: tuple[float, ...]
    seeds: int
    steps: int  # training on the uncorrected data before "post"
    k: int  # the extra steps every arm gets (post: its fine-tuning)
    record: int
    grid: int  # spacing of the fix-step grid the "training" arm acts on
    detect: float  # reliance at which the signal fires


SMALL = Config(d_core=16, width=32, lr=3e-3, batch_size=64, reliabilities=(0.9, 0.98), seeds=12,
               steps=200, k=50, record=10, grid=20, detect=0.7)
PAPER = dataclasses.replace(SMALL, seeds=32, steps=600, k=100)
SIZES = {"small": SMALL, "paper": PAPER}
# At paper size the reversal is gone (module docstring): at 0.98 training beats post, at 0.9 the
# difference is not resolved, so these hold at small size only.
KNOWN = tuple(dt.Known(
    name=f"training_beats_post_property_{r:g}", direction="above", sizes=("small",),
    reason="fine-tuning on corrected data is the most recent signal: at equal total compute post "
           "ends with reliance as low as or lower than the arm corrected from detection on",
    where="sims/fix_in_training.py, module docstring") for r in (0.9, 0.98))


def fix_steps(cfg: Config) -> list[float]:
    """The fix-step grid: every ``grid`` steps up to ``steps`` (the last one is "post"), and never."""
    return [float(s) for s in range(cfg.grid, cfg.steps + 1, cfg.grid)] + [NEVER]


def sweep(cfg: Config) -> dt.Sweep:
    """Every arm of every seed in one population (a null action records the detection step)."""
    detect = I.ScaleLR(1.0, 1).when(I.Threshold("reliance", cfg.detect, "above"))
    return dt.Sweep(task=Shortcut(d_core=cfg.d_core), model=dt.models.MLP(widths=(cfg.width,)),
                    optimizer="adam", lr=cfg.lr, steps=cfg.steps + cfg.k, batch_size=cfg.batch_size,
                    axes={"reliability": list(cfg.reliabilities), "fix_step": fix_steps(cfg)},
                    seeds=cfg.seeds, record=cfg.record, metrics={"reliance": _Reliance()},
                    interventions=(detect,))


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train every arm; return the arms side by side.

    Returned: (dims arm, reliability, seed, step) ``reliance``, ``test_loss``, ``test_acc``;
    (dims reliability, seed) ``detected`` (step the signal fired on the uncorrected member, -1
    never), ``fix_training`` (the grid step its "training" arm is corrected from).
    """
    cfg = dt.pick_size(SIZES, size)
    ds = dt.train(sweep(cfg), key=key, store=store).metrics
    return cfg.stamp(analyse(ds, cfg), sim="fix_in_training", size=size, key=key, citation=CITATION)


def analyse(ds: xr.Dataset, cfg: Config) -> xr.Dataset:
    """Pick each seed's arms out of the fix-step grid."""
    none = ds.sel(fix_step=NEVER)
    detected = none["intervened_0"]
    grid = np.asarray(fix_steps(cfg)[:-1])
    d = detected.values
    at = np.where(d >= 0, grid[np.minimum(np.searchsorted(grid, np.maximum(d, 0)), grid.size - 1)], NEVER)
    at = np.where((d >= 0) & (d > grid[-1]), NEVER, at)  # detected after "post" would start: no fix
    fix_training = xr.DataArray(at, dims=detected.dims, coords=detected.coords)
    keep = ["reliance", "test_loss", "test_acc"]
    training = ds[keep].sel(fix_step=fix_training)
    arms = [none[keep], ds[keep].sel(fix_step=float(cfg.steps)), training]
    out = xr.concat([a.drop_vars("fix_step", errors="ignore") for a in arms],
                    dim=xr.DataArray(list(ARMS), dims="arm", name="arm"))
    return out.assign(detected=detected.drop_vars("fix_step", errors="ignore"),
                      fix_training=fix_training.drop_vars("fix_step", errors="ignore"))


def _paired(diff: xr.DataArray) -> tuple[float, float, float, int]:
    v = diff.values[np.isfinite(diff.values)]
    est, lo, hi = dt.bootstrap_ci(v, axis=-1, n_boot=4000)
    return float(est), float(lo), float(hi), int(v.size)


def effects(ds: xr.Dataset) -> xr.Dataset:
    """The final values per arm and their paired differences (95% bootstrap intervals over seeds).

    Returned, for ``var`` in ``reliance`` and ``test_loss`` (the clean test loss), at the last
    step: (dims arm, reliability) ``var`` with ``var_lo`` / ``var_hi`` (mean over seeds);
    (dim reliability) ``d_var`` with ``d_var_lo`` / ``d_var_hi`` (training minus post, paired).
    ``check`` and the figure read their numbers from here.
    """
    end = ds.isel(step=-1)
    arms, rs = list(ds.arm.values), list(ds.reliability.values)
    out = {}
    for var in ("reliance", "test_loss"):
        cols = {k: np.full((len(arms), len(rs)), np.nan) for k in ("", "_lo", "_hi")}
        dcols = {k: np.full(len(rs), np.nan) for k in ("", "_lo", "_hi")}
        for j, r in enumerate(rs):
            e = end[var].sel(reliability=r)
            for i, arm in enumerate(arms):
                cols[""][i, j], cols["_lo"][i, j], cols["_hi"][i, j], _ = _paired(e.sel(arm=arm))
            dcols[""][j], dcols["_lo"][j], dcols["_hi"][j], _ = _paired(e.sel(arm="training") - e.sel(arm="post"))
        out.update({f"{var}{k}": (("arm", "reliability"), v) for k, v in cols.items()})
        out.update({f"d_{var}{k}": (("reliability",), v) for k, v in dcols.items()})
    return xr.Dataset(out, coords={"arm": arms, "reliability": rs})


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts per shortcut strength, at the last step (95% paired bootstrap over seeds).

    1. ``property_forms_<r>``: without a fix, peak reliance over training lies above 0.5 (the
       shortcut wins on conflicts at some point); the detail gives the final reliance and when
       the signal fired.
    2. ``training_beats_post_property_<r>``: reliance, training minus post, lies below 0.
    3. ``training_beats_post_clean_<r>``: clean test loss, training minus post, lies below 0.
    """
    out = []
    end = ds.isel(step=-1)
    eff = effects(ds)
    for r in ds.reliability.values:
        e = end.sel(reliability=r)
        est, lo, hi, n = _paired(ds.reliance.sel(arm="none", reliability=r).max("step"))
        det = ds.detected.sel(reliability=r)
        out.append(dt.interval_verdict(est, (lo, hi), predicted=0.5, side="above", name=f"property_forms_{r:g}",
                                       n_members=n, label="peak reliance, no fix", detail=(
                                           f"final {float(e.reliance.sel(arm='none').mean()):.3g}; "
                                           f"signal fired for {float((det >= 0).mean()):.2f} of members, "
                                           f"median step {float(det.where(det >= 0).median()):.3g}")))
        f = eff.sel(reliability=r)
        for what, var in (("property", "reliance"), ("clean", "test_loss")):
            diff = e[var].sel(arm="training") - e[var].sel(arm="post")
            est, lo, hi = (float(f[f"d_{var}{k}"]) for k in ("", "_lo", "_hi"))
            n = int(np.isfinite(diff.values).sum())
            means = ", ".join(f"{a} {float(e[var].sel(arm=a).mean()):.3g}" for a in ARMS)
            out.append(dt.interval_verdict(est, (lo, hi), predicted=0.0, side="below",
                                           name=f"training_beats_post_{what}_{r:g}", n_members=n,
                                           label=f"d {var} (training - post)", detail=f"means: {means}"))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run fix_in_training [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "fix_in_training", *sys.argv[1:]]))
