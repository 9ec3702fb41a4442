"""Edelman et al. (2024), Fig. 1 style: the loss pauses at the unigram level, then falls toward bigram.

Two panels from ``sims/markov_icl.py`` (two-layer attention-only transformers on in-context Markov
chains, each sequence its own Dirichlet transition matrix): (a) the test loss against training
steps, every seed and their median, with the exact expected losses of the uniform, unigram and
bigram in-context strategies (``theory/markov_icl.py``, averaged over the same positions) as
lines inside their 95% bands (Monte Carlo over 20,000 chains), and the window whose median is the
plateau level shaded; (b) the same strategies' exact expected loss by position, which the
averages of (a) summarise. The verdicts (plateau at unigram, final at bigram, their order) are
printed in (a) and below the figure's path.

Reference: B. L. Edelman, E. Edelman, S. Goel, E. Malach, N. Tsilivis (2024), "The evolution of
statistical induction heads: in-context learning Markov chains", arXiv:2402.11004.

Usage:
    python -m paper_figs.edelman2024_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import markov_icl as sim
from theory import markov_icl as theory

NAME = "edelman2024_fig1"
LEVELS = {"uniform": "tab:gray", "unigram": "tab:orange", "bigram": "tab:green"}
Z = 1.96  # the levels' 95% bands


def draw(ds, verdicts, path: str) -> None:
    a, cfg = ds.attrs, sim.Config.from_attrs(ds)
    step = ds.step.values
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    ax = axes[0]
    for s in range(ds.sizes["seed"]):
        ax.plot(step, ds.test_loss.isel(seed=s), color="tab:blue", lw=0.8, alpha=0.45,
                label="each seed" if s == 0 else None)
    ax.plot(step, ds.test_loss.median("seed"), color="tab:blue", lw=2.0, label="median over seeds")
    for name, color in LEVELS.items():
        mean, se = a[f"level_{name}"], a[f"level_{name}_se"]
        ax.axhspan(mean - Z * se, mean + Z * se, color=color, alpha=0.25, lw=0)
        ax.axhline(mean, color=color, ls="--", lw=1.0, label=f"{name} (exact) {mean:.4f} ± {Z * se:.4f}")
    ax.axvspan(*cfg.plateau, color="k", alpha=0.06, lw=0, label="plateau window")
    top = a["level_uniform"]
    ax.set(xlabel="step (log scale past the first record)", ylabel="test loss (nats, mean over positions)",
           ylim=(a["level_bigram"] - 0.08 * top, 1.05 * top),
           title=f"(a) training: {cfg.states} states, {cfg.length} positions")
    ax.set_xscale("symlog", linthresh=cfg.record)  # the plateau is early: steps on a log scale past one record
    ax.set_xlim(0, step[-1])
    ax.legend(fontsize=7, loc="upper right")
    _common.verdict_box(ax, verdicts)
    ax = axes[1]
    pos = np.arange(cfg.length)
    for name, (mean, se) in theory.expected_losses(cfg.states, cfg.length).items():
        ax.fill_between(pos, mean - Z * se, mean + Z * se, color=LEVELS[name], alpha=0.3, lw=0)
        ax.plot(pos, mean, color=LEVELS[name], lw=1.6, label=name)
    ax.set(xlabel="position t (predicting x_{t+1})", ylabel="exact expected loss",
           title="(b) the strategies by position")
    ax.legend(fontsize=8)
    _common.save(fig, path)


def report(ds) -> None:
    a = ds.attrs
    levels = ", ".join(f"{n} {a[f'level_{n}']:.4f} [{a[f'level_{n}'] - Z * a[f'level_{n}_se']:.4f}, "
                       f"{a[f'level_{n}'] + Z * a[f'level_{n}_se']:.4f}]" for n in LEVELS)
    print(f"exact levels (95% bands): {levels}")
    print(f"plateau loss per seed {np.round(ds.plateau_loss.values.astype(float), 4).tolist()}; final loss "
          f"per seed {np.round(ds.final_loss.values.astype(float), 4).tolist()}")
    print(f"on each seed's own test set (the verdicts' levels): unigram "
          f"{np.round(ds.unigram_here.values.astype(float), 4).tolist()}, bigram "
          f"{np.round(ds.bigram_here.values.astype(float), 4).tolist()}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report, verdicts_in_figure=True)
    return 0


if __name__ == "__main__":
    main()
