"""Olsson et al. (2022), the phase change: the in-context loss drops as an induction head forms.

Two panels from ``sims/induction_heads.py`` (attention-only transformers on repeated random
tokens, one and two layers): (a) the loss on the repeated half of the test sequences against
steps, every seed, with the "seen tokens" plateau and the drop level of
``theory/induction_heads.py``; (b) the last layer's largest prefix-matching score on a repeated
probe against steps, with chance and the half-way level; the per-seed drop times ``t_drop`` (a)
and head times ``t_head`` (b) are marked, and the verdicts printed.

Reference: C. Olsson, N. Elhage, N. Nanda, N. Joseph et al. (2022), "In-context learning and
induction heads", arXiv:2209.11895.

Usage:
    python -m paper_figs.olsson2022_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import induction_heads as sim

NAME = "olsson2022_fig1"
COLORS = {1: "tab:orange", 2: "tab:blue"}


def draw(ds, verdicts, path: str) -> None:
    a = ds.attrs
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    step = ds.step.values
    for layers in ds.layers.values:
        e = ds.sel(layers=layers)
        for s in range(e.sizes["seed"]):
            m = e.isel(seed=s)
            label = f"{layers} layer{'s' if layers > 1 else ''}" if s == 0 else None
            axes[0].plot(step, m.icl_loss, color=COLORS.get(int(layers), "k"), lw=1, alpha=0.8, label=label)
            axes[1].plot(step, m.prefix_last, color=COLORS.get(int(layers), "k"), lw=1, alpha=0.8, label=label)
            if np.isfinite(m.t_drop):
                axes[0].axvline(float(m.t_drop), color=COLORS.get(int(layers), "k"), ls=":", lw=0.7)
            if np.isfinite(m.t_head):
                axes[1].axvline(float(m.t_head), color=COLORS.get(int(layers), "k"), ls=":", lw=0.7)
    axes[0].axhline(a["seen_level"], color="k", ls="--", lw=0.8, label="seen-tokens level")
    axes[0].axhline(a["drop_level"], color="gray", ls=":", lw=0.8, label="drop level")
    axes[0].set(xlabel="step", ylabel="loss on the repeated half", title="(a) in-context loss")
    axes[0].legend(fontsize=7)
    axes[1].axhline(a["chance_score"], color="k", ls="--", lw=0.8, label="chance")
    axes[1].axhline(a["head_level"], color="gray", ls=":", lw=0.8, label="half-way")
    axes[1].set(xlabel="step", ylabel="largest prefix-matching score, last layer",
                title="(b) the induction head")
    axes[1].legend(fontsize=7, loc="center right")
    _common.verdict_box(axes[1], verdicts)
    _common.save(fig, path)


def report(ds) -> None:
    two = ds.sel(layers=2)
    print(f"two layers: t_drop {np.round(two.t_drop.values, 0).tolist()}, t_head "
          f"{np.round(two.t_head.values, 0).tolist()}; one layer final in-context loss "
          f"{np.round(ds.sel(layers=1).final_icl.values.astype(float), 3).tolist()}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report, verdicts_in_figure=True)
    return 0


if __name__ == "__main__":
    main()
