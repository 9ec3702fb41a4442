"""In-context Markov chains: the loss plateaus at the unigram level before it falls toward bigram.

Experiment: two-layer attention-only transformers (``dt.models.Transformer``) learn next-state
prediction on ``dt.tasks.InContextMarkov`` (each sequence its own transition matrix with
Dirichlet rows), with Adam, over seeds. Recorded: ``test_loss``, the cross-entropy averaged over
positions of a fixed test set.

Claims (``check``), against the strategy losses of ``theory.markov_icl``: the loss falls from
``log k`` (uniform) to a plateau at the in-context unigram level (the median over ``plateau``
steps within ±2% of it), then below it toward the in-context bigram level (the final loss within
±2% of it); the order uniform > unigram plateau > final. Each level is the strategy's loss on the
member's *own* test set (``TestSetLevels``, ``theory.realized_losses``: scored on the states
that came, as the model is), so model and level share the set's sampling noise and the
comparison is paired: 256 test sequences move a strategy's loss by -1.3% to +1.1% from the
exact expectation (``theory.strategy_losses``, printed beside it), more than the gaps judged.

Known disagreement (``KNOWN``, small size): in 1000 steps the loss has left the unigram plateau
but not reached the bigram level (3 seeds, key 0: final 0.970-0.992, 3.7% [3.4%, 3.8%] above
bigram on the same sets); Edelman et al. train far longer.

Measured (paper: the small recipe for 16,000 steps, 4 seeds, key 0; 7 min wall on the shared
2-core machine at load ~9): all three claims hold. ``unigram_plateau`` -0.6% [-1.1%, -0.2%]
(plateau medians 1.021-1.043; the stage is a shoulder at steps ~50-200, not a long flat
plateau); ``bigram_level`` +1.7% [1.5%, 1.9%] within ±2% (final 0.950-0.969 against the bigram
strategy's 0.933-0.956 on the same sets); ``order`` final - plateau -0.076 [-0.080, -0.073].
The model sits a resolved 1.5-1.9% above the Bayes-optimal bigram predictor, inside the
margin. Judged against the exact level instead (the first analysis, same runs) the four seeds
read +0.5% to +2.5% and the verdict failed, +1.3% [0.5%, 2.1%]: two of the four test sets
happened to be 1.1-1.3% easier than average, which the paired comparison removes. The loss no
longer moves much: 0.949-0.975 at 6,000 steps; a cosine decay to 0 over 6,000 steps ended at
0.950-0.978, no closer. Longer sequences and wider models (length 64, d_model 64) were not run.

Reference: B. L. Edelman, E. Edelman, S. Goel, E. Malach, N. Tsilivis (2024), "The evolution of
statistical induction heads: in-context learning Markov chains", arXiv:2402.11004. Theory
partner: ``theory/markov_icl.py``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import xarray as xr

import dyntheory as dt
from theory import markov_icl as theory

__all__ = ["KNOWN", "PAPER", "SIZES", "SMALL", "STRATEGIES", "Config", "TestSetLevels", "analyse", "check", "run",
           "sweep"]

STRATEGIES = ("uniform", "unigram", "bigram")


@dataclasses.dataclass(frozen=True)
class TestSetLevels:
    """A metric: each strategy's loss on the member's own test set (``theory.realized_losses``),
    so the model's test loss can be compared with the bigram level paired, set by set."""

    states: int
    name: str = "level_here"
    dims: tuple[str, ...] = ("strategy",)
    coords: tuple = (("strategy", STRATEGIES),)

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        got = theory.realized_losses(ctx.test.x, ctx.test.y, self.states)
        return jnp.stack([got[m] for m in STRATEGIES]), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(dt.SimConfig):
    """Sizes of one run."""

    states: int
    length: int
    d_model: int
    lr: float
    batch_size: int
    steps: int
    record: int
    seeds: int
    plateau: tuple[int, int]  # steps whose median loss is the plateau level
    n_test: int = 256


SMALL = Config(states=3, length=32, d_model=32, lr=3e-3, batch_size=64, steps=1000, record=25,
               seeds=3, plateau=(50, 200))
PAPER = Config(states=3, length=32, d_model=32, lr=3e-3, batch_size=64, steps=16000, record=50,
               seeds=4, plateau=(50, 200))
SIZES = {"small": SMALL, "paper": PAPER}
KNOWN = (dt.Known(name="bigram_level", direction="above", sizes=("small",),
                  reason="in 1,000 steps the loss has left the unigram plateau but is still 3-4% above "
                         "the bigram level on the same test sets",
                  where="sims/markov_icl.py, module docstring"),)
TOL = 0.02


def sweep(cfg: Config) -> dt.Sweep:
    return dt.Sweep(task=dt.tasks.InContextMarkov(states=cfg.states, length=cfg.length, n_test=cfg.n_test),
                    model=dt.models.Transformer(layers=2, heads=1, d_model=cfg.d_model),
                    optimizer="adam", lr=cfg.lr, steps=cfg.steps, batch_size=cfg.batch_size,
                    seeds=cfg.seeds, record=cfg.record, checkpoints=[cfg.steps],
                    metrics={"level_here": dt.AtSteps(TestSetLevels(cfg.states), (cfg.steps,), "level_here")})


def run(size: str | Config = "small", *, key: int = 0, store: str | None = None) -> xr.Dataset:
    """Train and add ``plateau_loss``, ``final_loss`` (dims: seed) and the strategy levels
    ``level_<strategy>`` with ``level_<strategy>_se`` in attrs."""
    cfg = dt.pick_size(SIZES, size)
    ds = analyse(dt.train(sweep(cfg), key=key, store=store).metrics, cfg)
    return cfg.stamp(ds, sim="markov_icl", size=size, key=key, citation=theory.CITATION)


def analyse(ds: xr.Dataset, cfg: Config) -> xr.Dataset:
    lo, hi = cfg.plateau
    here = ds.level_here.isel(step=-1, drop=True)  # the member's test set: scored once, at the end
    out = ds.assign(plateau_loss=ds.test_loss.sel(step=slice(lo, hi)).median("step"),
                    final_loss=ds.test_loss.isel(step=-1, drop=True),
                    unigram_here=here.sel(strategy="unigram", drop=True),
                    bigram_here=here.sel(strategy="bigram", drop=True))
    for name, (mean, se) in theory.strategy_losses(cfg.states, cfg.length).items():
        out.attrs[f"level_{name}"], out.attrs[f"level_{name}_se"] = mean, se
    return out


def check(ds: xr.Dataset) -> list[dt.Verdict]:
    """``unigram_plateau`` and ``bigram_level`` (relative ±TOL, each paired with the strategy's
    loss on the member's own test set), ``order`` (one-sided: the final loss below the plateau,
    each member's plateau below ``log k``)."""
    a = ds.attrs
    out = []
    v = dt.equivalence(ds.plateau_loss / ds.unigram_here, 1.0, tol=TOL, name="unigram_plateau")
    out.append(dataclasses.replace(v, label="rel.err vs unigram on the same set", detail=(
        f"{v.detail}; plateau {np.round(ds.plateau_loss.values, 4).tolist()} vs unigram on the same sets "
        f"{np.round(ds.unigram_here.values, 4).tolist()} (exact {a['level_unigram']:.4f} +- "
        f"{a['level_unigram_se']:.4f}), uniform {a['level_uniform']:.4f}")))
    v = dt.equivalence(ds.final_loss / ds.bigram_here, 1.0, tol=TOL, name="bigram_level")
    out.append(dataclasses.replace(v, label="rel.err vs bigram on the same set", detail=(
        f"{v.detail}; final {np.round(ds.final_loss.values, 4).tolist()} vs bigram on the same sets "
        f"{np.round(ds.bigram_here.values, 4).tolist()} (exact {a['level_bigram']:.4f} +- "
        f"{a['level_bigram_se']:.4f})")))
    v = dt.equivalence(ds.final_loss - ds.plateau_loss, 0.0, side="below", name="order")
    out.append(dataclasses.replace(v, label="final - plateau", detail=(
        f"{v.detail}; plateau below uniform in {int((ds.plateau_loss < a['level_uniform']).sum())}/"
        f"{ds.sizes['seed']} seeds")))
    return dt.mark_known(out, KNOWN, size=ds.attrs["size"])


if __name__ == "__main__":  # the same as `dyntheory run markov_icl [--size paper]`
    import sys

    from dyntheory import cli

    raise SystemExit(cli.main(["run", "markov_icl", *sys.argv[1:]]))
