"""paper_figs/raventos2023_fig1.py draws sims/icl_regression.py's Dataset (a synthetic one with three
D here, no training: the sim's own run is slow-marked, and its figure is drawn on it in
test_icl_regression.py)."""

import math

import numpy as np
import xarray as xr

from paper_figs import raventos2023_fig1 as fig
from sims import icl_regression as sim


def _fake_run() -> xr.Dataset:
    d, ms, seeds = [2, 3, 4], [1.0, 4.0, 16.0, 64.0, math.inf], 3
    log2m = np.log2([1.0, 4.0, 16.0, 64.0, 256.0])
    ridge = np.array([0.8, 1.0, 1.2])
    star = np.array([2.0, 3.0, 4.0])  # log2 M* grows with D
    rng = np.random.default_rng(0)
    phi = 1 / (1 + np.exp(2.0 * (log2m[None, :, None] - star[:, None, None]))) + rng.normal(0, 0.02, (3, 5, seeds))
    dmmse = ridge[:, None, None] * (1 + 4.0 / (1 + 2.0 ** log2m[None, :, None] / 64)) * np.ones((3, 5, seeds))
    dmmse[:, -1] = ridge[:, None]
    model = ridge[:, None, None] + phi * (dmmse - ridge[:, None, None])
    dims = ("d", "n_tasks", "seed")
    ds = xr.Dataset({"err_model": (dims, model), "err_pool": (dims, 0.5 * model), "err_dmmse": (dims, dmmse),
                     "err_ridge": ("d", ridge)}, coords={"d": d, "n_tasks": ms, "seed": range(seeds)})
    ds = sim.with_phi(ds)
    ds.attrs["size"] = "paper"
    return ds


def test_figure_draws_three_dimensions_and_the_threshold_panel(tmp_path, capsys):
    ds = _fake_run()
    verdicts = {v.name: v for v in sim.check(ds)}
    assert {"threshold_inside_d2", "threshold_inside_d3", "threshold_inside_d4", "threshold_grows_with_d"} <= set(verdicts)
    assert verdicts["threshold_grows_with_d"].passed, str(verdicts["threshold_grows_with_d"])
    est = [sim.threshold_ci(ds.sel(d=d))[0] for d in (2, 3, 4)]
    np.testing.assert_allclose(est, [2.0, 3.0, 4.0], atol=0.3)
    path = tmp_path / "fig.png"
    fig.draw(ds, list(verdicts.values()), str(path))
    assert path.stat().st_size > 10_000
    fig.report(ds)
    assert "D=4: fresh-task error M=1:" in capsys.readouterr().out
