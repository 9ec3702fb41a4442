"""sims/parity_forecast.py: the sparse-parity transition step forecast from hidden progress."""

import numpy as np
import pytest

from sims import parity_forecast as sim
from sims import sparse_parity as sp


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_every_verdict_passes_at_small_size(small):
    verdicts = sim.check(small)
    names = {v.name for v in verdicts}
    for split in sim.SPLITS:
        assert {f"coverage90_{split}", f"lead_{split}", f"beats_config_{split}",
                f"beats_sigmoid_{split}"} <= names
    failed = [str(v) for v in verdicts if not v.passed]
    assert not failed, "\n".join(failed)


def test_forecasts_never_score_a_member_that_fitted_them(small):
    for split in sim.SPLITS:
        role = small.role.sel(split=split)
        for pred in sim.PREDICTORS:
            used = small.used.sel(split=split, predictor=pred)
            learned = pred != "sigmoid"  # the curve-only baseline reads no outcome
            assert bool((used == (role.isin(["fit", "calibrate"]) & learned)).all())
        assert int(sim.scores(small, split, "hidden").n_scored) == int(((role == "test") & small.at_risk).sum())
    role = small.role.sel(split="config")
    held = set(small.n_bits.values[(role == "test").all("seed").values])
    assert held == set(sim.SMALL.held_out_n)


def test_the_forecast_is_made_before_the_loss_moves(small):
    cut = float(small.attrs["cutoff"])
    assert cut == pytest.approx(sim.SMALL.cutoff * sim.SMALL.parity.steps)
    # most members' test accuracy is still at chance at the cutoff, and none has transitioned
    assert float(small.at_chance.mean()) > 0.75
    assert bool(small.at_risk.all())
    window = small.test_acc.sel(step=small.step <= cut)
    assert bool(((window < 0.5 + sp.CHANCE_TOL) | ~small.at_chance).all())
    assert not bool(((window < 0.5 + sp.CHANCE_TOL).all("step") & ~small.at_chance).any())
    ld = sim.lead(small, "seed")
    assert (ld["lead"] > 0).all() and (ld["to_move"] > 0).all() and ld["lead"].size >= 10


def test_lead_is_read_at_the_alarm_threshold_when_every_member_transitions(small):
    """No member without the transition: no false-alarm rate, so the lead is read at p >= 0.5."""
    for split in sim.SPLITS:
        s = sim.scores(small, split, "hidden")
        assert float(s.base_rate) == 1.0  # the small run: every member transitions by the end
        assert np.isnan(s.false_alarm).all() and s.attrs["lead_basis"] == "alarm_threshold"
        assert float(s.median_lead_threshold) == 0.5
        assert float(s.median_lead_lo) <= float(s.median_lead) <= float(s.median_lead_hi)


def test_dataset_layout(small):
    assert small.t_quantiles.dims == ("split", "predictor", "n_bits", "seed", "level")
    assert list(small.predictor.values) == list(sim.PREDICTORS)
    tq = small.t_quantiles.sel(predictor="hidden").values
    assert np.isfinite(tq).all() and (np.diff(tq, axis=-1) >= 0).all()
    assert (np.isnan(small.t_event) == ~small.happened).all()


def test_figure_draws_from_the_run(small, tmp_path):
    from paper_figs import parity_forecast_fig1 as fig

    path = tmp_path / "parity_forecast_fig1.png"
    table = fig.draw(small, sim.check(small), str(path))
    assert path.stat().st_size > 10_000 and set(table) == set(sim.SPLITS)


@pytest.mark.slow
def test_paper_size():
    """1,200 members (13 min on 2 shared cores). The 90% coverage misses ±0.05 as documented in
    sim.KNOWN (one calibration draw under-covers held-out seeds; unseen n over-cover)."""
    verdicts = sim.check(sim.run("paper"))
    known = {k.name for k in sim.KNOWN if "paper" in k.sizes}
    failed = [str(v) for v in verdicts if not v.passed and v.name not in known]
    assert not failed, "\n".join(failed)
    assert all(v.status == "KNOWN" for v in verdicts if v.name in known)
