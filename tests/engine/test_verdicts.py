"""Verdicts, known disagreements, the summary line and the sim skeleton."""

import dataclasses
import json
import re

import pytest
import xarray as xr

from dyntheory._analysis.skeleton import SimConfig, pick_size
from dyntheory._analysis.verdict import Known, Verdict, aggregate, interval_verdict, mark_known


def test_verdict_line_and_dict():
    v = Verdict(name="saxe_t_learn", passed=True, effect=0.031, interval=(0.012, 0.049),
                tolerance=0.1, n_members=64, label="rel.err")
    assert str(v) == "PASS saxe_t_learn: rel.err 0.031 [0.012, 0.049] within ±0.1 (n=64 members)"
    d = v.to_dict()
    assert json.loads(json.dumps(d)) == d and d["interval"] == [0.012, 0.049]
    bad = Verdict(name="x", passed=False, effect=0.3, interval=(0.2, 0.4), tolerance=0.1,
                  n_members=8, detail="worst at lr=1")
    assert re.fullmatch(r"FAIL x: effect 0\.3 \[0\.2, 0\.4\] not within ±0\.1 \(n=8 members\); "
                        r"worst at lr=1", str(bad))


def test_aggregate_table():
    good = Verdict(name="alpha", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.1,
                   n_members=8)
    bad = Verdict(name="beta", passed=False, effect=0.5, interval=(0.4, 0.6), tolerance=0.1,
                  n_members=8, n_excluded=2)
    s = aggregate([good, bad])
    assert not s.passed and s.n_passed == 1 and s.failed == (bad,)
    assert "alpha" in s.table and "beta" in s.table
    assert s.table.endswith("1/2 claims hold; FAILED: beta") and s.line == "1/2 claims hold; FAILED: beta"
    assert "8 (-2)" in str(s)
    assert aggregate([good]).passed
    with pytest.raises(TypeError, match=r"verdicts\[1\]"):
        aggregate([good, "beta"])


def _v(name, passed, interval, *, tol=0.05, side="both"):
    return Verdict(name=name, passed=passed, effect=sum(interval) / 2, interval=interval,
                   tolerance=tol, n_members=12, label="rel.err", side=side)


LATE = Known(name="late", reason="later modes come late: shared hidden subspace",
             where="sims/toy.py", direction="above", sizes=("small",))


def test_known_disagreement_is_labelled_only_when_it_fails_as_documented():
    fails_late = mark_known([_v("late", False, (0.03, 0.08))], [LATE], size="small")[0]
    assert fails_late.status == "KNOWN" and fails_late.known == LATE
    assert str(fails_late).startswith("KNOWN late: rel.err") and str(fails_late).endswith(
        "; known disagreement, see sims/toy.py")
    early = mark_known([_v("late", False, (-0.08, -0.03))], [LATE], size="small")[0]
    assert early.status == "FAIL" and "not above as documented" in str(early)
    straddles = mark_known([_v("late", False, (-0.01, 0.08))], [LATE], size="small")[0]
    assert straddles.status == "FAIL"
    passes = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="small")[0]
    assert passes.status == "XPASS" and "but passed: update it" in str(passes)
    # one-sided: the documented direction is read against the bound, not zero
    slow = Known(name="abrupt", reason="no plateau", where="sims/toy.py", direction="above")
    v = mark_known([_v("abrupt", False, (0.84, 0.99), tol=0.5, side="below")], [slow])[0]
    assert v.status == "KNOWN"
    assert mark_known([_v("abrupt", False, (0.3, 0.6), tol=0.5, side="below")], [slow])[0].status == "FAIL"



def test_an_inconclusive_verdict_with_a_known_disagreement_prints_and_aggregates():
    v = Verdict(name="late", passed=False, effect=0.05, interval=(-0.02, 0.12), tolerance=0.05,
                n_members=12, label="slope-pred", inconclusive=True, seeds_to_settle=30)
    marked = mark_known([v], [LATE], size="small")[0]
    assert marked.status == "INCONCLUSIVE" and marked.known == LATE
    line = str(marked)  # raised KeyError('INCONCLUSIVE') before
    assert line.startswith("INCONCLUSIVE late: slope-pred 0.05 [-0.02, 0.12] straddles ±0.05; ~30 seeds")
    assert line.endswith("; a known disagreement (sims/toy.py, expected above), not yet shown either way")
    s = aggregate([marked])
    assert s.inconclusive == (marked,) and s.known == () and not s.passed
    assert s.line == "0/1 claims hold; INCONCLUSIVE: late"
    assert marked.to_dict()["status"] == "INCONCLUSIVE" and marked.to_dict()["known"]["direction"] == "above"

def test_mark_known_filters_sizes_and_refuses_unknown_names():
    at_paper = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="paper")[0]
    assert at_paper.known is None and at_paper.status == "PASS"
    with pytest.raises(ValueError, match=r"\['late'\] name no verdict"):
        mark_known([_v("other", True, (0.0, 0.02))], [LATE], size="small")
    with pytest.raises(ValueError, match="reason must be one non-empty line"):
        Known(name="x", reason="two\nlines", where="here", direction="above")
    with pytest.raises(ValueError, match="direction"):
        Known(name="x", reason="r", where="here", direction="up")


def test_summary_line_counts_claims_and_names_each_known_disagreement():
    good = _v("good", True, (0.0, 0.02))
    known = mark_known([_v("late", False, (0.03, 0.08))], [LATE], size="small")[0]
    s = aggregate([good, known])
    assert s.passed and s.n_passed == 1 and s.known == (known,) and s.failed == ()
    assert s.line == ("1/2 claims hold; KNOWN late: later modes come late: shared hidden "
                      "subspace (see sims/toy.py)")
    assert s.table.splitlines()[2].startswith("KNOWN  late") and s.table.endswith(s.line)
    xpass = mark_known([_v("late", True, (0.0, 0.02))], [LATE], size="small")[0]
    s = aggregate([good, xpass, _v("bad", False, (0.1, 0.2))])
    assert not s.passed and s.xpassed == (xpass,) and [v.name for v in s.failed] == ["bad"]
    assert s.line == ("2/3 claims hold; FAILED: bad; known disagreement(s) now passing, "
                      "update them: late")


def test_one_sided_verdict_reads_as_a_bound():
    v = _v("delay", True, (2.9, 4.0), tol=2.0, side="above")
    assert str(v) == "PASS delay: rel.err 3.45 [2.9, 4] above 2 (n=12 members)"
    assert aggregate([v]).table.splitlines()[1].split()[-2] == ">2"
    assert v.to_dict()["side"] == "above" and json.loads(json.dumps(v.to_dict())) == v.to_dict()
    with pytest.raises(ValueError, match="side must be one of"):
        _v("x", True, (0.0, 1.0), side="up")


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Arm(SimConfig):
    depth: int
    init: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Config(SimConfig):
    arms: tuple[_Arm, ...]
    window: tuple[float, float]
    lrs: tuple[float, ...]
    control: tuple[float, ...] | None = None
    seeds: int = 2


def test_sim_config_round_trips_through_the_datasets_attrs():
    cfg = _Config(arms=(_Arm(depth=2, init="balanced"), _Arm(depth=3, init="gaussian")),
                  window=(10.0, 300.0), lrs=(0.1,), control=(0.03,))
    ds = cfg.stamp(xr.Dataset({"x": ("seed", [1.0, 2.0])}), sim="toy", size="small", key=3,
                   citation="Toy et al.", theory="theory.toy")
    assert ds.attrs["sim"] == "toy" and ds.attrs["size"] == "small" and ds.attrs["key"] == 3
    assert ds.attrs["theory"] == "theory.toy" and ds.attrs["citation"] == "Toy et al."
    back = _Config.from_attrs(ds)
    assert back == cfg and isinstance(back.arms[0], _Arm) and back.window == (10.0, 300.0)
    assert _Config.from_json(_Config(arms=(), window=(1.0, 2.0), lrs=()).to_json()).control is None
    assert cfg.stamp(xr.Dataset(), sim="t", size=cfg, key=0, citation="").attrs["size"] == "custom"
    with pytest.raises(ValueError, match="no 'sim_config' attr"):
        _Config.from_attrs(xr.Dataset())
    with pytest.raises(ValueError, match=r"unknown fields \['width'\]"):
        _Config.from_json('{"width": 3}')


def test_pick_size_names_the_sizes():
    small = _Config(arms=(), window=(1.0, 2.0), lrs=(0.1,))
    assert pick_size({"small": small}, "small") is small
    assert pick_size({"small": small}, small) is small
    with pytest.raises(ValueError, match=r"size must be one of \['paper', 'small'\] or a config, got 'big'"):
        pick_size({"small": small, "paper": small}, "big")


def test_interval_verdict_holds_any_estimate_against_theory_or_a_bound():
    # a fitted exponent 0.33 [0.27, 0.39] against alpha = 0.4: inside ±0.15, not inside ±0.1
    ok = interval_verdict(0.33, (0.27, 0.39), predicted=0.4, tol=0.15, name="e", n_members=15)
    assert ok.passed and ok.effect == pytest.approx(-0.07) and ok.interval == pytest.approx((-0.13, -0.01))
    assert not interval_verdict(0.33, (0.27, 0.39), predicted=0.4, tol=0.1, name="e", n_members=15).passed
    # a ratio of medians 1.54 [1.2, 2.61] above 1; [0.9, 2.6] is not
    up = interval_verdict(1.54, (1.2, 2.61), predicted=1.0, side="above", name="r", n_members=24)
    assert up.passed and up.effect == 1.54 and up.tolerance == 1.0 and str(up).startswith(
        "PASS r: estimate 1.54 [1.2, 2.61] above 1")
    assert not interval_verdict(1.5, (0.9, 2.6), predicted=1.0, side="above", name="r", n_members=24).passed
    assert interval_verdict(0.3, (0.2, 0.45), predicted=0.5, side="below", name="w", n_members=8).passed
    with pytest.raises(ValueError, match="tol does not apply"):
        interval_verdict(1.0, (0.9, 1.1), predicted=0.0, tol=0.1, side="above", name="x", n_members=2)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        interval_verdict(1.0, (0.9, 1.1), predicted=0.0, name="x", n_members=2)
