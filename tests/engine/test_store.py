"""Stores: kill-and-resume equality, manifest checks, refusing to overwrite another sweep."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import dyntheory as dt
from tests.engine._helpers import small_sweep, store_progress

KILLED_SWEEP = textwrap.dedent("""
    import dyntheory as dt
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4, d_out=1, noise=0.1),
                     model=dt.models.MLP(widths=(8,), activation="tanh"), optimizer="adam", lr=1e-2,
                     steps={steps}, batch_size=8, axes={{"lr": [1e-2, 3e-2]}}, seeds=2, record=10,
                     checkpoints=[0, {steps} // 2, {steps}])
""")



TWO_WAVES = dict(max_members=2, max_resident=2)


@pytest.mark.parametrize("waves, resume_kw", [(None, None), (TWO_WAVES, None), (TWO_WAVES, {})],
                         ids=["lockstep", "two_waves", "two_waves_resumed_with_more_memory"])
def test_killed_run_resumes_bit_identical(tmp_path, waves, resume_kw):
    """Killed mid-run (with ``two_waves``: in the second wave, the first one already written), the
    same call resumes and ends bit-identical to an uninterrupted run. Resumed where memory would
    cut the population otherwise (here: one part), it keeps the cut of the run it resumes."""
    path = str(tmp_path / "run")
    kw = waves or {}
    # Every segment (10 steps) saves while it is to be killed: the kill lands 200 (two waves) or
    # 700 steps, 20 or 70 saves, before the end: seconds of margin for the 20 ms poll.
    steps = 500 if waves else 1000
    sweep_code = KILLED_SWEEP.format(steps=steps)
    code = sweep_code + f"dt.train(sweep, key=3, store={path!r}, resume_every=0.0, **{kw!r})\n"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd())
    deadline = time.monotonic() + 240
    wave = 1 if waves else 0
    try:
        while time.monotonic() < deadline:
            prog = store_progress(path)
            if prog and not prog["done"] and prog.get("wave", 0) == wave and prog["step"] >= 300:
                break
            if proc.poll() is not None:
                pytest.fail("the subprocess finished before it could be killed")
            time.sleep(0.02)
        else:
            pytest.fail("no progress committed in time")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    killed_at = store_progress(path)["step"]
    assert 0 < killed_at < steps
    with pytest.raises(ValueError, match="did not finish"):
        dt.load(path)
    ns: dict = {}
    exec(sweep_code, ns)
    resume_kw = kw if resume_kw is None else resume_kw
    resumed = dt.train(ns["sweep"], key=3, store=path, **resume_kw)
    # Bitwise against an uninterrupted run cut as the killed one was: the resumed run keeps that
    # cut whatever memory it finds (one part of 4 members against parts of 2 may differ in the
    # last float32 bits, as any two population shapes may).
    fresh = dt.train(ns["sweep"], key=3, **kw)
    for name in fresh.metrics.data_vars:
        np.testing.assert_array_equal(resumed.metrics[name].values, fresh.metrics[name].values, err_msg=name)
    for step in (steps // 2, steps):
        jax.tree.map(np.testing.assert_array_equal, resumed.params_at(step), fresh.params_at(step))
    again = dt.load(path)
    np.testing.assert_array_equal(again.metrics.test_loss.values, fresh.metrics.test_loss.values)


def test_store_refuses_a_different_sweep_and_loads_the_same(tmp_path):
    path = str(tmp_path / "run")
    sweep = small_sweep(seeds=1, axes={"lr": [0.1]})
    first = dt.train(sweep, key=0, store=path)
    with pytest.raises(ValueError, match=r"different sweep \(differs in: lr\)"):
        dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}, lr=0.3), key=0, store=path)
    with pytest.raises(ValueError, match="differs in: key"):
        dt.train(sweep, key=1, store=path)
    np.testing.assert_array_equal(dt.load(path).metrics.train_loss.values, first.metrics.train_loss.values)
    again = dt.train(sweep, key=0, store=path)  # finished: loaded, not retrained
    np.testing.assert_array_equal(again.metrics.train_loss.values, first.metrics.train_loss.values)
    replaced = dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}, lr=0.3), key=0, store=path, overwrite=True)
    assert json.loads(replaced.metrics.attrs["config"])["lr"] == 0.3


def test_tampered_store_fails_its_manifest(tmp_path):
    path = str(tmp_path / "run")
    dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}), key=0, store=path)
    import zarr
    group = zarr.open_group(path, mode="r+")
    arr = group["metrics/train_loss"]
    values = arr[...]
    values[0, 0, 1] += 1.0
    arr[...] = values
    with pytest.raises(ValueError, match="metrics/train_loss"):
        dt.load(path)
    assert dt.load(path, verify=False).metrics.train_loss.shape == values.shape


def test_attrs_carry_config_versions_and_key():
    run = dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}), key=5)
    attrs = run.metrics.attrs
    assert json.loads(attrs["config"])["optimizer"] == "momentum"
    assert "jax" in json.loads(attrs["versions"])
    assert json.loads(attrs["key"]) == dt._config.random.key_record(5)


def test_branch_twins_continue_identically():
    sweep = small_sweep(dtype="float64", axes={"lr": [0.05, 0.1]}, seeds=2)
    run = dt.train(sweep, key=4)
    twin = dt.branch(run, step=12, changes={"lr": 0.01}, where={"lr": 0.1})
    assert twin.metrics.step.values.tolist() == [18, 24]
    assert twin.metrics.branched.sel(lr=0.1).all() and not twin.metrics.branched.sel(lr=0.05).any()
    later = run.metrics.sel(step=[18, 24])
    np.testing.assert_array_equal(twin.metrics.train_loss.sel(lr=0.05).values, later.train_loss.sel(lr=0.05).values)
    assert not np.allclose(twin.metrics.train_loss.sel(lr=0.1).values, later.train_loss.sel(lr=0.1).values)
    with pytest.raises(ValueError, match="step=13"):
        dt.branch(run, step=13, changes={"lr": 0.01})
    with pytest.raises(ValueError, match="init_scale"):
        dt.branch(run, step=12, changes={"init_scale": 2.0})
