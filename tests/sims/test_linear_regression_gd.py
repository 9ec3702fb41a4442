"""sims/linear_regression_gd.py: GD on whitened linear regression, mode by mode, against theory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sims import linear_regression_gd as sim


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_every_verdict_passes(small):
    verdicts = sim.check(small)
    assert {v.name for v in verdicts} == {
        "gd_mode_error", "gd_excess_loss", "gd_diverges_above_2_over_lambda_max",
        "gd_converges_below_2_over_lambda_max", "gd_oscillates_above_1_over_lambda_i", "gd_to_flow_exponent"}
    failed = [str(v) for v in verdicts if not v.passed]
    assert not failed, "\n".join(failed)


def test_dataset_holds_sim_and_theory_side_by_side(small):
    for name in ("err", "train_loss", "diverged_at", "theory_error", "theory_loss", "theory_error_flow",
                 "theory_excess_loss", "stable_pred", "oscillating_pred"):
        assert name in small
    assert small.err.dims == ("lr", "seed", "mode", "step")
    assert float(small.eta_stable) == pytest.approx(2.0 / max(sim.SMALL.spectrum))
    # the lr axis really straddles the stability threshold
    assert small.stable_pred.any() and (~small.stable_pred).any()
    assert "arXiv:1710.03667" in small.attrs["citation"]


def test_figure_script_at_small_size(tmp_path, capsys):
    from paper_figs import gd_linear_regression_fig1 as fig

    fig.main(["--size", "small", "--out", str(tmp_path)])
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    assert "2/lambda_max" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_size_verdicts_pass():
    ds = sim.run("paper")
    failed = [str(v) for v in sim.check(ds) if not v.passed]
    assert not failed, "\n".join(failed)
    assert np.isfinite(ds.err.sel(step=0)).all()


@given(st.integers(0, 2**31 - 1), st.integers(1, 12))
def test_spd_solve_matches_numpy(seed, d):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * d, d)) * rng.uniform(0.05, 1.0, d)   # condition number up to ~400
    a, b = x.T @ x, rng.normal(size=(d, 2))
    expected = np.linalg.solve(a, b)
    with jax.enable_x64(True):
        got = np.asarray(sim.spd_solve(jnp.asarray(a), jnp.asarray(b)))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
