"""sims/mup_coord_check.py: muP passes the coordinate-check rule; SP and both mutants fail it."""

import numpy as np
import pytest

from sims import mup_coord_check as sim


@pytest.fixture(scope="module")
def sp_mup():
    return sim.run("small", variants=("sp", "mup"))


@pytest.fixture(scope="module")
def mutants():
    return sim.run("small", variants=("mutant_readout", "mutant_eps"))


def by_name(ds):
    return {v.name: v for v in sim.check(ds)}


def test_mup_passes_and_sp_fails_early(sp_mup):
    v = by_name(sp_mup)
    for q in ("dh", "df"):
        assert v[f"coord_mup_{q}_early"].status == "PASS", v[f"coord_mup_{q}_early"]
        assert v[f"slope_mup_{q}"].status == "PASS", v[f"slope_mup_{q}"]
        sp = v[f"coord_sp_{q}_early"]
        assert sp.status == "KNOWN" and sp.interval[0] > sim.MARGIN, sp  # grows with width
    assert v["coord_mup_dh_late"].status == "PASS", v["coord_mup_dh_late"]
    assert sp_mup.dh.dims == ("variant", "widths", "seed", "step") and len(sp_mup.widths) >= 5


def test_each_mutant_fails_the_rule(mutants):
    v = by_name(mutants)
    readout, eps = v["coord_mutant_readout_df_early"], v["coord_mutant_eps_dh_early"]
    assert readout.status == "KNOWN" and readout.interval[0] > sim.MARGIN, readout
    assert eps.status == "KNOWN" and eps.interval[1] < -sim.MARGIN, eps
    # What each mutant leaves alone still passes: the check points at the broken part.
    assert v["coord_mutant_readout_dh_early"].status == "PASS", v["coord_mutant_readout_dh_early"]


@pytest.mark.slow
def test_paper_size():
    v = by_name(sim.run("paper"))
    assert v["coord_mup_dh_early"].status == "PASS" and v["coord_mup_df_early"].status == "PASS"
    assert v["coord_sp_dh_early"].status == "KNOWN"


def test_figure_draws_the_fixtures_runs(sp_mup, mutants, tmp_path):
    """paper_figs/mup_coord_check_fig1.py on the runs above (no training of its own)."""
    import xarray as xr

    from paper_figs import mup_coord_check_fig1 as fig

    ds = xr.concat([sp_mup, mutants], "variant", combine_attrs="override")
    path = str(tmp_path / "coord.png")
    fitted = fig.draw(ds, path)
    assert (tmp_path / "coord.png").stat().st_size > 20_000
    assert len(fitted) == 4 * 2 * 2  # variants x (dh, df) x (early, late)
    mup, sp = fitted[("mup", "dh", "early")], fitted[("sp", "dh", "early")]
    assert mup.status == "PASS" and sp.status == "FAIL" and sp.interval[0] > mup.interval[1], (mup, sp)
    # The figure's early fits are the sim's own verdicts (same rule, same bootstrap).
    by_name = {v.name: v for v in sim.check(sp_mup)}
    assert np.isclose(fitted[("sp", "df", "early")].effect, by_name["coord_sp_df_early"].effect)
