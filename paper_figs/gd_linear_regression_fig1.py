"""GD on linear regression: loss per eigenmode vs step across learning rates straddling 2/lambda_max.

Top row: normalised per-mode loss ``L_i(t) / L_i(0) = (1 - eta lambda_i)^(2t)`` for a few learning
rates (simulated members as markers, GD theory as lines, gradient flow dashed). Bottom: the
per-step contraction factor ``|1 - eta lambda_i|`` of every mode against eta (theory lines, measured
``|e_i(1) / e_i(0)|`` as markers), with the oscillation thresholds ``1/lambda_i`` (dotted) and the
stability threshold ``2/lambda_max`` (solid); members the engine flagged as diverged are crossed.

Pairs with ``sims/linear_regression_gd.py`` and ``theory/linear_regression_gd.py``; textbook
result (LeCun, Kanter, Solla 1991; Advani & Saxe 2017, arXiv:1710.03667).

Usage:
    python -m paper_figs.gd_linear_regression_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import linear_regression_gd as sim

NAME = "gd_linear_regression_fig1"


def _panel_lrs(lrs: np.ndarray, lam_max: float, k: int = 4) -> list[float]:
    """A few learning rates that show every regime: slow, fast, oscillating, divergent."""
    targets = np.array([0.1, 0.9, 1.9, 2.5]) / lam_max
    picks = [float(lrs[np.argmin(np.abs(np.log(lrs / t)))]) for t in targets[:k]]
    return list(dict.fromkeys(picks))


def draw(ds, path: str) -> None:
    lam = ds.lam.values
    lam_max = float(lam.max())
    lrs = ds.lr.values
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(lam)))
    panel_lrs = _panel_lrs(lrs, lam_max)
    fig = plt.figure(figsize=(3.2 * len(panel_lrs), 7.0), constrained_layout=True)
    grid = fig.add_gridspec(2, len(panel_lrs), height_ratios=[1.0, 1.1])
    ratio = (ds.err / ds.err.sel(step=0)) ** 2
    alive = (ds.diverged_at < 0) | (ds.step < ds.diverged_at)
    # Where a growing mode dominates, whitening exact only to ~1e-17 leaks it into the others:
    # the check leaves those points out; here they are drawn hollow.
    pred = np.abs(ds.theory_error / ds.theory_error.sel(step=0)).isel(seed=0, drop=True)
    resolved = pred > sim.MIN_RATIO * np.maximum(1.0, pred.max("mode"))
    ratio = ratio.where(ratio < 1e15)
    for c, eta in enumerate(panel_lrs):
        ax = fig.add_subplot(grid[0, c])
        a = ds.sel(lr=eta)
        t = a.step.values
        for i, li in enumerate(lam):
            sim_r = ratio.sel(lr=eta, mode=i).where(alive.sel(lr=eta))
            th = (a.theory_loss.isel(seed=0, mode=i) / a.theory_loss.isel(seed=0, mode=i, step=0)).values
            flow = (a.theory_error_flow.isel(seed=0, mode=i) / a.err.isel(seed=0, mode=i, step=0)).values ** 2
            th = np.where(th < 1e15, th, np.nan)
            ax.plot(t[1:], th[1:], color=colors[i], lw=1.2, label=f"$\\lambda$={li:g}")
            ax.plot(t[1:], flow[1:], color=colors[i], lw=0.8, ls="--")
            ok = resolved.sel(lr=eta, mode=i).values[1:]
            y = sim_r.isel(seed=0).values[1:]
            ax.plot(t[1:][ok], y[ok], "o", color=colors[i], ms=2.5, alpha=0.8)
            ax.plot(t[1:][~ok], y[~ok], "o", mfc="none", color=colors[i], ms=3, alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1e12)
        regime = "diverges" if eta * lam_max > 2 else ("oscillates" if eta * lam_max > 1 else "monotone")
        ax.set_title(f"$\\eta\\lambda_{{max}}$ = {eta * lam_max:g} ({regime})", fontsize=9)
        ax.set_xlabel("step")
        if c == 0:
            ax.set_ylabel("$L_i(t)/L_i(0)$ per eigenmode")
            ax.plot([], [], "o", mfc="none", color="0.4", ms=3, label="sim, float64 leakage")
            ax.legend(fontsize=7, loc="lower left", title="GD (lines), flow (dashed),\nsim (dots)",
                      title_fontsize=6)
    ax = fig.add_subplot(grid[1, :])
    eta_grid = np.geomspace(lrs.min() * 0.8, lrs.max() * 1.2, 400)
    for i, li in enumerate(lam):
        ax.plot(eta_grid * lam_max, np.abs(1 - eta_grid * li), color=colors[i], lw=1.2,
                label=f"$|1-\\eta\\lambda_{i}|$, $\\lambda_{i}$={li:g}")
        measured = np.abs(ds.err.sel(step=1, mode=i) / ds.err.sel(step=0, mode=i))
        for eta in lrs:
            ax.plot(eta * lam_max, float(measured.sel(lr=eta).median()), "o", color=colors[i], ms=4)
        ax.axvline(lam_max / li, color=colors[i], ls=":", lw=1)
    ax.axvline(2.0, color="k", lw=1.5, label="$\\eta = 2/\\lambda_{max}$ (stability)")
    ax.axhline(1.0, color="0.5", lw=0.8)
    div = (ds.diverged_at >= 0).mean("seed")
    for eta in lrs:
        if float(div.sel(lr=eta)) > 0:
            ax.plot(eta * lam_max, 1.0, "x", color="crimson", ms=10, mew=2)
    ax.plot([], [], "x", color="crimson", ms=8, mew=2, label="engine: diverged")
    ax.plot([], [], "k:", lw=1, label="$\\eta = 1/\\lambda_i$ (oscillation)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$\\eta \\lambda_{max}$")
    ax.set_ylabel("contraction per step")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    fig.suptitle("Gradient descent on whitened linear regression: each eigenmode decays as "
                 "$(1-\\eta\\lambda_i)^t$", fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    lam_max = float(ds.lam.max())
    print(f"thresholds: 2/lambda_max = {float(ds.eta_stable):g}; 1/lambda_i = "
          f"{np.round(ds.eta_oscillate.values, 4).tolist()}")
    for eta in ds.lr.values:
        div = int((ds.diverged_at.sel(lr=eta) >= 0).sum())
        pred = "diverge" if not bool(ds.stable_pred.sel(lr=eta)) else "converge"
        print(f"  eta*lambda_max={eta * lam_max:5.3g}: predicted {pred:8s} measured diverged "
              f"{div}/{ds.sizes['seed']}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
