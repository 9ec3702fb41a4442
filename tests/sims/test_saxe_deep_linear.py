"""sims/saxe_deep_linear.py: mode-by-mode sigmoidal learning in deep linear nets against Saxe et al. 2014."""

import numpy as np
import pytest
import xarray as xr

import dyntheory as dt
from sims import saxe_deep_linear as sim

# A finding, not a tolerance problem (see the module docstring): with DeepLinear(balanced=True)
# every mode's hidden vectors share one d-dimensional subspace, so modes learned after the first
# are delayed by competition. The aligned closed form is then a lower bound on their t_half.
KNOWN_DISAGREEMENTS = {k.name for k in sim.KNOWN if "small" in k.sizes}


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_every_verdict_passes_except_the_documented_finding(small):
    verdicts = sim.check(small)
    names = {v.name for v in verdicts}
    assert KNOWN_DISAGREEMENTS <= names
    assert {"saxe_rise_time[D3-gaussian]", "saxe_t_half_first_mode[D2-balanced]"} <= names
    failed = [str(v) for v in verdicts if not v.passed and v.name not in KNOWN_DISAGREEMENTS]
    assert not failed, "\n".join(failed)
    for v in verdicts:
        if v.name in KNOWN_DISAGREEMENTS:
            # later modes come late, never early: competition only removes growth; if this ever
            # passes (XPASS), the documented disagreement is out of date
            assert v.status == "KNOWN" and v.interval[0] > 0, str(v)


def test_crossing_times_are_exact_on_a_two_layer_trajectory():
    from theory import saxe_deep_linear as saxe

    steps = np.arange(0, 400, 25)
    u = np.asarray(saxe.mode_trajectory()(t=steps.astype(float), s=2.0, u0=1e-3, eta=0.01)["u"])
    t_half = float(saxe.time_to_learn()(s=2.0, u0=1e-3, uf=1.0, eta=0.01)["t_half"])
    u = xr.DataArray(u, dims="step", coords={"step": steps})
    got = float(dt.transition_times(u, threshold=1.0, interpolate="logit", ceiling=2.0).t_cross)
    assert got == pytest.approx(t_half, rel=1e-5)  # logit interpolation is exact at D = 2
    never = dt.transition_times(u * 0.1, threshold=1.0, interpolate="logit", ceiling=2.0)
    assert np.isnan(float(never.t_cross))


def test_dataset_layout(small):
    assert small.u.dims == ("arm", "seed", "mode", "step")
    assert list(small.arm.values) == [a.label for a in sim.SMALL.arms]
    d2 = small.sel(arm="D2-balanced")
    assert np.isfinite(d2.theory_t_half).all() and np.isfinite(d2.u0_eff).all()
    assert (small.s.values == np.asarray(sim.SMALL.singular_values)).all()


def test_figure_script_at_small_size(tmp_path, capsys):
    from paper_figs import saxe2014_fig3 as fig

    fig.main(["--size", "small", "--out", str(tmp_path)])
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    assert "rise" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_size():
    ds = sim.run("paper")
    verdicts = sim.check(ds)
    failed = [str(v) for v in verdicts if not v.passed and v.name not in KNOWN_DISAGREEMENTS]
    assert not failed, "\n".join(failed)
