"""The dyntheory command line."""

import types

import pytest

import dyntheory as dt
from dyntheory import cli


def test_summary_of_a_stored_run(tmp_path, capsys):
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=3), model=dt.models.Linear(), steps=8,
                     batch_size=4, axes={"lr": [0.1, 0.2]}, seeds=2, record=4)
    dt.train(sweep, key=0, store=str(tmp_path / "r"))
    assert cli.main(["summary", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "manifest verified" in out and "'lr': 2" in out and "members 4" in out


def test_listing_and_running_sims(capsys):
    assert cli.main(["sims"]) == 0
    listed = capsys.readouterr().out.split()
    assert "linear_regression_gd" in listed


def test_unknown_sim_names_what_exists():
    with pytest.raises(SystemExit, match="no module 'sims.not_a_sim'; available in sims/"):
        cli.main(["run", "not_a_sim"])


@pytest.mark.parametrize("returned, code", [(0, 0), (None, 0), ("figures/x.png", 0), (3, 3)])
def test_figure_exit_status(monkeypatch, returned, code):
    # figure scripts may return the written path: that is success, not sys.exit("path") == 1
    fake = types.SimpleNamespace(__name__="paper_figs.fake", main=lambda argv: returned)
    monkeypatch.setattr(cli, "_resolve", lambda name, package: fake)
    assert cli.main(["figure", "fake", "--out", "figures"]) == code


def _fake_sim(verdicts):
    return types.SimpleNamespace(__name__="sims.fake", run=lambda size, key, store: {"size": size},
                                 check=lambda ds: verdicts)


def _verdict(name, passed, interval):
    return dt.Verdict(name=name, passed=passed, effect=sum(interval) / 2, interval=interval,
                      tolerance=0.05, n_members=12, label="rel.err")


LATE = dt.Known(name="late", reason="later modes come late", where="sims/fake.py",
                direction="above")


@pytest.mark.parametrize("late, code, status", [
    ((False, (0.03, 0.08)), 0, "KNOWN"),   # fails as documented: the run is as expected
    ((False, (-0.08, -0.03)), 1, "FAIL"),  # fails the other way: a real failure
    ((True, (0.0, 0.02)), 1, "XPASS"),     # passes: the documentation is out of date, flagged
])
def test_run_ends_with_one_summary_line_and_known_disagreements(monkeypatch, capsys, late, code, status):
    verdicts = dt.mark_known([_verdict("good", True, (0.0, 0.01)), _verdict("late", *late)], [LATE])
    monkeypatch.setattr(cli, "_resolve", lambda name, package: _fake_sim(verdicts))
    assert cli.main(["run", "fake"]) == code
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("PASS good") and lines[1].startswith(f"{status} late")
    assert len(lines) == 3 and lines[2].startswith(f"{1 + late[0]}/2 claims hold")
    assert ("KNOWN late: later modes come late (see sims/fake.py)" in lines[2]) == (status == "KNOWN")
