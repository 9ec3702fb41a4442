"""Stores you can trust: one writer, every label hashed, resume slots verified, clear errors."""

import json
import os
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
import zarr

import dyntheory as dt
from dyntheory._engine.store import Store
from dyntheory._platform.locks import StoreLockedError
from tests.engine._helpers import small_sweep, store_progress

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _holder(path: str) -> subprocess.Popen:
    """A second process that takes the store's lock and keeps it until killed."""
    code = textwrap.dedent(f"""
        import time
        from dyntheory._platform.locks import hold
        with hold({path!r}):
            print("held", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_fails_at_once_naming_the_holder_and_overwrite_spares_the_store(tmp_path):
    path = str(tmp_path / "run")
    sweep = small_sweep(seeds=1, axes={"lr": [0.1]})
    first = dt.train(sweep, key=0, store=path)
    proc = _holder(path)
    try:
        with pytest.raises(StoreLockedError, match=rf"being written by another process \(pid {proc.pid} on host"):
            dt.train(sweep, key=0, store=path, overwrite=True)
        again = dt.load(path)  # untouched: the refused overwrite deleted nothing
        np.testing.assert_array_equal(again.metrics.train_loss.values, first.metrics.train_loss.values)
    finally:
        proc.kill()
        proc.wait()
    # the killed holder left no stale lock: the kernel dropped it
    dt.train(sweep, key=1, store=path, overwrite=True)


def test_two_real_trainings_on_one_store(tmp_path):
    path = str(tmp_path / "run")
    code = textwrap.dedent(f"""
        import dyntheory as dt
        sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.MLP(widths=(8,)),
                         steps=100_000, batch_size=8, seeds=2, record=100, checkpoints=[0, 100_000])
        dt.train(sweep, key=0, store={path!r}, resume_every=0.0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while store_progress(path) is None:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        sweep = small_sweep(seeds=1, axes={"lr": [0.1]})
        with pytest.raises(StoreLockedError, match=f"pid {proc.pid}"):
            dt.train(sweep, key=0, store=path, overwrite=True)
        assert proc.poll() is None  # the first writer carries on
    finally:
        proc.kill()
        proc.wait()


def _edit_root(path, edit):
    with open(os.path.join(path, "zarr.json")) as f:
        doc = json.load(f)
    edit(doc["attributes"]["dyntheory"])
    with open(os.path.join(path, "zarr.json"), "w") as f:
        json.dump(doc, f)


EDITS = {
    "coords": lambda m: m["coords"]["lr"].__setitem__(0, 0.005),
    "seed order": lambda m: m["coords"]["seed"].reverse(),
    "record": lambda m: m["record"].__setitem__(1, m["record"][1] + 1),
    "checkpoints": lambda m: m["checkpoints"].__setitem__(0, 1),
    "config": lambda m: m["config"].__setitem__("lr", 0.5),
    "key": lambda m: m["key"].__setitem__("data", [1, 2]) if isinstance(m["key"], dict) else m.__setitem__("key", [9, 9]),
    "metrics": lambda m: m["metrics"].reverse(),
    "dims": lambda m: m["dims"].reverse(),
}
FIELD = {"seed order": "coords"}


@pytest.mark.parametrize("what", list(EDITS))
def test_every_label_is_hashed_and_an_edit_is_refused_by_name(tmp_path, what):
    path = str(tmp_path / "run")
    dt.train(small_sweep(seeds=2, axes={"lr": [0.003, 0.1]}), key=0, store=path)
    _edit_root(path, EDITS[what])
    with pytest.raises(ValueError, match=rf"labels were changed.*fields: .*{FIELD.get(what, what)}"):
        dt.load(path)


def test_damaged_or_foreign_stores_are_named(tmp_path):
    plain = str(tmp_path / "plain")
    zarr.open_group(plain, mode="w")
    with pytest.raises(ValueError, match="not a dyntheory store"):
        dt.load(plain)
    path = str(tmp_path / "run")
    dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}), key=0, store=path)
    text = open(os.path.join(path, "zarr.json")).read()
    with open(os.path.join(path, "zarr.json"), "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(ValueError, match="root zarr.json cannot be read"):
        dt.load(path)
    with pytest.raises(TypeError, match="path must be a directory path"):
        dt.load(123)


def test_an_array_that_cannot_be_decoded_is_named(tmp_path):
    path = str(tmp_path / "run")
    dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}), key=0, store=path)
    chunk_dir = os.path.join(path, "metrics", "train_loss", "c")
    for root, _, files in os.walk(chunk_dir):
        for name in files:
            with open(os.path.join(root, name), "r+b") as f:
                f.write(b"garbage!")
    with pytest.raises(ValueError, match="array 'metrics/train_loss' cannot be read"):
        dt.load(path)


def test_load_is_read_only(tmp_path):
    path = str(tmp_path / "run")
    dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}), key=0, store=path)
    run = dt.load(path)
    with pytest.raises(Exception):
        run.store.group["diverged_at"][...] = 7
    assert (dt.load(path).metrics.diverged_at == -1).all()


class _Stop(Exception):
    pass


def _interrupted(monkeypatch, sweep, path, after: int):
    """A run stopped right after its ``after``-th resume commit, as a kill there would leave it."""
    orig, n = Store.commit_progress, [0]

    def commit(self, gid, **info):
        orig(self, gid, **info)
        if info.get("slot"):
            n[0] += 1
            if n[0] >= after:
                raise _Stop

    with monkeypatch.context() as m:
        m.setattr(Store, "commit_progress", commit)
        with pytest.raises(_Stop):
            dt.train(sweep, key=4, store=path, resume_every=0.0)


def _corrupt_slot(path, slot):
    group = zarr.open_group(path, mode="r+")
    leaf = [k for k, _ in group[f"resume/{slot}/g0"].arrays() if "params" in k][0]
    arr = group[f"resume/{slot}/g0/{leaf}"]
    data = np.asarray(arr[...])
    data.flat[0] += 1e-3
    arr[...] = data


@pytest.mark.parametrize("bad", [["current"], ["current", "previous"]])
def test_a_corrupted_resume_slot_is_never_continued_silently(tmp_path, monkeypatch, bad):
    sweep = small_sweep(seeds=2, axes={"lr": [0.1]}, steps=48, record=6)
    path = str(tmp_path / "run")
    _interrupted(monkeypatch, sweep, path, after=3)
    prog = store_progress(path)
    _corrupt_slot(path, prog["slot"])
    if "previous" in bad:
        _corrupt_slot(path, prog["previous"]["slot"])
        want = "no resume slot of group 0 passes its sha256"
    else:
        want = f"resume slot {prog['slot']!r} of group 0 fails its sha256; resuming from slot"
    with pytest.warns(RuntimeWarning, match=want):
        resumed = dt.train(sweep, key=4, store=path)
    fresh = dt.train(sweep, key=4)
    for name in fresh.metrics.data_vars:
        np.testing.assert_array_equal(resumed.metrics[name].values, fresh.metrics[name].values, err_msg=name)
    jax.tree.map(np.testing.assert_array_equal, resumed.params_at(48), fresh.params_at(48))


def test_branch_misuse_is_refused(tmp_path):
    path = str(tmp_path / "parent")
    sweep = small_sweep(seeds=2, axes={"lr": [0.05, 0.1]}, checkpoints=[0, 12, 24])
    run = dt.train(sweep, key=0, store=path)
    wider = small_sweep(seeds=2, axes={"lr": [0.05, 0.1]}, checkpoints=[0, 12, 24],
                        model=dt.models.MLP(widths=(16,), activation="tanh"))
    with pytest.raises(ValueError, match="sweep= is not the sweep this run holds.*model"):
        dt.branch(run, step=12, changes={"lr": 0.01}, sweep=wider)
    other_grid = small_sweep(seeds=2, axes={"lr": [0.05, 0.3]}, checkpoints=[0, 12, 24])
    with pytest.raises(ValueError, match="differs in: axes"):
        dt.branch(run, step=12, changes={"lr": 0.01}, sweep=other_grid)
    with pytest.raises(ValueError, match="differs in: axes"):
        dt.load(path, sweep=other_grid)
    with pytest.raises(ValueError, match="parent run's own store"):
        dt.branch(run, step=12, changes={"lr": 0.01}, store=path, overwrite=True)
    assert dt.load(path).metrics.train_loss.shape == run.metrics.train_loss.shape  # the parent survives
    with pytest.raises(ValueError, match=r"where\['lr'\] = \[0.5\] is not on the run's grid"):
        dt.branch(run, step=12, changes={"lr": 0.01}, where={"lr": 0.5})
    with pytest.raises(ValueError, match=r"where\['seed'\] = \[5\]"):
        dt.branch(run, step=12, changes={"lr": 0.01}, where={"seed": 5})


def test_branch_takes_a_member_mask_and_refuses_diverged_members():
    sweep = small_sweep(dtype="float64", seeds=2, axes={"lr": [0.1, 1e150]}, optimizer="sgd",
                        checkpoints=[0, 12, 24])
    run = dt.train(sweep, key=0)
    assert (run.metrics.diverged_at.sel(lr=1e150) >= 0).all()
    with pytest.raises(ValueError, match="2 of the members to change diverged at or before step=12"):
        dt.branch(run, step=12, changes={"lr": 0.01})
    mask = run.metrics.diverged_at < 0
    twin = dt.branch(run, step=12, changes={"lr": 0.05}, where=mask)
    np.testing.assert_array_equal(twin.metrics.branched.values, mask.values)
    only_seed0 = (run.metrics.diverged_at < 0) & (run.metrics.seed == run.coords["seed"][0])
    twin0 = dt.branch(run, step=12, changes={"lr": 0.05}, where=only_seed0)
    assert twin0.metrics.branched.values.sum() == 1
    np.testing.assert_array_equal(twin0.metrics.train_loss.sel(lr=0.1).isel(seed=0).values,
                                  twin.metrics.train_loss.sel(lr=0.1).isel(seed=0).values)
