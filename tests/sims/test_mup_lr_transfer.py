"""sims/mup_lr_transfer.py: SP's lr* falls with width, muP's holds; the readout mutant's falls."""

import pytest

from sims import mup_lr_transfer as sim

# Slow even at small size, to keep the default run under 10 minutes: about 3 minutes on two busy
# cores, and muP's lr* is not resolved at small size (INCONCLUSIVE); the rules are tested on planted
# data in tests/engine/test_rules.py and muP in test_mup_coord_check.py. Run with -m slow.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs():
    return sim.run("small", variants=("sp", "mup", "mutant_readout"))


def by_name(ds):
    return {v.name: v for v in sim.check(ds)}


def test_sp_fails_transfer(runs):
    v = by_name(runs)
    sp = v["transfer_sp"]
    assert sp.status == "KNOWN" and sp.interval[1] < -sim.MARGIN, sp
    # At widths <= 256 the slope is not steeper than the theory's -1 (its width-independent part
    # still competes: theory/mup_lr_transfer.py); the paper size holds it against -1.
    assert v["slope_sp"].interval[0] > -sim.SLOPE_MARGIN, v["slope_sp"]


def test_mup_is_not_refuted_and_holds_zero(runs):
    mup = by_name(runs)["transfer_mup"]
    # Four seeds may leave the interval wider than the margin: INCONCLUSIVE is honest, FAIL is not.
    assert mup.status in ("PASS", "INCONCLUSIVE"), mup
    assert mup.interval[0] <= 0.0 <= mup.interval[1] and abs(mup.effect) < sim.MARGIN, mup
    if mup.status == "INCONCLUSIVE":
        assert mup.seeds_to_settle > runs.sizes["seed"], mup
        assert str(mup).startswith("INCONCLUSIVE transfer_mup")


def test_readout_mutant_does_not_pass(runs):
    mutant = by_name(runs)["transfer_mutant_readout"]
    # At widths <= 256 its lr* falls, resolved below 0, but not yet past the margin.
    assert mutant.status != "PASS" and mutant.interval[1] < 0, mutant
    str(mutant)  # an INCONCLUSIVE verdict with a known disagreement prints


def test_figure_draws_the_fixtures_run(runs, tmp_path):
    """paper_figs/yang2022_fig1.py on the run above (no training of its own)."""
    from paper_figs import yang2022_fig1 as fig

    shown = fig.draw(runs, sim.check(runs), str(tmp_path / "yang.png"))
    assert (tmp_path / "yang.png").stat().st_size > 20_000
    assert list(shown) == ["sp", "mup", "mutant_readout"]
    assert shown["sp"].per_coord.lr_star.values[-1] < shown["mup"].per_coord.lr_star.values[-1]


@pytest.fixture(scope="module")
def paper():
    return by_name(sim.run("paper", variants=("sp", "mup", "mutant_readout")))


def test_paper_size_sp_fails_and_the_mutant_does_not_pass(paper):
    assert paper["transfer_sp"].status == "KNOWN", paper["transfer_sp"]
    mutant = paper["transfer_mutant_readout"]
    # Measured 2026-12-06: -0.22 [-0.28, -0.17], below 0 but straddling -MARGIN (INCONCLUSIVE).
    assert mutant.status != "PASS" and mutant.interval[1] < 0, mutant


def test_paper_size_mup_is_not_refuted(paper):
    assert paper["transfer_mup"].status in ("PASS", "INCONCLUSIVE"), paper["transfer_mup"]


@pytest.mark.xfail(strict=True, reason="measured 2026-12-06, key 0: muP INCONCLUSIVE, slope -0.45 "
                   "[-0.72, 0.10]; at width 2048 its held-out loss is flat from lr 2^-10 to 2^-5, so lr* "
                   "is not identified (sims/mup_lr_transfer.py). Strict: a pass must update the docs.")
def test_paper_size_mup_passes(paper):
    assert paper["transfer_mup"].status == "PASS", paper["transfer_mup"]
