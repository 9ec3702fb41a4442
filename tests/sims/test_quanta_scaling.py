"""sims.quanta_scaling: every verdict passes at SMALL size; the figure draws from the same run."""

import numpy as np
import pytest

from sims import quanta_scaling as sim


@pytest.fixture(scope="module")
def ds():
    return sim.run("small")


def test_small_run_passes_every_verdict(ds):
    verdicts = sim.check(ds)
    assert [v.name for v in verdicts] == ["quanta_step_scaling", "quanta_param_exponent",
                                          "quanta_sharp_steps"]
    failed = [str(v) for v in verdicts if not v.passed]
    assert not failed, "\n".join(failed)


def test_dataset_holds_sim_and_theory_side_by_side(ds):
    cfg = sim.SMALL
    assert ds["task_loss"].dims == ("widths", "seed", "step", "task")
    assert ds.sizes["task"] == cfg.n_tasks and ds.sizes["seed"] == cfg.seeds
    assert list(ds["widths"].values) == list(cfg.widths)
    p = ds["theory_p"].values
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    assert (np.diff(p) < 0).all()
    # zipf_loss is the p-weighted per-task loss; the engine's Zipf-sampled test_loss estimates it
    final = ds.isel(step=-1)
    np.testing.assert_allclose(final["zipf_loss"], (final["task_loss"] * ds["theory_p"]).sum("task"),
                               rtol=1e-6)
    assert float(np.abs(final["test_loss"] - final["zipf_loss"]).max()) < 0.1
    assert float(ds["theory_exponent_N"]) == pytest.approx(cfg.alpha)
    assert float(ds["theory_exponent_D"]) == pytest.approx(cfg.alpha / (cfg.alpha + 1))
    assert ds["theory_tail"].sel(n_learned=0) == pytest.approx(np.log(2))
    assert "Michaud" in ds.attrs["citation"]


def test_omitted_mass_matches_a_direct_sum():
    k = np.arange(1, 2_000_001, dtype=float)
    w = k ** -1.4
    direct = w[16:].sum() / w[:16].sum()
    # the direct sum stops at 2e6: add the integral of the rest
    direct += (2_000_000.5 ** -0.4 / 0.4) / w[:16].sum()
    assert sim.omitted_mass(16, 0.4) == pytest.approx(direct, rel=1e-6)


def test_figure_draws_from_the_run(ds, tmp_path):
    from paper_figs import michaud2023_fig2 as fig

    path = tmp_path / "michaud2023_fig2.png"
    fig.draw(ds, sim.check(ds), str(path))
    assert path.stat().st_size > 10_000


@pytest.mark.slow
def test_figure_script_at_small_size(tmp_path):
    from paper_figs import michaud2023_fig2 as fig

    path = fig.main(["--size", "small", "--out", str(tmp_path)])
    assert (tmp_path / "michaud2023_fig2.png").exists() and path.endswith(".png")


@pytest.mark.slow
def test_paper_size_passes_every_verdict():
    ds = sim.run("paper")
    failed = [str(v) for v in sim.check(ds) if not v.passed]
    assert not failed, "\n".join(failed)
