"""The dyntheory command line."""

import argparse
import types

import numpy as np
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


# ---- help, sizes, devices -----------------------------------------------------------------------
def _subcommands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("command", ["run", "figure", "summary"])
def test_every_option_has_its_help(command, capsys):
    parser = _subcommands()[command]
    for action in parser._actions:
        assert action.help and action.help.strip(), (command, action.dest)
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in out
    assert parser.description and parser.description.split(".")[0] in " ".join(out.split())


@pytest.mark.parametrize("command", ["run", "figure"])
def test_run_and_figure_default_to_the_small_size(command, monkeypatch):
    seen = {}
    fake = types.SimpleNamespace(
        __name__="fake", check=lambda ds: [],
        run=lambda size, key, store: seen.setdefault("size", size),
        main=lambda argv: seen.setdefault("size", argv[argv.index("--size") + 1]))
    monkeypatch.setattr(cli, "_resolve", lambda name, package: fake)
    cli.main([command, "fake"])
    assert seen["size"] == "small"
    seen.clear()
    cli.main([command, "fake", "--size", "paper"])
    assert seen["size"] == "paper"


def _sized(sizes, seen):
    return types.SimpleNamespace(__name__="sims.sized", SIZES=dict.fromkeys(sizes), check=lambda ds: [],
                                 run=lambda size, key, store: seen.setdefault("size", size))


@pytest.mark.parametrize("size", ["small", "medium", "paper"])
def test_run_accepts_every_size_the_sim_defines(size, monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "_resolve", lambda name, package: _sized(("small", "medium", "paper"), seen))
    assert cli.main(["run", "sized", "--size", size]) == 0
    assert seen["size"] == size


@pytest.mark.parametrize("command", ["run", "figure"])
def test_an_unknown_size_is_refused_with_the_choices_before_compute(command, monkeypatch, capsys):
    seen = {}
    sim = _sized(("small", "medium", "paper"), seen)
    figure = types.SimpleNamespace(__name__="paper_figs.sized", sim=sim, main=lambda argv: seen.setdefault("ran", 1))
    monkeypatch.setattr(cli, "_resolve", lambda name, package: sim if command == "run" else figure)
    assert cli.main([command, "sized", "--size", "huge"]) == 2
    err = capsys.readouterr().err
    assert f"dyntheory {command}: --size 'huge' is not a size of sims.sized; choose from small, medium, paper" in err
    assert not seen  # nothing ran


def test_the_real_sims_sizes_reach_the_command_and_the_figure_scripts(monkeypatch):
    from paper_figs import _common, raventos2023_fig1
    from sims import icl_regression

    assert cli.sizes_of(icl_regression) == ("small", "medium", "paper")
    seen = {}
    monkeypatch.setattr(icl_regression, "run", lambda size, key, store: seen.setdefault("size", size))
    monkeypatch.setattr(icl_regression, "check", lambda ds: [])
    assert cli.main(["run", "icl_regression", "--size", "medium"]) == 0 and seen["size"] == "medium"
    sizes = tuple(raventos2023_fig1.sim.SIZES)
    assert _common.parse_args(["--size", "medium"], "doc", sizes).size == "medium"
    assert _common.parse_args([], "doc", sizes).size == "small"
    assert _common.parse_args(["--size", "paper"], "doc").size == "paper"  # no SIZES: small, paper


def test_a_figure_script_refuses_a_size_its_sim_lacks(capsys):
    from paper_figs import _common

    with pytest.raises(SystemExit) as exit_:
        _common.parse_args(["--size", "medium"], "doc", ("small", "paper"))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "'medium'" in err and "choose from 'small', 'paper'" in err


def test_the_command_gives_jax_its_cores_through_use_cores(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(dt, "use_cores", lambda *a: calls.append(a))
    assert cli.main(["sims"]) == 0
    assert calls == [()]  # the default rule: every core unless told otherwise


# ---- summary --------------------------------------------------------------------------------------
def test_summary_medians_leave_out_diverged_members(tmp_path, capsys):
    # lr 30 blows up a linear model on this task within 20 steps (at 12-13); 0.05 does not
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=3), model=dt.models.Linear(), steps=20,
                     batch_size=4, axes={"lr": [0.05, 30.0]}, seeds=3, record=10)
    run = dt.train(sweep, key=0, store=str(tmp_path / "r"))
    diverged = run.metrics.diverged_at >= 0
    assert int(diverged.sum()) == 3 and bool(diverged.sel(lr=30.0).all())
    assert cli.main(["summary", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "diverged  3 of 6 members, excluded from the medians below" in out
    kept = run.metrics.test_loss.isel(step=-1).sel(lr=0.05).values
    line = next(x for x in out.splitlines() if x.startswith("test_loss"))
    assert f"median {np.median(kept):.4g} " in line and "n=3; 3 diverged excluded" in line


def _refused(argv, capsys) -> str:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_summary_of_a_missing_store_is_one_line(tmp_path, capsys):
    assert _refused(["summary", str(tmp_path / "nowhere")], capsys) == \
        f"dyntheory summary: {str(tmp_path / 'nowhere')!r} does not exist"
    (tmp_path / "empty").mkdir()
    assert "holds no dyntheory store" in _refused(["summary", str(tmp_path / "empty")], capsys)


def test_summary_of_an_unfinished_store_says_how_far_it_got(tmp_path, capsys, monkeypatch):
    from dyntheory._engine.store import Store

    class Killed(Exception):
        pass

    commit = Store.commit_progress

    def killed_in_group_1(self, gid, **info):  # group 0 finished, group 1 past its first record
        commit(self, gid, **info)
        if gid == 1 and not info["done"] and info["step"] > 0:
            raise Killed

    monkeypatch.setattr(Store, "commit_progress", killed_in_group_1)
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=3), model=dt.models.MLP(widths=(4,)), steps=8,
                     batch_size=4, axes={"lr": [0.1, 0.2], "widths": [(4,), (8,)]}, seeds=2, record=4)
    with pytest.raises(Killed):
        dt.train(sweep, key=0, store=str(tmp_path / "r"), resume_every=1e-9)
    monkeypatch.undo()
    line = _refused(["summary", str(tmp_path / "r")], capsys)
    assert line.startswith(f"dyntheory summary: store {str(tmp_path / 'r')!r} is unfinished: "
                           "1 of 2 compiled groups finished, group 1 at step 4 of 8; run the same dt.train call")
    assert cli.main(["summary", str(tmp_path / "r"), "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "the run is unfinished: unreached steps read as NaN" in out and "n=4" in out  # group 0's members


def test_summary_of_an_edited_store_is_one_line(tmp_path, capsys):
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=3), model=dt.models.Linear(), steps=4,
                     batch_size=4, axes={"lr": [0.1, 0.2]}, seeds=1)
    dt.train(sweep, key=0, store=str(tmp_path / "r"))
    root = tmp_path / "r" / "zarr.json"
    root.write_text(root.read_text()[:-40])  # truncated
    assert "cannot be read" in _refused(["summary", str(tmp_path / "r")], capsys)
