"""paper_figs/olsson2022_fig1.py draws sims/induction_heads.py's Dataset (a synthetic one here: the
sim's own run is tested in test_induction_heads.py)."""

import numpy as np
import xarray as xr

from paper_figs import olsson2022_fig1 as fig
from sims import induction_heads as sim


def _fake_run() -> xr.Dataset:
    step = np.arange(0, 101, 10)
    drop = 1.8 - 1.5 / (1 + np.exp(-(step - 50) / 5))  # two layers: a sigmoid drop at step 50
    icl = np.stack([np.stack([np.full(step.size, 1.5)] * 2), np.stack([drop, drop + 0.01])])
    pm = np.stack([np.stack([np.full(step.size, 0.3)] * 2), np.stack([1.5 - drop, 1.5 - drop])])
    ds = xr.Dataset({"icl_loss": (("layers", "seed", "step"), icl),
                     "prefix_last": (("layers", "seed", "step"), pm)},
                    coords={"layers": [1, 2], "seed": [0, 1], "step": step})
    cfg = sim.Config(vocab=16, prefix=8, min_prefix=4, d_model=32, heads=2, lr=3e-3, batch_size=32,
                     steps=100, record=10, seeds=2)
    return cfg.stamp(sim.analyse(ds, cfg), sim="induction_heads", size="small", key=0, citation="")


def test_figure_draws_the_drop_and_the_head(tmp_path, capsys):
    ds = _fake_run()
    verdicts = sim.check(ds)
    path = tmp_path / "fig.png"
    fig.draw(ds, verdicts, str(path))
    assert path.stat().st_size > 10_000
    fig.report(ds)
    out = capsys.readouterr().out
    assert "two layers: t_drop [" in out and "nan" not in out.split("t_head")[0]
