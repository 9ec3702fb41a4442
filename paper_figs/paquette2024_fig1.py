"""Power-law features: loss curves for several model sizes ``d`` against the predicted laws.

After Paquette, Paquette, Xiao, Pennington (2024), "4+3 Phases of Compute-Optimal Neural Scaling
Laws", arXiv 2405.15074, Fig. 1 (loss curves of the power-law features model for growing model
size, each following the ``t^{-(2 alpha + 2 beta - 1)/(2 alpha)}`` law until it stalls at its
capacity floor). Here the model is the top-``d`` linear model of ``sims.power_law_features``
trained by full-batch GD on the population loss (near gradient flow), not the paper's one-pass
SGD on random features; see that module for the checks.

Left: loss against ``t = lr * step`` for each ``d`` (both learning rates, which collapse), the
finite-sum gradient-flow curve, the large-``t`` asymptote ``C t^{-e}`` and each capacity floor.
Right: converged loss against ``d`` with the finite-sum floor and its ``d^{-(2 alpha + 2 beta -
1)}`` asymptote.

Usage:
    python -m paper_figs.paquette2024_fig1 --size small --out figures/
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from paper_figs import _common
from sims import power_law_features as sim

NAME = "paquette2024_fig1"


def draw(ds, verdicts, path: str) -> None:
    cfg = sim.Config.from_attrs(ds)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.3))
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, ds.sizes["d"]))
    t_all = ds["t"].values
    t_pos = np.unique(t_all[t_all > 0])
    for c, d in zip(colors, ds["d"].values):
        for j, lr in enumerate(ds["lr"].values):
            sel = ds.sel(d=d, lr=lr)
            t = sel["t"].values
            ok = t > 0
            ax.plot(t[ok], sel["test_loss"].mean("seed").values[ok], color=c,
                    lw=2.0 if j == ds.sizes["lr"] - 1 else 1.0,
                    ls="-" if j == ds.sizes["lr"] - 1 else ":",
                    label=f"d={int(d)}" if j == ds.sizes["lr"] - 1 else None)
        ax.axhline(float(ds["theory_floor"].sel(d=d)), color=c, lw=0.8, ls="--", alpha=0.6)
        th = sim.theory.loss_curve(t_pos, int(d), cfg.alpha, cfg.beta, n_modes=cfg.n_features)
        ax.plot(t_pos, np.asarray(th), color="k", lw=0.8, ls="--", alpha=0.7)
    e = float(ds["theory_exponent_t"])
    asym = sim.theory.time_prefactor(cfg.alpha, cfg.beta) * t_pos ** (-e)
    ax.plot(t_pos, asym, color="grey", lw=2.5, alpha=0.4, label=f"$C\\,t^{{-{e:.3g}}}$")
    ax.axvspan(*cfg.time_window, color="orange", alpha=0.08, label="exponent fit window")
    ax.set(xscale="log", yscale="log", xlabel="t = lr x step", ylabel="population loss",
           title=f"alpha={cfg.alpha}, beta={cfg.beta}: GD (solid lr={ds['lr'].values[-1]:g}, "
                 f"dotted smaller lr)\nblack dashed: gradient flow, dashed lines: floors")
    ax.legend(fontsize=7, loc="lower left")

    final = ds["test_loss"].isel(step=-1).mean(("lr", "seed"))
    ok = sim.converged_mask(ds, cfg).all("lr")
    dd = ds["d"].values.astype(float)
    bx.plot(dd[ok.values], final.values[ok.values], "o", color="C0", label="converged GD")
    bx.plot(dd[~ok.values], final.values[~ok.values], "o", mfc="none", color="C0",
            label="not converged at last step")
    dgrid = np.unique(np.geomspace(dd.min(), dd.max(), 60).astype(int)).astype(float)
    fl = np.asarray(sim.theory.loss_curve(np.inf, dgrid[:, None], cfg.alpha, cfg.beta,
                                          n_modes=cfg.n_features))
    bx.plot(dgrid, fl, "k--", lw=1, label="finite-sum floor")
    integral = sim.theory.capacity_exponent()(alpha=cfg.alpha, beta=cfg.beta, d=dgrid)["loss"]
    bx.plot(dgrid, np.asarray(integral), color="grey", lw=2.5, alpha=0.4,
            label=f"$\\propto d^{{-{float(ds['theory_exponent_d']):.3g}}}$ (integral)")
    bx.set(xscale="log", yscale="log", xlabel="d (visible top features)", ylabel="final loss",
           title="capacity floor")
    bx.legend(fontsize=7)
    _common.verdict_box(bx, verdicts)
    fig.tight_layout()
    _common.save(fig, path)


def report(ds) -> None:
    print(f"predicted time exponent (2a+2b-1)/(2a) = {float(ds['theory_exponent_t']):.4g}, "
          f"capacity exponent 2a+2b-1 = {float(ds['theory_exponent_d']):.4g}")


def main(argv=None) -> str:
    return _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report,
                        verdicts_in_figure=True)


if __name__ == "__main__":
    main()
