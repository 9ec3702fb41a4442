"""Catapult phases: the engine's uv model against its exact map, and a wide ReLU net against 2/lambda_0.

Experiment:
    *uv model.* ``DeepLinear(depth=2, width=n, parametrization="ntk")`` on the single point
    ``FixedData(x=[[1]], y=[[0]])`` is the uv model of the catapult paper: ``f = u.v / sqrt(n)``,
    loss ``f^2 / 2``, NTK ``lambda = (|u|^2 + |v|^2) / n`` (``E lambda_0 = 2`` at ``init_scale=1``).
    A population over learning rate x width x seed is trained by full-batch GD in float64 and
    records ``f`` and ``lambda`` (user metrics), densely early. A member whose float64 state
    overflows (the engine's ``diverged_at``) is "divergent"; "catapult" when it ended below its
    initial loss after the loss rose on the way; "lazy" when it converged without a rise
    (linearised GD contracts every mode, so the loss cannot rise).

    *Wide ReLU net.* ``MLP(widths=(w,), activation="relu", parametrization="ntk", bias=False)`` on a
    finite ``TeacherStudent`` set, full batch, float32. The loss is ``0.5 * mean_i (f_i - y_i)^2``,
    so the critical rate is set by ``lambda_0 = lambda_max(J J^T) / n_train`` (``NTKTopEig``);
    each member's own ``c = eta lambda_0`` is analysed. No biases: an output bias adds a constant
    mode of eigenvalue 1 that no catapult can lower, capping ``c_max`` at ``2 lambda_0``.

Pairs with ``theory/catapult_uv.py``: the exact two-variable map ``(f, lambda) -> (f', lambda')``,
the phase boundaries ``eta lambda_0 = 2`` and ``4``, the final kernel ``lambda_inf <= 2 / eta`` of
a catapult, and the ``O(1/n)`` kernel shift of a lazy run.

Measured (``check`` prints every number): the engine's uv trajectory against the map, one step
and iterated; each member's phase against ``classify_phase`` at its own ``eta lambda_0`` (outside
``±BAND`` of the boundaries); ``eta lambda_T < 2`` after a catapult; the lazy ``O(1/n)`` shift;
for the ReLU net the onset of the loss rise at ``c = 2`` (this checks the normalisation),
flattening below ``2 / eta``, and the largest stable ``c`` against the uv model's 4. The paper
reports ``c`` up to ~12 for ReLU nets; here the window closes just below 4. Depth is the likely
difference: an exploratory 3-hidden-layer net (not in ``check``) stayed stable to ~12.

Reference:
    A. Lewkowycz, Y. Bahri, E. Dyer, J. Sohl-Dickstein, G. Gur-Ari (2020), "The large learning
    rate phase of deep learning: the catapult mechanism", arXiv:2003.02218.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from dyntheory import AtSteps  # the engine's now; still importable from here
# phase codes and recording constants stay importable from here (the figure reads sim.PHASES)
from sims._catapult_phases import (CATAPULT, DENSE, DIVERGENT, FLOOR, LAZY, PHASE_TOL,  # noqa: F401
                                   PHASES, SPIKE, UNSETTLED, brackets, dense_then_sparse,
                                   member_fraction, sim_phase, valid)
from theory import catapult_uv as cu

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "AtSteps", "Config", "check", "run"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run: the uv population (``uv_*``) and the ReLU population (``relu_*``)."""

    uv_widths: tuple[int, ...]    # widths n (static: one compiled group each)
    uv_eta_lam: tuple[float, ...]  # lr in units of 1 / E[lambda_0] = 1/2 (members scatter O(1/sqrt n))
    uv_steps: int
    uv_seeds: int                 # replicate initialisations per (lr, width)
    relu_width: int
    relu_d_in: int
    relu_n_train: int             # training points (full batch)
    relu_lam0_ref: float          # a reference lambda_0 that only places the lr grid
    relu_c: tuple[float, ...]     # the grid in units of 1 / relu_lam0_ref (nominal eta lambda_0)
    relu_steps: int
    relu_seeds: int               # replicate (data, init) seeds


def _grid(lo: float, hi: float, ratio: float) -> tuple[float, ...]:
    k = int(np.floor(np.log(hi / lo) / np.log(ratio) + 1e-9))
    return tuple(float(round(lo * ratio ** i, 6)) for i in range(k + 1))


SMALL = Config(uv_widths=(128, 1024),
               uv_eta_lam=(0.5, 1.0, 1.5, 1.8, 2.3, 2.7, 3.1, 3.5, 4.4, 5.0),
               uv_steps=400, uv_seeds=4,
               relu_width=256, relu_d_in=8, relu_n_train=32, relu_lam0_ref=0.2,
               relu_c=(1.0, 1.5) + _grid(1.8, 9.0, 1.12), relu_steps=200, relu_seeds=5)
PAPER = Config(uv_widths=(64, 256, 1024, 4096),
               uv_eta_lam=tuple(np.round(np.arange(0.25, 6.01, 0.25), 2).tolist()),
               uv_steps=1500, uv_seeds=8,
               relu_width=2048, relu_d_in=8, relu_n_train=64, relu_lam0_ref=0.2,
               relu_c=(0.5, 1.0, 1.5) + _grid(1.8, 16.0, 1.06), relu_steps=500, relu_seeds=8)
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = ()  # no disagreement with theory found

BAND = 0.1          # +- band in eta*lambda_0 around 2 and 4 left out of the phase verdicts
LAZY_FIT_MAX = 1.5  # lazy kernel shift compared where the O(1/n) series converges fast


# ---- metrics ---------------------------------------------------------------------------------
def uv_output(params, batch):
    """``f = x W1 W2 / sqrt(n)`` of the ntk-parametrized depth-2 linear net (the uv model's f)."""
    w1, w2 = params["layers"][0]["w"], params["layers"][1]["w"]
    return (batch[0] @ w1 @ w2)[0, 0] / jnp.sqrt(w2.shape[0]) / jnp.sqrt(w1.shape[0])


def uv_kernel(params, batch):
    """``lambda = (|u|^2 + |v|^2) / n``, the uv model's NTK on the point ``x = 1``."""
    w1, w2 = params["layers"][0]["w"], params["layers"][1]["w"]
    return (jnp.sum(w1 ** 2) + jnp.sum(w2 ** 2)) / w2.shape[0]


# ---- populations -----------------------------------------------------------------------------
def uv_sweep(cfg: Config) -> dt.Sweep:
    """uv model: one member per (lr, width, seed); f and lambda at every step up to DENSE, then every 5th."""
    return dt.Sweep(
        task=dt.tasks.FixedData(x=[[1.0]], y=[[0.0]]),
        model=dt.models.DeepLinear(depth=2, width=cfg.uv_widths[0], parametrization="ntk"),
        optimizer="sgd", steps=cfg.uv_steps, batch_size=None, dtype="float64",
        axes={"lr": [x / 2.0 for x in cfg.uv_eta_lam], "width": list(cfg.uv_widths)},
        seeds=cfg.uv_seeds, record=dense_then_sparse(cfg.uv_steps), checkpoints=[cfg.uv_steps],
        metrics={"f": uv_output, "lam": uv_kernel})


def relu_sweep(cfg: Config) -> dt.Sweep:
    """Wide ReLU net: one member per (lr, seed); NTK top eigenvalue at the first and last step."""
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.relu_d_in, d_out=1, teacher="mlp", noise=0.0,
                                     n_train=cfg.relu_n_train, n_test=cfg.relu_n_train),
        model=dt.models.MLP(widths=(cfg.relu_width,), activation="relu", parametrization="ntk",
                            bias=False),
        optimizer="sgd", steps=cfg.relu_steps, batch_size=None,
        axes={"lr": [c / cfg.relu_lam0_ref for c in cfg.relu_c]}, seeds=cfg.relu_seeds,
        record=dense_then_sparse(cfg.relu_steps), checkpoints=[cfg.relu_steps],
        metrics={"ntk": AtSteps(dt.NTKTopEig(), (0, cfg.relu_steps))})


# ---- run -------------------------------------------------------------------------------------
def _run_uv(cfg: Config, key: int, store: str | None) -> xr.Dataset:
    m = dt.train(uv_sweep(cfg), key=key, store=store).metrics
    alive = valid(m)
    f, lam = m.f.where(alive), m.lam.where(alive)
    f0, lam0 = f.isel(step=0), lam.isel(step=0)
    eta, n = m.lr, m.width.astype(float)
    with jax.enable_x64(True):  # the map in float32 would be the largest error in the comparison
        one = cu.uv_map().evaluate({"f": f, "lam": lam, "eta": eta, "n": n})
        e3, n3 = (np.broadcast_to(a.values[:, None, None], f0.shape) if a.dims == ("lr",) else
                  np.broadcast_to(a.values[None, :, None], f0.shape) for a in (eta, n))
        it_f, it_lam = cu.iterate_uv_map(jnp.asarray(f0.values), jnp.asarray(lam0.values),
                                         jnp.asarray(e3), jnp.asarray(n3), steps=cfg.uv_steps)
        it_f, it_lam = (np.asarray(a)[m.step.values] for a in (it_f, it_lam))
        th_phase = np.asarray(cu.classify_phase(jnp.asarray(e3), jnp.asarray(lam0.values)))
        dlam = cu.lazy_lambda_shift().evaluate({"f0": f0, "lam0": lam0, "eta": eta, "n": n})
    dims = ("lr", "width", "seed")
    consecutive = (m.step - m.step.shift(step=1)) == 1  # a one-step prediction needs the step before
    to_da = lambda a: xr.DataArray(np.moveaxis(np.asarray(a), 0, -1), dims=dims + ("step",),  # noqa: E731
                                   coords=f.coords)
    ds = xr.Dataset({
        "uv_f": f, "uv_lam": lam, "uv_loss": m.train_loss.where(alive), "uv_diverged_at": m.diverged_at,
        "uv_lam0": lam0, "uv_f0": f0, "uv_eta_lam0": eta * lam0,
        "uv_phase": sim_phase(m.train_loss, m.diverged_at),
        # theory: one map step from the engine's own (f_t, lambda_t), placed at step t + 1
        "uv_theory_f_next": one.theory_f_next.transpose(*dims, "step").shift(step=1).where(consecutive),
        "uv_theory_lam_next": one.theory_lam_next.transpose(*dims, "step").shift(step=1).where(consecutive),
        "uv_theory_f": to_da(it_f), "uv_theory_lam": to_da(it_lam),
        "uv_theory_phase": xr.DataArray(th_phase, dims=dims, coords=f0.coords),
        "uv_theory_dlam": dlam.theory_dlam.transpose(*dims),
    })
    return ds.drop_vars([c for c in ds.coords if c not in ("lr", "width", "seed", "step")])


def _run_relu(cfg: Config, key: int, store: str | None) -> xr.Dataset:
    m = dt.train(relu_sweep(cfg), key=key, store=store).metrics
    alive = valid(m)
    loss = m.train_loss.where(alive)
    lam0 = m.ntk.sel(step=0) / cfg.relu_n_train
    lamT = (m.ntk.sel(step=cfg.relu_steps) / cfg.relu_n_train).where(m.diverged_at < 0)
    c = m.lr * lam0
    phase = sim_phase(m.train_loss, m.diverged_at)
    spiked = phase.isin([CATAPULT, DIVERGENT, UNSETTLED])
    stable = phase.isin([LAZY, CATAPULT])
    crit, cmax = [], []
    for s in m.seed.values:
        cs = c.sel(seed=s).values
        lo, hi = brackets(cs, ~spiked.sel(seed=s).values)
        crit.append((lo, hi))
        cmax.append(brackets(cs, stable.sel(seed=s).values))
    crit, cmax = np.asarray(crit), np.asarray(cmax)
    ds = xr.Dataset({
        "relu_loss": loss, "relu_diverged_at": m.diverged_at, "relu_lam0": lam0, "relu_lamT": lamT,
        "relu_c": c, "relu_phase": phase,
        "relu_c_crit_lo": ("seed", crit[:, 0]), "relu_c_crit_hi": ("seed", crit[:, 1]),
        "relu_c_max_lo": ("seed", cmax[:, 0]), "relu_c_max_hi": ("seed", cmax[:, 1]),
    })
    ds = ds.drop_vars([v for v in ds.coords if v not in ("lr", "seed", "step")])
    return ds.rename({"lr": "relu_lr", "seed": "relu_seed", "step": "relu_step"})


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train both populations; simulation and theory side by side.

    uv variables on ``(lr, width, seed, step)``: ``uv_f``, ``uv_lam``, ``uv_loss``, ``uv_phase``;
    theory ``uv_theory_f_next``/``_lam_next`` (one map step from the engine's previous state),
    ``uv_theory_f``/``_lam`` (iterated), ``uv_theory_phase``, ``uv_theory_dlam``. ReLU variables
    on ``(relu_lr, relu_seed, relu_step)``: ``relu_loss``, ``relu_lam0``, ``relu_lamT``, ``relu_c``
    (``eta lambda_0``), ``relu_phase``, per seed the brackets ``relu_c_crit_*``, ``relu_c_max_*``.
    """
    cfg = dt.pick_size(SIZES, size)
    uv = _run_uv(cfg, key, None if store is None else f"{store}/uv")
    relu = _run_relu(cfg, key, None if store is None else f"{store}/relu")
    ds = xr.merge([uv, relu])
    with jax.enable_x64(True):
        bounds = cu.phase_boundaries()(lam0=1.0)
    ds["eta_crit_lam0"] = float(bounds["eta_crit"])
    ds["eta_max_lam0"] = float(bounds["eta_max"])
    return cfg.stamp(ds, sim="catapult_uv", size=size, key=key, citation=cu.CITATION,
                     theory="theory.catapult_uv",
                     loss_normalisation="0.5*mean over n_train; lambda_0 = top eig(J J^T) / n_train")


# ---- verdicts --------------------------------------------------------------------------------
ONE_STEP_TOL = 1e-12  # a few float64 roundings of one update, in units of the rounding scale
ITERATED_TOL = 1e-9   # eps amplified by the map's Jacobian over a catapult's growth (<~ 3^15);
                      # both rounding checks also require every single member within tolerance
LAZY_TOL = 0.05       # relative error of the O(1/n) shift; corrections O(f_0^2 / n) <~ 3% at n >= 128
LAZY_MIN_WIDTH = 128
CRIT_TOL = 0.15       # spike onset vs 2: one grid step (ratio ~1.06-1.12) plus the detection delay
UV_MAX_TOL = 0.25     # largest stable c of the ReLU net vs the uv model's 4


def _judged(da: xr.DataArray) -> xr.DataArray:
    """(lr, width) points with at least 2 members left to judge."""
    return da.notnull().sum("seed") >= 2


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    out = []
    n = ds.width.astype(float)
    x = ds.uv_eta_lam0
    # 1-2. engine trajectory against the exact map: one step (every member, up to overflow), then
    # iterated from (f_0, lambda_0) alone for the members that converge: in the divergent phase
    # the map expands without bound, so rounding grows with the blow-up (measured up to ~2e-9
    # in the last step before overflow at paper size); the one-step check covers those members.
    converging = (ds.uv_phase != DIVERGENT) & (ds.uv_theory_phase != DIVERGENT)
    for name, f_th, lam_th, tol, keep in (
            ("uv_engine_equals_map_one_step", ds.uv_theory_f_next, ds.uv_theory_lam_next,
             ONE_STEP_TOL, None),
            ("uv_engine_equals_map_iterated", ds.uv_theory_f, ds.uv_theory_lam, ITERATED_TOL,
             converging)):
        err = np.maximum(abs(ds.uv_f - f_th) / (ds.uv_lam * np.sqrt(n)), abs(ds.uv_lam - lam_th) / ds.uv_lam)
        err = err.where(np.isfinite(err)).max("step")
        err = err if keep is None else err.where(keep)
        v = dt.equivalence(err, 0.0, relative=False, tol=tol, where=_judged(err), name=name)
        worst = float(err.max())
        out.append(dataclasses.replace(v, label="max err", passed=v.passed and worst <= tol, n_excluded=0, detail=(
            f"worst member {worst:.2g} (units: lambda sqrt(n) for f, lambda for lambda); "
            f"{int(np.isfinite(err).sum())} members")))
    # 3. phases outside the boundary bands
    away = (abs(x - 2.0) > BAND) & (abs(x - 4.0) > BAND)
    for phase, name in ((LAZY, "uv_lazy_below_2"), (CATAPULT, "uv_catapult_between_2_and_4"),
                        (DIVERGENT, "uv_divergent_above_4")):
        keep = away & (ds.uv_theory_phase == phase)
        out.append(member_fraction(ds.uv_phase == phase, keep, name,
                                   f"predicted-{PHASES[phase]} members in another phase"))
    # 4. catapult runs end flatter than 2 / eta
    lamT = ds.uv_lam.isel(step=-1)
    ratio = (ds.lr * lamT / 2.0).where(ds.uv_phase == CATAPULT)
    v = member_fraction(ratio < 1.0, ds.uv_phase == CATAPULT, "uv_catapult_ends_below_2_over_eta",
                        "catapult members with eta lambda_T >= 2")
    r = ratio.values[np.isfinite(ratio.values)]
    med, lo, hi = dt.bootstrap_ci(r, axis=0, stat=np.median)
    out.append(dataclasses.replace(v, detail=v.detail + (
        f"; eta lambda_T / 2 median {float(med):.3f} [{float(lo):.3f}, {float(hi):.3f}], max {r.max():.3f}")))
    # 5. lazy kernel shift at O(1/n)
    keep = ((ds.uv_theory_phase == LAZY) & (ds.uv_phase == LAZY) & (x <= LAZY_FIT_MAX)
            & (ds.width >= LAZY_MIN_WIDTH))
    rel = ((lamT - ds.uv_lam0) / ds.uv_theory_dlam - 1.0).where(keep)
    v = dt.equivalence(rel, 0.0, relative=False, tol=LAZY_TOL, where=_judged(rel),
                       name="uv_lazy_kernel_shift")
    out.append(dataclasses.replace(v, label="rel.err", n_excluded=0, detail=(
        f"(lambda_T - lambda_0) / dlam_theory - 1 over {int(keep.sum())} lazy members with eta "
        f"lambda_0 <= {LAZY_FIT_MAX}, n >= {LAZY_MIN_WIDTH}; worst member "
        f"{float(abs(rel).max()):.3g}")))
    # 6-9. the wide ReLU network
    crit = np.sqrt(ds.relu_c_crit_lo * ds.relu_c_crit_hi)
    v = dt.equivalence(crit, 2.0, over="relu_seed", tol=CRIT_TOL, name="relu_critical_rate_at_2")
    out.append(dataclasses.replace(v, detail=(
        f"spike onset c = eta lambda_0 (grid midpoint) mean {float(crit.mean()):.3f}, per seed "
        f"{np.round(crit.values, 2).tolist()}; lambda_0 = top eig(J J^T) / n_train")))
    cat = ds.relu_phase == CATAPULT
    flat = ds.relu_lr * ds.relu_lamT / 2.0
    out.append(member_fraction(flat < 1.0, cat, "relu_catapult_flattens",
                               "converged super-critical members with eta lambda_T >= 2"))
    out.append(member_fraction(ds.relu_c_max_lo > 2.0, xr.ones_like(ds.relu_c_max_lo, bool),
                               "relu_max_rate_above_2", "seeds with no stable c above 2"))
    cmax = np.sqrt(ds.relu_c_max_lo * ds.relu_c_max_hi)
    est, lo, hi = dt.bootstrap_ci(cmax.values, axis=0)
    v = dt.equivalence(cmax, 4.0, over="relu_seed", tol=UV_MAX_TOL, name="relu_max_rate_vs_uv_4")
    out.append(dataclasses.replace(v, detail=(
        f"c_max = eta_max lambda_0 mean {float(est):.2f} [{float(lo):.2f}, {float(hi):.2f}] "
        f"(uv model 4; paper reports up to ~12 for ReLU nets), per seed "
        f"{np.round(cmax.values, 2).tolist()}")))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run catapult_uv [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "catapult_uv", *sys.argv[1:]]))
