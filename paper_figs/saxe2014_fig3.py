"""Saxe, McClelland, Ganguli (2014), Fig. 3: mode strengths learned one sigmoid at a time, by depth.

One panel per arm (depth, initialisation) of ``sims/saxe_deep_linear.py``: simulated mode strengths
``u_i(t) = a_i^T A(t) b_i`` for a few members (solid) against theory (dashed). At depth 2 the theory
curve is the closed form started from the member's own effective initial strength ``u0_eff``: no
fitted parameter. At depth >= 3 there is no closed form from a random start, so the RK4 trajectory
of ``theory/saxe_deep_linear.py`` is anchored at the member's 10% crossing: it tests the shape.
The last panel compares the 10%-to-90% rise time per mode with the quadrature
``depth_time_to_learn`` for every depth (lines: theory as a function of s; markers: median over
members with a 95% bootstrap interval).

Reference: A. M. Saxe, J. L. McClelland, S. Ganguli (2014), arXiv:1312.6120 (Fig. 3: simulated vs
analytical mode strengths of a deep linear network).

Usage:
    python -m paper_figs.saxe2014_fig3 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import saxe_deep_linear as sim
from theory import saxe_deep_linear as saxe

NAME = "saxe2014_fig3"
N_SHOWN = 3  # members drawn per panel


def _ci(x):
    est, lo, hi = dt.bootstrap_ci(np.asarray(x, float), axis=-1, stat=np.median, nan_policy="omit")
    return float(est), float(lo), float(hi)


def draw(ds, path: str) -> None:
    arms = list(ds.arm.values)
    s = ds.s.values
    colors = plt.cm.plasma(np.linspace(0.0, 0.75, len(s)))
    fig, axes = plt.subplots(1, len(arms) + 1, figsize=(3.6 * (len(arms) + 1), 3.8), constrained_layout=True)
    for ax, arm in zip(axes, arms):
        a = ds.sel(arm=arm)
        keep = a.u.notnull().any(("seed", "mode")).values
        t = a.step.values[keep]
        deep = int(a.depth) > 2
        theory = a.theory_u_anchored if deep else a.theory_u
        for i in range(len(s)):
            for k in range(min(N_SHOWN, a.sizes["seed"])):
                ax.plot(t, a.u.isel(seed=k, mode=i).values[keep], color=colors[i], lw=1.2, alpha=0.75,
                        label=f"s={s[i]:g}" if k == 0 else None)
                ax.plot(t, theory.isel(seed=k, mode=i).values[keep], color="k", lw=0.8, ls="--",
                        label=("theory" + (" (anchored at 10%)" if deep else " (u0_eff)"))
                        if (k == 0 and i == 0) else None)
        ax.set_title(f"depth {int(a.depth)}, {str(a.init.values)} init, $\\eta$={float(a.lr):g}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(-0.1, s.max() * 1.08)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("mode strength $a_i^T A\\, b_i$")
    ax = axes[-1]
    s_grid = np.linspace(0.8 * s.min(), 1.1 * s.max(), 100)
    markers = "osD^v"
    lines = {}
    for j, arm in enumerate(arms):
        a = ds.sel(arm=arm)
        depth, eta = int(a.depth), float(a.lr)
        if depth not in lines:  # in units of eta * steps the curve depends on depth only
            curve = np.asarray(saxe.depth_time_to_learn(sim.RISE[0] * s_grid, sim.RISE[1] * s_grid, s=s_grid,
                                                        depth=float(depth), eta=eta))
            lines[depth], = ax.plot(s_grid, curve * eta, lw=1, label=f"theory D={depth}")
        line = lines[depth]
        rise = (a.t_rise_hi - a.t_rise_lo).transpose("mode", "seed").values
        for i in range(len(s)):
            est, lo, hi = _ci(rise[i])
            ax.errorbar(s[i] * (1 + 0.02 * (j - len(arms) / 2)), est * eta, yerr=[[est * eta - lo * eta],
                        [hi * eta - est * eta]], fmt=markers[j % len(markers)], color=line.get_color(),
                        ms=4, capsize=2, label=f"sim {arm}" if i == 0 else None)
    ax.set_xlabel("singular value s")
    ax.set_ylabel("rise time 10%$\\to$90%  ($\\eta \\times$ steps)")
    ax.set_yscale("log")
    ax.set_title("time to learn vs s (quadrature)", fontsize=9)
    ax.legend(fontsize=6)
    fig.suptitle("Deep linear networks learn teacher modes in order of singular value "
                 "(Saxe et al. 2014)", fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    s = ds.s.values
    for arm in ds.arm.values:
        a = ds.sel(arm=arm)
        rise = (a.t_rise_hi - a.t_rise_lo).transpose("mode", "seed").values
        for i in range(len(s)):
            est, lo, hi = _ci(rise[i])
            line = (f"{arm} mode {i} (s={s[i]:g}): rise 10->90% {est:.1f} [{lo:.1f}, {hi:.1f}] steps "
                    f"vs theory {float(a.theory_rise[i]):.1f}")
            if int(a.depth) == 2:
                est, lo, hi = _ci(a.t_half.isel(mode=i).values)
                th = _ci(a.theory_t_half.isel(mode=i).values)[0]
                line += f"; t_half {est:.1f} [{lo:.1f}, {hi:.1f}] vs theory (median over u0_eff) {th:.1f}"
            print(line)


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
