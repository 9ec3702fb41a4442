"""Du, Hu, Lee (2018): GD breaks layer balance at O(eta) per unit flow time, O(eta^2) per step.

Log-log plot of the balance drift ``||D_j(end) - D_j(0)||`` (summed in quadrature over hidden layers)
against the learning rate, for the two protocols of ``sims/conservation_law.py``: a fixed flow time
``T = eta * steps`` (predicted slope 1) and a fixed number of steps ``n`` (predicted slope 2).
Markers: mean over members with a 95% bootstrap interval; lines: the least-squares fit, its slope
and interval in the legend; dotted: the leading-order fixed-step prediction ``n eta^2 ||C(0)||``
from each member's step-0 gradient. Under gradient flow the drift is exactly zero.

Reference: S. S. Du, W. Hu, J. D. Lee (2018), "Algorithmic regularization in learning deep
homogeneous models: layers are automatically balanced", NeurIPS, arXiv:1806.00900 (Theorem 2.1
and its discrete-time counterpart).

Usage:
    python -m paper_figs.du2018_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import conservation_law as sim

NAME = "du2018_fig1"
STYLE = {"fixed_time": ("o", "tab:blue", "fixed flow time T"), "fixed_steps": ("s", "tab:red", "fixed steps n")}


def _total(drift):
    return np.sqrt((drift**2).sum("hidden"))


def draw(ds, path: str) -> dict:
    fits = {}
    fig, axes = plt.subplots(1, ds.sizes["model"], figsize=(5.2 * ds.sizes["model"], 4.4), squeeze=False,
                             constrained_layout=True)
    for ax, kind in zip(axes[0], ds.model.values):
        a = ds.sel(model=kind)
        for protocol, (marker, color, label) in STYLE.items():
            sub = a.where(a.protocol == protocol, drop=True)
            eta = sub.lr.values
            y = _total(sub.drift).transpose("lr", "seed").values
            est, lo, hi = dt.bootstrap_ci(y, axis=-1)
            fit = dt.fit_slope(eta, y)
            fits[(str(kind), protocol)] = fit
            predicted = float(a[f"theory_exponent_{protocol}"])
            ax.errorbar(eta, est, yerr=[est - lo, hi - est], fmt=marker, color=color, ms=5, capsize=2)
            grid = np.geomspace(eta.min(), eta.max(), 50)
            ax.plot(grid, np.exp(fit.intercept) * grid**fit.slope, color=color, lw=1.2,
                    label=f"{label}: slope {fit.slope:.3f} [{fit.interval[0]:.3f}, {fit.interval[1]:.3f}]"
                          f" (theory {predicted:g})")
            if protocol == "fixed_steps":
                pred = _total(sub.theory_drift_fixed_steps).mean("seed").values
                ax.plot(eta, pred, ":", color=color, lw=1.5, label="$n\\,\\eta^2\\,\\|C(0)\\|$ (leading order)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate $\\eta$")
        ax.set_ylabel("balance drift $\\|D_j(\\mathrm{end}) - D_j(0)\\|_F$")
        what = "whole matrix" if kind == "linear" else "diagonal (ReLU)"
        ax.set_title(f"{kind} net, depth 3: {what}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Layer balance $W_j^T W_j - W_{j+1} W_{j+1}^T$ under GD (Du, Hu & Lee 2018)", fontsize=11)
    _common.save(fig, path)
    return fits


def report(ds, fits) -> None:
    for (kind, protocol), fit in fits.items():
        predicted = float(ds[f"theory_exponent_{protocol}"].sel(model=kind))
        print(f"{kind} {protocol}: fitted slope {fit.slope:.4f} [{fit.interval[0]:.4f}, {fit.interval[1]:.4f}] "
              f"vs predicted {predicted:g} (n={fit.n_members} members)")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
