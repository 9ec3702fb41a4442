"""Power et al. (2022), Fig. 1 style, with a transformer: generalisation long after memorisation.

Three panels from ``sims/transformer_grokking.py`` (one-layer transformers on ``a b = -> (a + b)
mod p``, AdamW, weight decay as an axis): (a) train (dashed) and test (solid) accuracy against
steps, median over seeds, one colour per weight decay; (b) ``t_test`` and ``t_grok = t_test -
t_train`` per member against weight decay (log-log), censored members at the top edge, with
Omnigrok's slope -1 for reference (``theory/grokking_weight_norm.py``); (c) the Gini coefficient
of the embedding's Fourier frequency norms against steps (Nanda et al. 2023), with the verdicts.

References: A. Power et al. (2022), arXiv:2201.02177; N. Nanda et al. (2023), arXiv:2301.05217;
Z. Liu, E. J. Michaud, M. Tegmark (2023), arXiv:2210.01117.

Usage:
    python -m paper_figs.power2022_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import transformer_grokking as sim

NAME = "power2022_fig1"


def draw(ds, verdicts, path: str) -> None:
    wds = ds.weight_decay.values
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(wds)))
    step = ds.step.values
    steps = float(step[-1])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), constrained_layout=True)
    for c, w in zip(colors, wds):
        e = ds.sel(weight_decay=w)
        axes[0].plot(step[1:], e.train_acc.median("seed")[1:], color=c, ls="--", lw=1.2)
        axes[0].plot(step[1:], e.test_acc.median("seed")[1:], color=c, lw=1.8, label=f"wd={w:g}")
        axes[2].plot(step, e.gini.median("seed"), color=c, lw=1.6, label=f"wd={w:g}")
        for var, marker in (("t_test", "o"), ("t_grok", "x")):
            t = e[var].values.astype(float)
            shown = np.where(np.isfinite(t), t, steps)  # censored: at the run's end
            axes[1].scatter(np.full(t.size, w), shown, color=c, marker=marker,
                            facecolors="none" if marker == "o" else None)
    axes[0].set(xscale="log", xlabel="step", ylabel="accuracy (median over seeds)",
                title="(a) train --, test —")
    axes[0].legend(fontsize=7)
    t_ref = np.nanmedian(ds.t_grok.sel(weight_decay=wds[0]).values)
    grid = np.geomspace(wds.min(), wds.max(), 20)
    axes[1].plot(grid, t_ref * (grid / wds[0]) ** ds.attrs["exponent_gamma"], "k--", lw=0.8,
                 label="Omnigrok slope -1")
    axes[1].axhline(steps, color="gray", ls=":", lw=0.8, label="end of run (censored)")
    axes[1].set(xscale="log", yscale="log", xlabel="weight decay", ylabel="steps",
                title="(b) t_test (o) and t_grok (x) per member")
    axes[1].legend(fontsize=7)
    axes[2].set(xlabel="step", ylabel="Gini of the embedding's frequency norms",
                title="(c) Fourier sparsity")
    axes[2].legend(fontsize=7, loc="upper left")
    _common.verdict_box(axes[2], verdicts)
    _common.save(fig, path)


def report(ds) -> None:
    for w in ds.weight_decay.values:
        e = ds.sel(weight_decay=w)
        print(f"wd {w:g}: t_train {np.round(e.t_train.values.astype(float), 0).tolist()}, t_test "
              f"{np.round(e.t_test.values.astype(float), 0).tolist()}, key frequencies "
              f"{e.key_freqs.values.tolist()}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report, verdicts_in_figure=True)
    return 0


if __name__ == "__main__":
    main()
