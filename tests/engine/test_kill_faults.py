"""Fault injection: kill -9 at random moments and inside the store's writes; every resumed store
ends bit-identical to an uninterrupted run (slow: about 25 subprocess runs)."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import dyntheory as dt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SWEEP = textwrap.dedent("""
    import dyntheory as dt
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4, d_out=1, noise=0.1),
                     model=dt.models.MLP(widths=(8,), activation="tanh"), optimizer="adam", lr=1e-2,
                     steps=300, batch_size=8, axes={"lr": [1e-2, 3e-2]}, seeds=3, record=5,
                     checkpoints=list(range(0, 301, 20)))
""")
# Kill the child inside one of the store's writes: at the n-th call of a method, after part of its
# work (half the leaves of a state, the marker computed but not set, the resume slots deleted but
# the manifest not written).
INJECT = textwrap.dedent("""
    import os, signal
    from dyntheory._engine import store as _store
    S = _store.Store
    where, nth = {where!r}, {nth}
    calls = [0]
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    def hit():
        calls[0] += 1
        return calls[0] == nth
    if where == "write_state":
        orig = S.write_state
        def write_state(self, prefix, leaves, *a, **k):
            if hit():
                half = dict(list(leaves.items())[: len(leaves) // 2])
                orig(self, prefix, half, *a, **k)
                die()
            return orig(self, prefix, leaves, *a, **k)
        S.write_state = write_state
    elif where == "commit_progress":
        orig = S._set_meta
        def _set_meta(self, **changes):
            if "progress" in changes and hit():
                die()
            return orig(self, **changes)
        S._set_meta = _set_meta
    elif where == "finish":
        def finish(self):
            if "resume" in self.group:
                del self.group["resume"]
            die()
        S.finish = finish
""")


def _child(path: str, inject: str = "") -> subprocess.Popen:
    code = SWEEP + inject + f"dt.train(sweep, key=7, store={path!r}, resume_every=0.0)\n"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def _same(a: dt.Run, b: dt.Run) -> None:
    for name in b.metrics.data_vars:
        np.testing.assert_array_equal(a.metrics[name].values, b.metrics[name].values, err_msg=name)
    for step in b.checkpoints:
        jax.tree.map(np.testing.assert_array_equal, a.params_at(step), b.params_at(step))


@pytest.mark.slow
def test_kill_9_anywhere_then_resume_is_bit_identical(tmp_path):
    ns: dict = {}
    exec(SWEEP, ns)
    fresh = dt.train(ns["sweep"], key=7)
    t0 = time.monotonic()
    assert _child(str(tmp_path / "timing")).wait() == 0
    duration = time.monotonic() - t0
    rng = random.Random(0)
    scenarios = [("write_state", n) for n in (1, 3, 8, 20)] + [("commit_progress", n) for n in (1, 5, 30)] + \
        [("finish", 1)] + [("random", k) for k in range(12)]
    outcomes = {"killed": 0, "finished_before_kill": 0, "kills_in_a_row": 0}
    for i, (where, n) in enumerate(scenarios):
        path = str(tmp_path / f"run{i}")
        kills = 1 if where != "random" else rng.choice([1, 1, 2, 3])
        for k in range(kills):
            if where == "random":
                proc = _child(path)
                time.sleep(rng.uniform(0.3, duration))
                proc.send_signal(signal.SIGKILL)
                code = proc.wait()
            else:
                code = _child(path, INJECT.format(where=where, nth=n)).wait()
            assert code in (0, -signal.SIGKILL), f"the child failed (exit {code}), not killed"
            outcomes["killed" if code == -signal.SIGKILL else "finished_before_kill"] += 1
            outcomes["kills_in_a_row"] += k > 0
        resumed = dt.train(ns["sweep"], key=7, store=path)
        _same(resumed, fresh)
        _same(dt.load(path), fresh)
    print(f"fault injection: {len(scenarios)} stores, {outcomes}")
    assert outcomes["killed"] >= 20
