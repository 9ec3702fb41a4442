"""The coordinate check as a rule: muP's feature and output updates do not grow with width; SP's do.

Experiment:
    A two-hidden-layer ReLU MLP (``MLP(widths=(n, n))``, no biases) trained by full-batch Adam on
    a finite teacher-student regression set, at five or more widths ``n`` x seeds, in four
    parametrizations (``VARIANTS``): SP; muP (Yang et al. 2022 Table 3 with Adam's ``eps``
    scaled per layer, ``mup_eps=True``); and two mutants of muP, one with the readout left as in
    SP (``mup_readout="standard"``) and one with ``eps`` not scaled (``mup_eps=False``, the
    nanoGPT-mup bug, arXiv 2512.22382). Every member records, on the training set, the RMS change
    since initialisation of the last hidden features, ``|delta h|``, and of the output,
    ``|delta f|`` (:class:`Change`, which keeps the initial parameters as its state).

    ``eps`` is set to ``EPS``, about the size of the hidden gradients at the base width, so that
    an unscaled ``eps`` matters within the widths checked; with the default ``1e-8`` it would only
    matter at widths (or in number formats) far beyond a test's.

Pairs with:
    ``theory/mup_coord_check.py``: the slopes of ``|delta h|`` and ``|delta f|`` against width
    after the first Adam steps, from the abc-exponents of each parametrization (SP 1 and 3/2; muP
    0 and 0; readout mutant 0 and 1; eps mutant -1 and 0 in the limit).

Measured (``check``), each a ``design.Exponent`` rule over the widths (bootstrap over seeds):
    * ``coord_<variant>_<dh|df>_early``: the muP claim, slope 0 within ``±MARGIN`` at step
      ``EARLY``, for every variant. muP passes; SP and each mutant must fail it (declared
      ``KNOWN``, direction given, so a mutant that slipped through would read ``XPASS``).
    * ``coord_<sp|mup>_<dh|df>_late``: the same claim at the last step, where the theory does
      not apply; reported as measured.
    * ``slope_<sp|mup>_<dh|df>``: the early slope against ``theory/mup_coord_check.py``'s, within
      ``±MARGIN``.

Findings (small size, widths 16-256, 4 seeds, key 0): early, muP's slopes are -0.05
[-0.11, 0.03] (dh) and -0.09 [-0.17, 0.04] (df): PASS. SP fails, 0.40 [0.33, 0.46] and 0.72
[0.62, 0.84], below its predicted 1 and 3/2 (KNOWN: at these widths the width-independent part
of the update still competes with the ``n lr`` part). The readout mutant fails on df, 0.47
[0.39, 0.59]; the eps mutant on dh, -0.28 [-0.33, -0.21] (on its way to the limit -1). Late
(step 20), SP's slopes are 0.13 [0.10, 0.16] and -0.07 [-0.14, 0.03]: a late coordinate check
does not tell SP from muP here, the shape of the complaint that coordinate checks pass while
transfer fails.

Reference:
    G. Yang et al. (2022), "Tensor Programs V", arXiv 2203.03466, Table 3, Appendix D.1.

Example: ``sim.check(sim.run("small"))``, or ``dyntheory run mup_coord_check``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import xarray as xr

import dyntheory as dt
from dyntheory import design
from theory import mup_coord_check as theory

__all__ = ["EARLY", "EPS", "KNOWN", "MARGIN", "SIZES", "VARIANTS", "Change", "Config", "check", "run",
           "sweep"]

VARIANTS = {
    "sp": dict(parametrization="standard"),
    "mup": dict(parametrization="mup", mup_eps=True),
    "mutant_readout": dict(parametrization="mup", mup_eps=True, mup_readout="standard"),
    "mutant_eps": dict(parametrization="mup"),
}
EARLY = 2        # the coordinate check's "first steps"
EPS = 1e-3       # Adam's eps: near the hidden gradients' size at the base width
MARGIN = 0.2     # |slope - predicted| allowed
_GROWS = "the update grows with width, as the theory says it must without muP"
KNOWN = (
    dt.Known(name="coord_sp_dh_early", reason=f"SP: {_GROWS}", where="sims/mup_coord_check.py", direction="above"),
    dt.Known(name="coord_sp_df_early", reason=f"SP: {_GROWS}", where="sims/mup_coord_check.py", direction="above"),
    dt.Known(name="coord_mutant_readout_df_early", reason=f"muP with an SP readout: {_GROWS}",
             where="sims/mup_coord_check.py", direction="above"),
    dt.Known(name="coord_mutant_eps_dh_early", reason="muP with eps unscaled: eps swamps the O(1/width) "
             "hidden gradients, so the features move less as width grows", where="sims/mup_coord_check.py",
             direction="below"),
    dt.Known(name="slope_sp_dh", reason="SP at widths <= 256: the width-independent part of delta h still "
             "competes with its n*lr part, so the slope is below 1", where="sims/mup_coord_check.py",
             direction="below", sizes=("small",)),
    dt.Known(name="slope_sp_df", reason="SP at widths <= 256: the slope of delta f is still below its limit 3/2",
             where="sims/mup_coord_check.py", direction="below", sizes=("small",)),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run.

    Attributes:
        widths: hidden widths (at least 5).
        base_width: muP's base width.
        d_in, n_train: teacher-student input dimension and training points (full batch).
        lr: Adam learning rate (every variant, every width).
        steps: Adam steps; ``late`` is the last.
        seeds: replicate seeds.
        variants: which of ``VARIANTS`` to train.
    """

    widths: tuple[int, ...]
    base_width: int
    d_in: int
    n_train: int
    lr: float
    steps: int
    seeds: int
    variants: tuple[str, ...] = tuple(VARIANTS)

    def __post_init__(self):
        if len(self.widths) < 5:
            raise ValueError(f"Config.widths: a coordinate check needs >= 5 widths, got {self.widths}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"Config.variants: unknown {bad}; known {list(VARIANTS)}")


SIZES = {
    "small": Config(widths=(16, 32, 64, 128, 256), base_width=16, d_in=16, n_train=64, lr=0.01,
                    steps=20, seeds=4),
    "paper": Config(widths=(64, 128, 256, 512, 1024, 2048), base_width=64, d_in=16, n_train=256,
                    lr=0.01, steps=400, seeds=8),
}


@dataclasses.dataclass(frozen=True)
class Change:
    """RMS change since step 0 of the last hidden features (``what="h"``) or the output (``"f"``)
    on the training set; its state is the initial parameters."""

    model: dt.models.MLP
    what: str

    @property
    def name(self) -> str:
        return f"d{self.what}"

    def init(self, params, key):
        return params

    def _value(self, params, x):
        return self.model.features(params, x)[-1] if self.what == "h" else self.model.apply(params, x)

    def __call__(self, state, ctx):
        x = ctx.batch[0]
        d = self._value(ctx.params, x) - self._value(state, x)
        return jnp.sqrt(jnp.mean(d ** 2)), state


def sweep(cfg: Config, variant: str) -> dt.Sweep:
    """One variant's population: widths x seeds."""
    model = dt.models.MLP(widths=(cfg.widths[0],) * 2, bias=False, base_width=cfg.base_width,
                          **VARIANTS[variant])
    return dt.Sweep(
        task=dt.tasks.TeacherStudent(d_in=cfg.d_in, d_out=1, teacher="mlp", n_train=cfg.n_train, n_test=64),
        model=model, optimizer="adam", lr=cfg.lr, eps=EPS, steps=cfg.steps, batch_size=None,
        axes={"widths": [(w, w) for w in cfg.widths]}, seeds=cfg.seeds,
        record=sorted({0, 1, EARLY, cfg.steps}), checkpoints=[cfg.steps],
        metrics={"dh": Change(model, "h"), "df": Change(model, "f")})


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None,
        variants: tuple[str, ...] | None = None) -> xr.Dataset:
    """Train every variant (or only ``variants``); returns ``dh``, ``df``, ``train_loss`` on
    ``(variant, widths, seed, step)`` and the predicted slopes ``theory_<dh|df>`` per variant."""
    cfg = dt.pick_size(SIZES, size)
    if variants is not None:
        cfg = dataclasses.replace(cfg, variants=tuple(variants))
    parts = []
    for v in cfg.variants:
        m = dt.train(sweep(cfg, v), key=key, store=None if store is None else f"{store}/{v}").metrics
        m = m.assign_coords(widths=[w for w in cfg.widths])
        parts.append(m[["dh", "df", "train_loss", "diverged_at"]].expand_dims(variant=[v]))
    ds = xr.concat(parts, "variant")
    for q in ("dh", "df"):
        ds[f"theory_{q}"] = ("variant", [theory.predicted_slopes(v)[q] for v in cfg.variants])
    return cfg.stamp(ds, sim="mup_coord_check", size=size, key=key, citation=theory.CITATION,
                     theory="theory.mup_coord_check")


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """Verdicts of the claims listed in the module docstring."""
    cfg = Config.from_attrs(ds)
    out = []
    rule = lambda name, q, v, step, slope: design.check_rule(design.Exponent(  # noqa: E731
        name=name, metric=q, along="widths", step=step, slope=slope, margin=MARGIN, sel={"variant": v}), ds)
    variants = list(ds.variant.values)
    for v in variants:
        for q in ("dh", "df"):
            out.append(rule(f"coord_{v}_{q}_early", q, v, EARLY, 0.0))
    for v in [v for v in ("sp", "mup") if v in variants]:
        for q in ("dh", "df"):
            out.append(rule(f"coord_{v}_{q}_late", q, v, cfg.steps, 0.0))
            out.append(rule(f"slope_{v}_{q}", q, v, EARLY, float(ds[f"theory_{q}"].sel(variant=v))))
    names = {o.name for o in out}
    known = [k for k in KNOWN if k.name in names]
    return dt.mark_known(out, known, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run mup_coord_check [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "mup_coord_check", *sys.argv[1:]]))
