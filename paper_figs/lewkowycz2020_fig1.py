"""Catapult phases: the uv model's phase diagram in eta*lambda_0 x width, its final kernel vs 2/eta,
and a wide two-layer ReLU network's phases and largest stable learning rate.

Top row (uv model, ``DeepLinear(depth=2, ntk)`` on one point): (a) every member at its own
``eta lambda_0`` and width, coloured by the simulated phase (lazy / catapult / divergent = the
engine's ``diverged_at`` flag), with the derived boundaries 2 and 4; (b) the final kernel
``lambda_T`` against ``eta`` with ``2 / eta`` (catapult runs end under it) and the initial
``lambda_0``; (c) loss trajectories at the largest width, simulated (lines) and the exact map
iterated from ``(f_0, lambda_0)`` (dots). Bottom row (ReLU net, ``lambda_0`` = top eigenvalue of
``J J^T / n_train``, the curvature of the engine's ``0.5 * mean`` loss): (d) ``lambda_T /
lambda_0`` against ``c = eta lambda_0`` with ``2 / c``, members coloured by phase; (e) loss
trajectories for a few ``c``; (f) per seed, the largest stable ``c`` (grid bracket) against 2,
the uv model's 4 and the ~12 reported in the paper.

Pairs with ``sims/catapult_uv.py`` and ``theory/catapult_uv.py``; reproduces the content of Fig. 1
(phases, final curvature vs 2/eta) of A. Lewkowycz, Y. Bahri, E. Dyer, J. Sohl-Dickstein,
G. Gur-Ari (2020), "The large learning rate phase of deep learning: the catapult mechanism",
arXiv:2003.02218.

Usage:
    python -m paper_figs.lewkowycz2020_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

import dyntheory as dt
from paper_figs import _common
from sims import catapult_uv as sim

NAME = "lewkowycz2020_fig1"
COLORS = {sim.LAZY: "tab:blue", sim.CATAPULT: "tab:orange", sim.DIVERGENT: "tab:red",
          sim.UNSETTLED: "0.5"}


def _phase_legend(ax) -> None:
    for p, c in COLORS.items():
        ax.plot([], [], "o", color=c, ms=5, label=sim.PHASES[p])


def _boundaries(ax, *, with_12: bool = False) -> None:
    ax.axvline(2.0, color="k", lw=1.2, ls="--")
    ax.axvline(4.0, color="k", lw=1.2, ls=":")
    if with_12:
        ax.axvline(12.0, color="tab:purple", lw=1.2, ls="-.")


def draw(ds, path: str) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6), constrained_layout=True)
    rng = np.random.default_rng(0)
    widths = ds.width.values
    # (a) phase diagram over eta*lambda_0 x width
    ax = axes[0, 0]
    for w in widths:
        x = ds.uv_eta_lam0.sel(width=w).values.ravel()
        p = ds.uv_phase.sel(width=w).values.ravel()
        y = w * np.exp(rng.uniform(-0.12, 0.12, x.size))
        ax.scatter(x, y, c=[COLORS[int(q)] for q in p], s=9, lw=0)
    _boundaries(ax)
    _phase_legend(ax)
    ax.set_yscale("log")
    ax.set_xlabel("$\\eta\\lambda_0$ (member's own)")
    ax.set_ylabel("width n")
    ax.set_title("(a) uv model phases; boundaries 2 (--) and 4 (:)", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    # (b) final lambda vs eta with 2/eta
    ax = axes[0, 1]
    lamT = ds.uv_lam.isel(step=-1)
    for w, mk in zip(widths, "os^vD"):
        for p in (sim.LAZY, sim.CATAPULT):
            sel = (ds.uv_phase.sel(width=w) == p)
            eta = np.broadcast_to(ds.lr.values[:, None], sel.shape)[sel.values]
            ax.plot(eta, lamT.sel(width=w).values[sel.values], mk, color=COLORS[p], ms=3.5,
                    alpha=0.6, mfc="none" if w != widths[-1] else COLORS[p])
        ax.plot([], [], mk, color="0.3", ms=4, mfc="none", label=f"n={w}")
    eta_grid = np.linspace(ds.lr.values.min(), ds.lr.values.max(), 300)
    ax.plot(eta_grid, 2.0 / eta_grid, "k-", lw=1.2, label="$2/\\eta$")
    ax.axhline(float(ds.uv_lam0.mean()), color="0.5", ls="--", lw=1, label="$\\lambda_0$ (mean)")
    ax.set_ylim(0, 1.6 * float(ds.uv_lam0.max()))
    ax.set_xlabel("$\\eta$")
    ax.set_ylabel("final $\\lambda_T$")
    ax.set_title("(b) final kernel: catapult runs end below $2/\\eta$", fontsize=10)
    ax.legend(fontsize=7)
    # (c) loss trajectories at the largest width, sim vs iterated map
    ax = axes[0, 2]
    w = widths[-1]
    picks = [x for x in (1.0, 2.7, 3.5, 5.0)]
    lr_vals = ds.lr.values
    for x in picks:
        lr = lr_vals[np.argmin(np.abs(2 * lr_vals - x))]
        a = ds.sel(width=w, lr=lr).isel(seed=0)
        c = COLORS[int(a.uv_phase)]
        t = a.step.values
        ax.plot(t, a.uv_loss, color=c, lw=1.3, label=f"$\\eta\\lambda_0$={float(a.uv_eta_lam0):.2f}")
        ax.plot(t[::3], 0.5 * a.uv_theory_f.values[::3] ** 2, ".", color=c, ms=3)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, float(ds.step.max()))
    ax.set_yscale("log")
    ax.set_ylim(1e-30, 1e8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss $f^2/2$")
    ax.set_title(f"(c) n={w}: engine (lines) vs exact map (dots)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    # (d) ReLU: lambda_T / lambda_0 vs c with 2/c
    ax = axes[1, 0]
    c_all = ds.relu_c.values.ravel()
    ratio = (ds.relu_lamT / ds.relu_lam0).values.ravel()
    ph = ds.relu_phase.values.ravel()
    ok = np.isfinite(ratio)
    ax.scatter(c_all[ok], ratio[ok], c=[COLORS[int(q)] for q in ph[ok]], s=12, lw=0)
    div = ph == sim.DIVERGENT
    ax.scatter(c_all[div], np.full(div.sum(), 0.03), marker="x", c=COLORS[sim.DIVERGENT], s=14)
    cg = np.geomspace(max(c_all.min(), 0.3), c_all.max(), 300)
    ax.plot(cg, np.minimum(2.0 / cg, 1.6), "k-", lw=1.2, label="$\\lambda_T = 2/\\eta$")
    _boundaries(ax, with_12=True)
    _phase_legend(ax)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.25)
    ax.set_xlabel("$c = \\eta\\lambda_0$,  $\\lambda_0 = \\lambda_{max}(JJ^T)/n_{train}$")
    ax.set_ylabel("$\\lambda_T / \\lambda_0$ (x: diverged)")
    ax.set_title("(d) ReLU net: final NTK eigenvalue", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    # (e) ReLU loss trajectories
    ax = axes[1, 1]
    s0 = ds.relu_seed.values[0]
    cs = ds.relu_c.sel(relu_seed=s0).values
    cmax = float(ds.relu_c_max_lo.sel(relu_seed=s0))
    targets = [1.0, 2.4, 0.5 * (2.4 + cmax) if cmax > 2.4 else 3.0, cmax, 1.3 * cmax]
    for target in dict.fromkeys(float(cs[np.argmin(np.abs(cs - t))]) for t in targets):
        i = int(np.argmin(np.abs(cs - target)))
        a = ds.isel(relu_lr=i).sel(relu_seed=s0)
        ax.plot(a.relu_step, a.relu_loss, color=COLORS[int(a.relu_phase)], lw=1.2,
                label=f"c={target:.2f}")
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(0, float(ds.relu_step.max()))
    ax.set_xlabel("step")
    ax.set_ylabel("train loss")
    ax.set_title(f"(e) ReLU net, seed {s0}: loss", fontsize=10)
    ax.legend(fontsize=7)
    # (f) largest stable c per seed
    ax = axes[1, 2]
    lo, hi = ds.relu_c_max_lo.values, ds.relu_c_max_hi.values
    clo, chi = ds.relu_c_crit_lo.values, ds.relu_c_crit_hi.values
    y = np.arange(lo.size)
    ax.hlines(y, lo, hi, color="tab:orange", lw=4, label="largest stable c (bracket)")
    ax.hlines(y + 0.25, clo, chi, color="tab:blue", lw=4, label="spike onset (bracket)")
    est, elo, ehi = dt.bootstrap_ci(np.sqrt(lo * hi), axis=0)
    ax.axvspan(elo, ehi, color="tab:orange", alpha=0.2, label=f"mean c_max {float(est):.2f} (95% CI)")
    _boundaries(ax, with_12=True)
    ax.plot([], [], "k--", label="2: $\\eta_{crit}\\lambda_0$")
    ax.plot([], [], "k:", label="4: uv-model $\\eta_{max}\\lambda_0$")
    ax.plot([], [], color="tab:purple", ls="-.", label="~12: paper, ReLU nets")
    ax.set_xscale("log")
    ax.set_xlim(1.0, 16.0)
    ax.set_yticks(y)
    ax.set_yticklabels([f"seed {s}" for s in ds.relu_seed.values], fontsize=7)
    ax.set_xlabel("$c = \\eta\\lambda_0$")
    ax.set_title("(f) ReLU net: critical and maximal rates", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("Catapult mechanism: lazy ($\\eta\\lambda_0<2$), catapult ($2<\\eta\\lambda_0<4$), "
                 "divergent ($>4$) in the uv model; where a wide ReLU net lands", fontsize=11)
    _common.save(fig, path)


def report(ds) -> None:
    print("uv model: simulated phase vs classify_phase (members outside the +-"
          f"{sim.BAND} bands), eta*lambda_0 boundaries {float(ds.eta_crit_lam0):g} and "
          f"{float(ds.eta_max_lam0):g}")
    x = ds.uv_eta_lam0
    for p in (sim.LAZY, sim.CATAPULT, sim.DIVERGENT):
        pred = (ds.uv_theory_phase == p) & (abs(x - 2) > sim.BAND) & (abs(x - 4) > sim.BAND)
        agree = int(((ds.uv_phase == p) & pred).sum())
        print(f"  predicted {sim.PHASES[p]:9s}: {agree}/{int(pred.sum())} members in that phase")
    cat = ds.uv_phase == sim.CATAPULT
    r = (ds.lr * ds.uv_lam.isel(step=-1) / 2).where(cat).values
    r = r[np.isfinite(r)]
    est, lo, hi = dt.bootstrap_ci(r, axis=0, stat=np.median)
    print(f"  catapult: eta*lambda_T/2 median {float(est):.3f} [{float(lo):.3f}, {float(hi):.3f}], "
          f"max {r.max():.3f} (predicted <= 1)")
    lam0 = ds.relu_lam0.isel(relu_lr=0)
    print(f"ReLU net: lambda_0 = top eig(J J^T)/n_train per seed {[round(float(v), 4) for v in lam0.values]}")
    for name, lo_v, hi_v, pred in (("spike onset c_crit", ds.relu_c_crit_lo, ds.relu_c_crit_hi, "2"),
                                   ("largest stable c_max", ds.relu_c_max_lo, ds.relu_c_max_hi,
                                    "uv model 4; paper ~12")):
        mid = np.sqrt(lo_v.values * hi_v.values)
        est, lo, hi = dt.bootstrap_ci(mid, axis=0)
        print(f"  {name}: mean {float(est):.3f} [{float(lo):.3f}, {float(hi):.3f}] over "
              f"{mid.size} seeds (grid brackets {np.round(lo_v.values, 2).tolist()} .. "
              f"{np.round(hi_v.values, 2).tolist()}); predicted {pred}")


def main(argv=None) -> int:
    _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
    return 0


if __name__ == "__main__":
    main()
