"""Du, Hu, Lee (2018): layer balance is conserved by gradient flow; GD drifts at O(eta) per unit time.

Experiment:
    Deep linear students ``x @ W1 @ W2 @ W3`` (``DeepLinear(depth=3)``, standard Gaussian init) and,
    at paper size, ReLU MLPs with biases (``MLP(activation="relu")``) are trained by full-batch GD
    in float64 on a noisy teacher-student regression set, one member per (learning rate, seed).
    Parameters are checkpointed and the balance matrices of each hidden layer,
    ``D_j = W_j^T W_j + b_j^T b_j - W_{j+1} W_{j+1}^T`` (engine row convention), are compared between
    step 0 and the end of a protocol:

    * fixed steps: ``n`` steps at small learning rates (``lr_fixed_steps``);
    * fixed flow time: ``T / eta`` steps at larger learning rates (``lr_fixed_time``), so every member
      stops at the same point of the gradient-flow trajectory.

    The drift is ``||D_j(end) - D_j(0)||_F`` summed in quadrature over hidden layers (the diagonal only
    for ReLU nets, where only the diagonal is conserved). The gradient at step 0 is read off the
    first two checkpoints, ``G = (W(0) - W(1)) / eta`` (plain GD), for the leading-order prefactor.

Pairs with:
    ``theory/conservation_law.py``: ``dD_j/dt = 0`` under gradient flow; one GD step changes ``D_j``
    by exactly ``eta^2 (G_j^T G_j + g_j^T g_j - G_{j+1} G_{j+1}^T)`` (``drift_per_step``), so the
    accumulated drift is ``n eta^2 ||C(0)||`` at fixed ``n`` (exponent 2) and ``eta ||int_0^T C dt||`` at
    fixed ``T`` (exponent 1) (``drift_scaling``).

Measured (``check``), per model:
    * ``conservation_fixed_time_exponent[model]``: log-log slope of the drift against eta at fixed
      ``T``, bootstrap CI over seeds; predicted 1; tolerance 0.1 (the next order is ``O(eta)``
      relative).
    * ``conservation_fixed_steps_exponent[model]``: the same at fixed ``n``; predicted 2.
    * ``conservation_fixed_steps_prefactor[model]``: at the smallest eta, drift against
      ``n eta^2 ||C(0)||`` from the step-0 gradient; relative tolerance 5% (the neglected term is
      ``O(n eta |dC/dt| / |C|)``, ~1% here).
    * ``conservation_relative_drift_small[model]``: at fixed ``T`` and the smallest eta the balance
      moved by less than 5% of ``||D(0)||`` while the weights themselves changed by far more
      (reported in the detail): conserved in the flow limit, not merely frozen.

Reference:
    S. S. Du, W. Hu, J. D. Lee (2018), "Algorithmic regularization in learning deep homogeneous
    models: layers are automatically balanced", NeurIPS, arXiv:1806.00900.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run conservation_law``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import conservation_law as cl

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "Config", "check", "run", "sweep"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        d_in, d_out, width, n_train, noise: the task and the hidden width (3 weight layers).
        models: ``"linear"`` (DeepLinear, whole matrix) and/or ``"relu"`` (MLP with biases, diagonal).
        lr_fixed_steps: learning rates of the fixed-steps protocol; ``n_fixed`` steps.
        lr_fixed_time: learning rates of the fixed-time protocol; ``horizon / lr`` must be an integer.
        seeds: replicate (teacher, data, init) draws.
    """

    d_in: int
    d_out: int
    width: int
    n_train: int
    noise: float
    models: tuple[str, ...]
    lr_fixed_steps: tuple[float, ...]
    n_fixed: int
    lr_fixed_time: tuple[float, ...]
    horizon: float
    seeds: int

    def steps_for(self, lr: float) -> int:
        if lr in self.lr_fixed_steps:
            return self.n_fixed
        k = round(self.horizon / lr)
        if abs(k * lr - self.horizon) > 1e-9:
            raise ValueError(f"horizon / lr must be an integer, got {self.horizon} / {lr}")
        return k


SMALL = Config(d_in=4, d_out=2, width=6, n_train=32, noise=0.1, models=("linear",),
               lr_fixed_steps=(0.0001, 0.0002, 0.0004, 0.0008), n_fixed=5,
               lr_fixed_time=(0.00125, 0.0025, 0.005, 0.01), horizon=2.0, seeds=8)
PAPER = Config(d_in=8, d_out=4, width=16, n_train=128, noise=0.1, models=("linear", "relu"),
               lr_fixed_steps=(0.00005, 0.0001, 0.0002, 0.0004, 0.0008, 0.0016), n_fixed=5,
               lr_fixed_time=(0.000625, 0.00125, 0.0025, 0.005, 0.01, 0.02), horizon=2.0, seeds=32)
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = ()  # no disagreement with theory found


def _model(cfg: Config, kind: str):
    if kind == "linear":
        return dt.models.DeepLinear(depth=3, width=cfg.width)
    if kind == "relu":
        return dt.models.MLP(widths=(cfg.width, cfg.width), activation="relu", bias=True)
    raise ValueError(f"Config.models entries must be 'linear' or 'relu', got {kind!r}")


def sweep(cfg: Config, kind: str) -> dt.Sweep:
    """One member per (lr, seed); checkpoints at 0, 1 and every protocol's end step."""
    lrs = [*cfg.lr_fixed_steps, *cfg.lr_fixed_time]
    ends = sorted({cfg.steps_for(lr) for lr in lrs})
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=cfg.d_out, noise=cfg.noise, n_train=cfg.n_train,
                                     n_test=16),
        model=_model(cfg, kind), optimizer="sgd", init_scale=1.0, steps=max(ends), batch_size=None,
        axes={"lr": lrs}, seeds=cfg.seeds, record=[0, max(ends)], checkpoints=sorted({0, 1, *ends}),
        dtype="float64")


def _layers(params):
    ws = [layer["w"] for layer in params["layers"]]
    bs = [layer.get("b") for layer in params["layers"]]
    return ws, (bs if any(b is not None for b in bs) else None)


def _norms(mats, diagonal: bool) -> np.ndarray:
    """Frobenius norm of each hidden layer's matrix (or of its diagonal), stacked on a last axis."""
    if diagonal:
        return np.stack([np.linalg.norm(np.diagonal(m, axis1=-2, axis2=-1), axis=-1) for m in mats], -1)
    return np.stack([np.linalg.norm(m, axis=(-2, -1)) for m in mats], -1)


def _model_dataset(cfg: Config, kind: str, *, key: int, store: str | None) -> xr.Dataset:
    res = dt.train(sweep(cfg, kind), key=key, store=None if store is None else f"{store}/{kind}")
    lrs = np.asarray(res.metrics.lr.values)
    diagonal = kind == "relu"
    with jax.enable_x64(True):
        ws0, bs0 = _layers(res.params_at(0))
        ws1, bs1 = _layers(res.params_at(1))
        D0 = cl.balance_matrices(ws0, bs0)
        eta = jnp.asarray(lrs)[:, None]  # (lr, seed) leading axes
        G = [(a - b) / eta[..., None, None] for a, b in zip(ws0, ws1)]
        g = None if bs0 is None else [(a - b) / eta[..., None] for a, b in zip(bs0, bs1)]
        c0 = _norms(cl.balance_matrices(G, g), diagonal)  # ||C(0)|| per hidden layer, (lr, seed, j)
        drift, moved, n_steps = [], [], []
        for i, lr in enumerate(lrs):
            n = cfg.steps_for(float(lr))
            ws, bs = _layers(res.params_at(n))
            Dn = cl.balance_matrices(ws, bs)
            drift.append(_norms([a[i] - b[i] for a, b in zip(Dn, D0)], diagonal))
            moved.append(np.sqrt(sum(np.sum((np.asarray(a[i]) - np.asarray(b[i])) ** 2, axis=(-2, -1))
                                     for a, b in zip(ws, ws0))))
            n_steps.append(n)
        scale = _norms([np.asarray(d) for d in D0], diagonal)
        w0 = np.sqrt(sum(np.sum(np.asarray(w) ** 2, axis=(-2, -1)) for w in ws0))
        pred = cl.drift_scaling()(eta=lrs[:, None, None], n=np.asarray(n_steps, float)[:, None, None],
                                  c0=c0, c_int=np.ones_like(c0))
    protocol = np.where(np.isin(lrs, cfg.lr_fixed_steps), "fixed_steps", "fixed_time")
    dims = ("lr", "seed", "hidden")
    ds = xr.Dataset(
        {"drift": (dims, np.stack(drift)), "balance_norm": (dims, np.asarray(scale)),
         "c0": (dims, np.asarray(c0)), "weight_change": (("lr", "seed"), np.stack(moved)),
         "weight_norm": (("lr", "seed"), w0),
         "theory_drift_fixed_steps": (dims, np.asarray(pred["drift_fixed_steps"])),
         "theory_exponent_fixed_steps": float(pred["exponent_fixed_steps"].ravel()[0]),
         "theory_exponent_fixed_time": float(pred["exponent_fixed_time"].ravel()[0]),
         "diverged_at": res.metrics.diverged_at, "train_loss": res.metrics.train_loss},
        coords={"lr": lrs, "seed": res.metrics.seed.values, "hidden": np.arange(len(D0)) + 1,
                "protocol": ("lr", protocol), "n_steps": ("lr", np.asarray(n_steps))})
    return ds.expand_dims(model=[kind])


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train each model kind; one Dataset with dims ``(model, lr, seed, hidden)`` (+ ``step``).

    Variables: ``drift`` (``||Delta D_j||``), ``balance_norm`` (``||D_j(0)||``), ``c0``
    (``||C(0)||``), ``weight_change``/``weight_norm``, ``theory_drift_fixed_steps``
    (``n eta^2 ||C(0)||``), ``theory_exponent_fixed_steps``/``_fixed_time``, ``diverged_at``.
    """
    cfg = dt.pick_size(SIZES, size)
    ds = xr.concat([_model_dataset(cfg, kind, key=key, store=store) for kind in cfg.models], dim="model",
                   coords="different", compat="equals")
    return cfg.stamp(ds, sim="conservation_law", size=size, key=key, citation=cl.CITATION,
                     theory="theory.conservation_law")


def _total(drift: xr.DataArray) -> xr.DataArray:
    return np.sqrt((drift**2).sum("hidden"))


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts listed in the module docstring, model by model."""
    out = []
    for kind in ds.model.values:
        a = ds.sel(model=kind)
        if (a.diverged_at >= 0).any():
            raise RuntimeError(f"conservation_law: {kind} members diverged; lower the learning rates")
        for protocol, name in (("fixed_time", "conservation_fixed_time_exponent"),
                               ("fixed_steps", "conservation_fixed_steps_exponent")):
            sub = a.where(a.protocol == protocol, drop=True)
            predicted = float(a[f"theory_exponent_{protocol}"])
            out.append(dt.slope_verdict(sub.lr.values, _total(sub.drift).transpose("lr", "seed").values,
                                        predicted=predicted, tol=0.1, name=f"{name}[{kind}]"))
        steps = a.where(a.protocol == "fixed_steps", drop=True)
        smallest = steps.isel(lr=[0])
        ratio = _total(smallest.drift) / _total(smallest.theory_drift_fixed_steps)
        out.append(dt.equivalence(ratio, 1.0, tol=0.05, name=f"conservation_fixed_steps_prefactor[{kind}]"))
        time = a.where(a.protocol == "fixed_time", drop=True).isel(lr=[0])
        rel = _total(time.drift) / _total(time.balance_norm)
        v = dt.equivalence(rel, 0.0, relative=False, tol=0.05, name=f"conservation_relative_drift_small[{kind}]")
        moved = float((time.weight_change / time.weight_norm).mean())
        out.append(dataclasses.replace(
            v, detail=v.detail + f"; at eta={float(time.lr[0]):g}, T={float(time.lr[0] * time.n_steps[0]):g} "
                                 f"the weights moved by {moved:.3g} of their norm"))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run conservation_law [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "conservation_law", *sys.argv[1:]]))
