"""On several CPU devices a step or metric that calls LAPACK is refused before any compute (jaxlib's
batched LAPACK kernels deadlocked there); one device runs it."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import train as _train
from dyntheory._platform import lapack as _lapack
from dyntheory._engine import lowering
from dyntheory._engine.lowering import lapack_calls


def _weight(params):
    return next(w for w in jax.tree.leaves(params) if w.ndim == 2)


def top_eig(params, batch):
    w = _weight(params)
    return jnp.linalg.eigvalsh(w.T @ w)[-1]


def top_eig_by_products(params, batch):
    w = _weight(params)
    return dt.psd_top_eigenvalue(w.T @ w)


def _sweep(**metrics):
    return dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.MLP(widths=(8,)), steps=6,
                    batch_size=8, axes={"lr": [0.05, 0.1]}, seeds=2, record=3, metrics=metrics)


def test_lapack_calls_are_found_in_the_measurement_only():
    sweep = _sweep(top=top_eig)
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    calls = lapack_calls(fns, sweep.task, jnp.float32)
    assert calls["advance"] == []
    assert calls["measure"] and all(c.startswith("lapack_") for c in calls["measure"])
    clean = _sweep(top=top_eig_by_products)
    assert lapack_calls(_train.compiled(clean, clean.task, clean.model), clean.task, jnp.float32) == \
        {"advance": [], "measure": []}


@jax.jit
def lapack_named_helper(w):  # a function whose name starts with "lapack_" is no LAPACK call
    return jnp.sum(w * w)


def test_only_custom_call_targets_count_not_function_names():
    sweep = _sweep(norm=lambda params, batch: lapack_named_helper(_weight(params)))
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    assert "lapack_named_helper" in fns["measure"].lower(*lowering.one_member(fns, sweep.task, jnp.float32)).as_text()  # it is in the text
    assert lapack_calls(fns, sweep.task, jnp.float32) == {"advance": [], "measure": []}


def test_a_call_of_the_bare_measurement_is_not_blamed_on_every_metric(monkeypatch):
    # A model or task whose own evaluation calls LAPACK puts the call into every metric's lowering.
    def fake_calls(metrics):
        names = {name for name, _ in metrics}
        return {"advance": [], "measure": ["lapack_model"] + (["lapack_top"] if "top" in names else [])}

    with pytest.raises(ValueError) as err:
        _lapack.refuse_lapack("train", (("fine", None), ("top", None)), fake_calls)
    text = str(err.value)
    assert "the measurement without metrics (the task's evaluation sets or the model: lapack_model)" in text
    assert "metric 'top' (lapack_top)" in text and "'fine'" not in text


def test_several_cpu_devices_refuse_a_lapack_metric_before_any_compute(monkeypatch, tmp_path):
    sweep = _sweep(top=top_eig, fine=top_eig_by_products)
    monkeypatch.setattr(_train, "several_cpu_devices", lambda: True)
    with pytest.raises(ValueError, match=r"train: metric 'top' \(lapack_\w+\) calls LAPACK") as err:
        dt.train(sweep, key=0, store=str(tmp_path / "run"))
    assert "'fine'" not in str(err.value)  # only the metric that calls it is named
    assert not (tmp_path / "run").exists()  # refused before the store was made
    dt.train(_sweep(fine=top_eig_by_products), key=0)  # matrix products only: runs


def test_several_cpu_devices_refuse_a_lapack_branch_before_its_store(monkeypatch, tmp_path):
    run = dt.train(_sweep(top=top_eig), key=0, store=str(tmp_path / "parent"))  # one device: runs
    assert np.isfinite(run.metrics["top"].values).all()
    monkeypatch.setattr(_train, "several_cpu_devices", lambda: True)
    again = dt.train(_sweep(top=top_eig), key=0, store=str(tmp_path / "parent"))  # finished: loaded, not refused
    np.testing.assert_array_equal(again.metrics["top"].values, run.metrics["top"].values)
    with pytest.raises(ValueError, match=r"branch: metric 'top'"):
        dt.branch(run, step=3, changes={"lr": 0.01}, store=str(tmp_path / "child"))
    assert not (tmp_path / "child").exists()


def test_two_real_cpu_devices_refuse_it():
    code = """
import json, jax
from tests.engine.test_lapack import _sweep, top_eig
import dyntheory as dt
try:
    dt.train(_sweep(top=top_eig), key=0)
    print(json.dumps({"devices": len(jax.devices()), "error": None}))
except ValueError as e:
    print(json.dumps({"devices": len(jax.devices()), "error": str(e)}))
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    assert "metric 'top'" in got["error"] and "several CPU devices of one process (here: 2)" in got["error"]
