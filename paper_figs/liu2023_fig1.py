"""Omnigrok (Liu, Michaud, Tegmark 2023), Fig. 1 style: grokking, its weight-decay clock, phases.

Four panels from ``sims/grokking_weight_norm.py`` (modular addition, embedding MLP, AdamW):
(a) train (dashed) and test (solid) accuracy against steps at the reference init scale, one
colour per weight decay: train saturates long before test jumps; (b) grokking time
``t_test - t_train`` (and ``t_test``) against weight decay on log-log axes, medians with 95%
bootstrap intervals, the fitted exponent with its interval against Omnigrok's ``-1``
(``theory/grokking_weight_norm.py``) and, dotted, the free-decay clock ``ln(w0/w_c)/(eta gamma)``
at the measured norms; (c) the phase map over (weight decay x init scale) from
``dt.grokking_rules``: majority phase and its fraction of seeds; (d) Nanda et al.'s progress
measures for one member (restricted loss, excluded loss on the training pairs, gini of the
embedding's frequency norms, each rescaled to [0, 1]) against test accuracy.

Reference: Z. Liu, E. J. Michaud, M. Tegmark (2023), "Omnigrok: Grokking Beyond Algorithmic
Data", arXiv:2210.01117; progress measures: N. Nanda et al. (2023), arXiv:2301.05217.

Usage:
    python -m paper_figs.liu2023_fig1 --size small --out figures/
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import grokking_weight_norm as sim

NAME = "liu2023_fig1"
PHASE_COLORS = {"comprehension": "tab:green", "grokking": "tab:blue", "memorization": "tab:orange",
                "confusion": "tab:red"}


def _median_ci(x):
    x = np.asarray(x, float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    est, lo, hi = dt.bootstrap_ci(x, axis=0, stat=np.median, n_boot=2000)
    return float(est), float(lo), float(hi)


def _reference(ds):
    cfg = json.loads(ds.attrs["sim_config"])
    return cfg, ds.sel(init_scale=cfg["reference_init"])


def draw(ds, path: str) -> None:
    cfg, ref = _reference(ds)
    wds = ref.weight_decay.values
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(wds)))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), constrained_layout=True)

    ax = axes[0]
    step = ref.step.values
    for c, w in zip(colors, wds):
        e = ref.sel(weight_decay=w)
        ax.plot(step[1:], e.train_acc.median("seed")[1:], color=c, ls="--", lw=1.2)
        ax.plot(step[1:], e.test_acc.median("seed")[1:], color=c, lw=1.8, label=f"wd={w:g}")
    ax.set(xscale="log", xlabel="step", ylabel="accuracy (median over seeds)",
           title=f"(a) p={cfg['p']}, init {cfg['reference_init']:g}: train -- , test —")
    ax.legend(fontsize=7)

    ax = axes[1]
    for var, marker, label in (("t_grok", "o", "t_test - t_train"), ("t_test", "s", "t_test")):
        stats = np.array([_median_ci(ref[var].sel(weight_decay=w).values) for w in wds])
        ax.errorbar(wds, stats[:, 0], yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]],
                    fmt=marker, capsize=3, label=label)
    fit = dt.fit_slope(wds, ref.t_grok.transpose("weight_decay", "seed").values, n_boot=2000)
    grid = np.geomspace(wds.min(), wds.max(), 20)
    ax.plot(grid, np.exp(fit.intercept) * grid ** fit.slope, "k-", lw=1,
            label=f"fit slope {fit.slope:.2f} [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}]")
    t0 = float(np.nanmedian(ref.t_grok.sel(weight_decay=wds[0])))
    ax.plot(grid, t0 * (grid / wds[0]) ** -1.0, "k--", lw=0.8, label="Omnigrok slope -1")
    clock = np.array([_median_ci(ref.theory_t_grok.sel(weight_decay=w).values)[0] for w in wds])
    ax.plot(wds, clock, "k:", marker="x", lw=0.8, label="ln(w0/w_c)/(eta gamma)")
    ax.set(xscale="log", yscale="log", xlabel="weight decay gamma", ylabel="steps",
           title="(b) grokking time vs weight decay")
    ax.set_xticks(wds, [f"{w:g}" for w in wds])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=6)

    ax = axes[2]
    inits = ds.init_scale.values
    for i, w in enumerate(ds.weight_decay.values):
        for j, s in enumerate(inits):
            maj = str(ds.phase_majority.sel(weight_decay=w, init_scale=s).item())
            frac = float(ds.phase_fraction.sel(weight_decay=w, init_scale=s, phase=maj))
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, color=PHASE_COLORS.get(maj, "grey"),
                                       alpha=0.25 + 0.6 * frac))
            ax.text(i, j, f"{maj}\n{frac:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlim(-0.5, len(ds.weight_decay) - 0.5)
    ax.set_ylim(-0.5, len(inits) - 0.5)
    ax.set_xticks(range(len(ds.weight_decay)), [f"{w:g}" for w in ds.weight_decay.values])
    ax.set_yticks(range(len(inits)), [f"{s:g}" for s in inits])
    ax.set(xlabel="weight decay", ylabel="init scale",
           title="(c) phases (dt.grokking_rules): majority, fraction")

    ax = axes[3]
    e = ref.sel(weight_decay=wds[len(wds) // 2]).isel(seed=0)
    t_train = float(e.t_train)
    keep = step >= t_train
    for var, c in (("restricted_loss", "tab:green"), ("excluded_loss", "tab:red"),
                   ("gini", "tab:purple")):
        v = e[var].values[keep]
        ax.plot(step[keep], (v - v.min()) / (v.max() - v.min() + 1e-12), color=c, label=var)
    ax.plot(step[keep], e.test_acc.values[keep], "k-", lw=2, label="test acc")
    ax.plot(step[keep], e.train_acc.values[keep], "k--", lw=1, label="train acc")
    if np.isfinite(float(e.t_test)):
        ax.set_xlim(0, 2.5 * float(e.t_test))
    ax.set(xlabel="step", ylabel="rescaled to [0, 1]",
           title=f"(d) progress measures, wd={float(e.weight_decay):g} seed 0")
    ax.legend(fontsize=7)
    fig.suptitle("Grokking on modular addition: train first, test later; delay ~ 1/weight decay "
                 "(Omnigrok, Liu et al. 2023)", fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    cfg, ref = _reference(ds)
    for w in ref.weight_decay.values:
        e = ref.sel(weight_decay=w)
        tr, te, tg = (_median_ci(e[v].values) for v in ("t_train", "t_test", "t_grok"))
        clock = _median_ci(e.theory_t_grok.values)
        print(f"init {cfg['reference_init']:g}, wd {w:g}: t_train {tr[0]:.4g} [{tr[1]:.4g}, "
              f"{tr[2]:.4g}], t_test {te[0]:.4g} [{te[1]:.4g}, {te[2]:.4g}] (censored "
              f"{int(e.censored_test.sum())}/{e.sizes['seed']}), t_grok {tg[0]:.4g} "
              f"[{tg[1]:.4g}, {tg[2]:.4g}] vs free-decay clock ln(w0/w_c)/(eta gamma) "
              f"{clock[0]:.4g}")
    fit = dt.fit_slope(ref.weight_decay.values, ref.t_grok.transpose("weight_decay", "seed").values)
    print(f"exponent d ln t_grok / d ln gamma = {fit.slope:.3g} [{fit.interval[0]:.3g}, "
          f"{fit.interval[1]:.3g}] (95% CI) vs Omnigrok -1")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
