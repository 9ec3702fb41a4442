"""sims.power_law_features: every verdict passes at SMALL size; the figure draws from the same run."""

import numpy as np
import pytest

from sims import power_law_features as sim


@pytest.fixture(scope="module")
def ds():
    return sim.run("small")


def test_small_run_passes_every_verdict(ds):
    verdicts = sim.check(ds)
    assert [v.name for v in verdicts] == ["plf_time_exponent", "plf_floor_exponent",
                                          "plf_floor_value", "plf_gf_curve"]
    failed = [str(v) for v in verdicts if not v.passed]
    assert not failed, "\n".join(failed)


def test_dataset_holds_sim_and_theory_side_by_side(ds):
    cfg = sim.SMALL
    assert ds["test_loss"].dims == ("d", "lr", "seed", "step")
    assert ds["theory_loss"].dims == ("d", "lr", "step")
    np.testing.assert_allclose(ds["t"], ds["lr"] * ds["step"])
    e = (2 * cfg.alpha + 2 * cfg.beta - 1)
    assert float(ds["theory_exponent_t"]) == pytest.approx(e / (2 * cfg.alpha))
    assert float(ds["theory_exponent_d"]) == pytest.approx(e)
    # at step 0 (w = 0) the loss is half the target's total variance, for every d
    j = np.arange(1, cfg.n_features + 1, dtype=float)
    total = 0.5 * (j ** (-2 * cfg.alpha - 2 * cfg.beta)).sum()
    np.testing.assert_allclose(ds["test_loss"].isel(step=0), total, rtol=1e-5)
    np.testing.assert_allclose(ds["theory_loss"].isel(step=0), total, rtol=1e-5)  # float32 sum
    # exact sets: train loss (whitened) equals test loss (exact) at every step
    np.testing.assert_allclose(ds["train_loss"], ds["test_loss"], rtol=1e-4)
    # seeds only redraw the whitened sets: trajectories agree to rounding
    spread = ds["test_loss"].max("seed") / ds["test_loss"].min("seed") - 1
    assert float(spread.max()) < 1e-4
    assert "Paquette" in ds.attrs["citation"]


def test_figure_draws_from_the_run(ds, tmp_path):
    from paper_figs import paquette2024_fig1 as fig

    path = tmp_path / "paquette2024_fig1.png"
    fig.draw(ds, sim.check(ds), str(path))
    assert path.stat().st_size > 10_000


@pytest.mark.slow
def test_figure_script_at_small_size(tmp_path):
    from paper_figs import paquette2024_fig1 as fig

    fig.main(["--size", "small", "--out", str(tmp_path)])
    assert (tmp_path / "paquette2024_fig1.png").exists()


@pytest.mark.slow
def test_paper_size_passes_every_verdict():
    ds = sim.run("paper")
    failed = [str(v) for v in sim.check(ds) if not v.passed]
    assert not failed, "\n".join(failed)
