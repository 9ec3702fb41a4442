"""paper_figs/edelman2024_fig1.py draws sims/markov_icl.py's Dataset (a synthetic one here: the
sim's own run is slow-marked, and its figure is drawn on that run in test_markov_icl.py)."""

import numpy as np
import xarray as xr

from paper_figs import edelman2024_fig1 as fig
from sims import markov_icl as sim


def _fake_run() -> xr.Dataset:
    cfg = sim.SMALL
    step = np.arange(0, cfg.steps + 1, cfg.record)
    # uniform at 0, a unigram plateau, then a fall toward bigram after step 400
    levels = sim.theory.strategy_losses(cfg.states, cfg.length)
    uni, big = levels["unigram"][0], levels["bigram"][0]
    curve = uni + (np.log(3) - uni) * np.exp(-step / 20) - (uni - big) / (1 + np.exp(-(step - 500) / 60))
    loss = np.stack([curve, curve + 0.004, curve - 0.003])
    # each seed's test set scores the strategies a little off their exact levels
    here = np.array([[levels[m][0] for m in sim.STRATEGIES]]) * np.array([[1.0], [1.01], [0.99]])
    here = np.broadcast_to(here[:, None, :], (3, step.size, 3))
    ds = xr.Dataset({"test_loss": (("seed", "step"), loss), "level_here": (("seed", "step", "strategy"), here)},
                    coords={"seed": [0, 1, 2], "step": step, "strategy": list(sim.STRATEGIES)})
    return cfg.stamp(sim.analyse(ds, cfg), sim="markov_icl", size="small", key=0, citation="")


def test_figure_draws_the_levels_and_the_curve(tmp_path, capsys):
    ds = _fake_run()
    verdicts = sim.check(ds)
    assert {v.name for v in verdicts} == {"unigram_plateau", "bigram_level", "order"}
    path = tmp_path / "fig.png"
    fig.draw(ds, verdicts, str(path))
    assert path.stat().st_size > 10_000
    fig.report(ds)
    out = capsys.readouterr().out
    assert "exact levels (95% bands): uniform 1.0986" in out and "nan" not in out
    assert "on each seed's own test set" in out
