"""Barak et al. (2022), Fig. 1: sparse parities are learned abruptly after a plateau ~ n^{O(k)}.

Three panels from ``sims/sparse_parity.py``: (a) test accuracy against steps for every ``n``
(median over seeds, a few seeds faint): a long plateau at chance, then an abrupt rise;
(b) the hidden progress: the fraction of first-layer weight mass on the relevant inputs
(normalised by its isotropic value ``k/n``) against steps, with each curve's median
``t_leave`` (test accuracy first above 0.55) marked: the mass is already growing there;
(c) transition time against ``n`` on log-log axes, medians with 95% bootstrap intervals, the
fitted power law per ``k`` (solid; fitted to the seed means) and reference slopes ``k - 1``
(Fourier-gap drift versus noise, ``theory/sparse_parity.py``) and ``k`` (the search count
``binom(n, k)``), drawn through the first median for comparison only.

Reference: B. Barak, B. L. Edelman, S. Goel, S. Kakade, E. Malach, C. Zhang (2022),
arXiv:2207.08799 (Fig. 1: training curves and convergence time against n).

Usage:
    python -m paper_figs.barak2022_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import sparse_parity as sim

NAME = "barak2022_fig1"
N_SHOWN = 3  # faint single-seed curves per n


def draw(ds, path: str) -> None:
    ks, ns = ds.k.values, ds.n_bits.values
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(ns)))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.0), constrained_layout=True)
    k0 = int(ks[-1])
    d = ds.sel(k=k0)
    step = d.step.values
    for c, n in zip(colors, ns):
        e = d.sel(n_bits=n)
        growth = e.relevant_mass / e.mass0 - 1  # each member against its own initial mass
        for s in range(min(N_SHOWN, e.sizes["seed"])):
            axes[0].plot(step, e.test_acc.isel(seed=s), color=c, lw=0.6, alpha=0.35)
            axes[1].plot(step, growth.isel(seed=s), color=c, lw=0.6, alpha=0.35)
        axes[0].plot(step, e.test_acc.median("seed"), color=c, lw=1.8, label=f"n={n}")
        axes[1].plot(step, growth.median("seed"), color=c, lw=1.8, label=f"n={n}")
        t_leave = float(e.t_leave.median())
        if np.isfinite(t_leave):
            axes[1].plot([t_leave], [float(np.interp(t_leave, step, growth.median("seed")))], "o",
                         color=c, ms=5, mec="k")
    axes[0].axhline(0.5, color="grey", lw=0.6, ls=":")
    axes[0].set(xlabel="step", ylabel="test accuracy", xscale="log",
                title=f"(a) k={k0}: plateau at chance, then abrupt")
    axes[1].set_yscale("symlog", linthresh=1e-3)
    axes[1].axhline(0.0, color="grey", lw=0.6, ls=":")
    axes[1].set(xlabel="step", ylabel="relevant weight mass / its initial value - 1",
                xscale="log", title="(b) hidden progress (dots: test acc leaves chance)")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)

    ax = axes[2]
    markers = "os^D"
    for i, k in enumerate(ks):
        d = ds.sel(k=k)
        s = dt.summarize_transitions(d[["t_cross", "censored"]], n_boot=2000)
        med, lo, hi = s.t_median.values, s.t_median_lo.values, s.t_median_hi.values
        ok = np.isfinite(med)
        hi_bar = np.where(np.isfinite(hi), hi, med)
        line = ax.errorbar(ns[ok], med[ok], yerr=[med[ok] - lo[ok], hi_bar[ok] - med[ok]],
                           fmt=markers[i % len(markers)], capsize=3,
                           label=f"k={k}: fit {float(d.exponent_fit):.2f} "
                                 f"[{float(d.exponent_fit_lo):.2f}, {float(d.exponent_fit_hi):.2f}]")
        color = line[0].get_color()
        grid = np.geomspace(ns.min(), ns.max(), 20)
        n0, t0 = ns[ok][0], med[ok][0]
        ax.plot(grid, np.exp(float(d.exponent_fit_intercept)) * grid ** float(d.exponent_fit),
                color=color, lw=1)
        for slope, ls in ((int(k) - 1, "--"), (int(k), ":")):
            ax.plot(grid, t0 * (grid / n0) ** slope, color=color, lw=0.8, ls=ls, alpha=0.7,
                    label=f"k={k}: reference slope {slope} ({'k-1' if slope < k else 'k'})")
    ax.set(xscale="log", yscale="log", xlabel="n (bits)", ylabel="steps to test acc 0.9",
           title="(c) transition time vs n (width, batch fixed)")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=6)
    fig.suptitle("SGD learns (n, k)-sparse parities abruptly after a plateau growing with n "
                 "(Barak et al. 2022)", fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    for k in ds.k.values:
        d = ds.sel(k=k)
        s = dt.summarize_transitions(d[["t_cross", "censored", "width"]], n_boot=2000)
        for n in d.n_bits.values:
            e = s.sel(n_bits=n)
            print(f"k={k} n={n}: t_cross median {float(e.t_median):.4g} "
                  f"[{float(e.t_median_lo):.4g}, {float(e.t_median_hi):.4g}], 10-90% width "
                  f"median {float(e.width_median):.4g}, censored {int(e.n_censored)}/"
                  f"{int(e.n_members)}")
        print(f"k={k}: growth exponent d ln t / d ln n = {float(d.exponent_fit):.3g} "
              f"[{float(d.exponent_fit_lo):.3g}, {float(d.exponent_fit_hi):.3g}] (95% CI) vs "
              f"reference k-1 = {float(d.theory_gap_exponent):.3g} (Fourier-gap drift vs noise), "
              f"k = {int(k)} (search count); paper: n^O(k)")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
