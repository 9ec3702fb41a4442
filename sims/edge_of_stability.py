"""Edge of stability: full-batch GD sharpens a tanh MLP until its sharpness reaches 2/eta, then hovers there.

Experiment:
    A tanh MLP (``MLP(widths=(32, 32), activation="tanh")``, standard parametrization) is trained by
    full-batch GD on a finite teacher-student regression set (``TeacherStudent``: tanh-MLP teacher,
    ``d_in = 16``, ``n_train = 256``, label noise 1: fitting the noise makes the network sharpen).
    The loss is the engine's ``0.5 * mean (f - y)^2``. A population over several learning rates
    ``eta`` x seeds records the sharpness, the top eigenvalue of the training-loss Hessian
    (``dt.Sharpness``: 20 warm-started power-iteration steps per record, so the estimate follows
    the moving top eigenvector), and the train loss. All learning rates start with the sharpness
    below ``2 / eta``.

Pairs with:
    ``theory/edge_of_stability.py``: GD on a quadratic of curvature ``a`` diverges iff
    ``a > 2 / eta`` (:func:`stability_threshold`, derived with ``rsolve``). That the sharpness of a
    network *rises to* this threshold (progressive sharpening) and then *hovers at it* while the
    loss keeps falling is the empirical regularity of Cohen et al., explained in part by
    self-stabilization (Damian, Nichani, Lee 2022); only the threshold is derived.

Measured (``check``):
    * ``eos_sharpness_at_2_over_eta``: per member, the median of ``sharpness / (2 / eta)`` over the
      late window (the last ``WINDOW`` of the run), against 1 within ``±BAND`` (CI over seeds, at
      every eta). The per-eta ratios are printed with their intervals.
    * ``eos_progressive_sharpening``: every member that started clearly below the edge (sharpness
      under ``(1 - GAP) 2 / eta``; members starting closer are counted and left out) then sharpened
      to within ``BAND`` of ``2 / eta`` while GD stayed finite; the median late/initial sharpness
      ratio is printed with its interval.
    * ``eos_control_below_threshold`` (when the config has a control learning rate whose
      ``2 / eta`` lies far above where gradient descent's sharpening saturates): the sharpness
      stays well below ``2 / eta``, i.e. the hover is not an artefact of the estimator.

Findings (``check`` prints the numbers; ``paper_figs/cohen2021_fig1.py`` draws them): the
sharpness rises, overshoots ``2 / eta`` while the loss falls non-monotonically, then settles. At
small size the late window is still in the oscillating phase and the sharpness sits *slightly
above* the edge, as Cohen et al. describe. At paper size it ends 0.1-0.2% *below* it, with
intervals that exclude 1: the network can interpolate (about 1.6k parameters, 256 points), the
loss keeps falling and GD settles into a minimum, which is stable only if its sharpness is at
most ``2 / eta``, so the run ends just inside the edge instead of oscillating across it. The
control learning rate sharpens only to a fraction of its ``2 / eta``.

Reference:
    J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar (2021), "Gradient descent on neural
    networks typically occurs at the edge of stability", arXiv:2103.00065.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run edge_of_stability``.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import edge_of_stability as eos

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "Config", "check", "run", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        widths: hidden widths of the tanh MLP.
        d_in: input dimension.
        n_train: training points (full batch).
        noise: label-noise standard deviation.
        lrs: learning rates whose ``2 / eta`` the sharpness is expected to reach.
        control_lrs: learning rates whose ``2 / eta`` it is not expected to reach (may be empty).
        steps: GD steps.
        record: record (and sharpness) interval in steps.
        seeds: replicate (data, init) seeds.
    """

    widths: tuple[int, ...]
    d_in: int
    n_train: int
    noise: float
    lrs: tuple[float, ...]
    control_lrs: tuple[float, ...]
    steps: int
    record: int
    seeds: int


SMALL = Config(widths=(32, 32), d_in=16, n_train=256, noise=1.0, lrs=(0.2, 0.3, 0.4),
               control_lrs=(), steps=600, record=20, seeds=4)
PAPER = Config(widths=(32, 32), d_in=16, n_train=256, noise=1.0, lrs=(0.15, 0.2, 0.3, 0.4, 0.5),
               control_lrs=(0.03,), steps=5000, record=20, seeds=8)
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = ()  # no disagreement with theory found

WINDOW = 0.5      # late window: the last half of the run
BAND = 0.1        # late sharpness within +-10% of 2/eta ("at, or just above" in Cohen et al.)
GAP = 0.2         # progressive sharpening: started below (1 - GAP) 2/eta, then reached (1 - BAND) 2/eta
CONTROL_MAX = 0.5  # control: late sharpness below half of its 2/eta


def sweep(cfg: Config) -> dt.Sweep:
    """The population: one member per (learning rate, seed)."""
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher="mlp", noise=cfg.noise,
                                     n_train=cfg.n_train, n_test=64),
        model=dt.models.MLP(widths=cfg.widths, activation="tanh"),
        optimizer="sgd", steps=cfg.steps, batch_size=None,
        axes={"lr": sorted(cfg.lrs + cfg.control_lrs)}, seeds=cfg.seeds,
        record=cfg.record, checkpoints=[cfg.steps], metrics={"sharpness": dt.Sharpness(iters=20)})


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train the population; simulation and theory side by side.

    Returns a Dataset on ``(lr, seed, step)``: ``sharpness``, ``train_loss``, ``diverged_at``,
    theory ``theory_sharpness_max = 2 / eta`` (per lr), ``ratio = sharpness / (2 / eta)``, and the
    boolean ``control`` (per lr).
    """
    cfg = dt.pick_size(SIZES, size)
    m = dt.train(sweep(cfg), key=key, store=store).metrics
    with jax.enable_x64(True):
        th = eos.stability_threshold().evaluate({"lr": m.lr}, names={"eta": "lr"})
    ds = xr.Dataset({
        "sharpness": m.sharpness, "train_loss": m.train_loss, "diverged_at": m.diverged_at,
        "theory_sharpness_max": th.theory_sharpness_max,
        "ratio": m.sharpness / th.theory_sharpness_max,
        "control": ("lr", np.isin(m.lr.values, cfg.control_lrs)),
    })
    return cfg.stamp(ds, sim="edge_of_stability", size=size, key=key, citation=eos.CITATION,
                     theory="theory.edge_of_stability", sweep=m.attrs["config"])


def _late(da: xr.DataArray) -> xr.DataArray:
    steps = da.step.values
    return da.sel(step=steps[steps >= (1 - WINDOW) * steps[-1]]).median("step")


def _fraction(flag: xr.DataArray, name: str, what: str, keep: xr.DataArray | None = None) -> dt.Verdict:
    """Equivalence with 1 of the fraction of kept members (all dims flattened) where ``flag`` holds."""
    flat = flag.astype(float).stack(member=flag.dims)
    if keep is not None:
        flat = flat.isel(member=np.flatnonzero(keep.stack(member=flag.dims).values))
    flat = flat.drop_vars(["member", *flag.dims])
    flat = flat.assign_coords(member=np.arange(flat.sizes["member"]))
    v = dt.equivalence(flat, 1.0, over="member", relative=False, tol=0.05, name=name)
    return dataclasses.replace(v, label="frac-1",
                               detail=f"{int((flat < 1).sum())} of {flat.sizes['member']} {what}")


def _per_lr(da: xr.DataArray) -> str:
    parts = []
    for lr in da.lr.values:
        est, lo, hi = dt.bootstrap_ci(da.sel(lr=lr).values, axis=0, nan_policy="omit")
        parts.append(f"eta={lr:g}: {float(est):.4f} [{float(lo):.4f}, {float(hi):.4f}]")
    return "; ".join(parts)


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    main_lrs = ds.lr.values[~ds.control.values]
    alive = ds.diverged_at < 0
    ratio = _late(ds.ratio).where(alive)
    out = []
    sel = ratio.sel(lr=main_lrs)
    v = dt.equivalence(sel, 1.0, tol=BAND, name="eos_sharpness_at_2_over_eta")
    out.append(dataclasses.replace(v, detail=v.detail + "; late sharpness / (2/eta): " + _per_lr(sel)))
    s0 = ds.sharpness.isel(step=0)
    rise = (_late(ds.sharpness) / s0).sel(lr=main_lrs)
    # Sharpening is only observable from a start clearly below the edge: a seed whose initial
    # sharpness is already within GAP of 2/eta is left out (and counted), not failed.
    below = (ds.ratio.isel(step=0) < 1 - GAP).sel(lr=main_lrs)
    reached = (ds.ratio.max("step") >= 1 - BAND).sel(lr=main_lrs) & alive.sel(lr=main_lrs)
    v = _fraction(reached, "eos_progressive_sharpening",
                  f"members that started below {1 - GAP:g} x 2/eta and never sharpened to "
                  f"{1 - BAND:g} x 2/eta", keep=below)
    flat = rise.where(below).values.ravel()
    est, lo, hi = dt.bootstrap_ci(flat[np.isfinite(flat)], axis=0, stat=np.median)
    out.append(dataclasses.replace(v, detail=v.detail + (
        f" ({int((~below).sum())} started within {GAP:g} of the edge, left out); late/initial "
        f"sharpness median {float(est):.2f} [{float(lo):.2f}, {float(hi):.2f}], initial "
        f"sharpness {float(s0.mean()):.3f}")))
    if ds.control.any():
        ctrl = ratio.sel(lr=ds.lr.values[ds.control.values])
        v = _fraction(ctrl < CONTROL_MAX, "eos_control_below_threshold",
                      f"control members with late sharpness above {CONTROL_MAX} x 2/eta")
        out.append(dataclasses.replace(v, detail=v.detail + "; ratio " + _per_lr(ctrl)))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run edge_of_stability [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "edge_of_stability", *sys.argv[1:]]))
