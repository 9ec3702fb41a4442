"""On several CPU devices a sweep whose step or metric calls LAPACK runs on one device, with a warning
naming the call (jaxlib's batched LAPACK kernels deadlocked on several); decided before any compute."""

import json
import os
import subprocess
import sys
import warnings

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

    culprits = _lapack.lapack_culprits((("fine", None), ("top", None)), fake_calls)
    text = "; ".join(culprits)
    assert "the measurement without metrics (the task's evaluation sets or the model: lapack_model)" in text
    assert "metric 'top' (lapack_top)" in text and "'fine'" not in text


def test_several_cpu_devices_fall_back_to_one_device_naming_the_metric(monkeypatch):
    sweep = _sweep(top=top_eig, fine=top_eig_by_products)
    monkeypatch.setattr(_train, "several_cpu_devices", lambda: True)
    with pytest.warns(RuntimeWarning, match=r"train: metric 'top' \(lapack_\w+\) calls LAPACK.*runs on one device") as rec:
        run = dt.train(sweep, key=0)
    assert "'fine'" not in str(rec[0].message)  # only the metric that calls it is named
    assert np.isfinite(run.metrics["top"].values).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        dt.train(_sweep(fine=top_eig_by_products), key=0)  # matrix products only: no fallback


def test_a_finished_store_is_loaded_without_lowering_and_branch_falls_back(monkeypatch, tmp_path):
    run = dt.train(_sweep(top=top_eig), key=0, store=str(tmp_path / "parent"))
    monkeypatch.setattr(_train, "several_cpu_devices", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        again = dt.train(_sweep(top=top_eig), key=0, store=str(tmp_path / "parent"))  # finished: loaded
    np.testing.assert_array_equal(again.metrics["top"].values, run.metrics["top"].values)
    with pytest.warns(RuntimeWarning, match=r"branch: metric 'top'"):
        child = dt.branch(run, step=3, changes={"lr": 0.01}, store=str(tmp_path / "child"))
    assert child.metrics["branched"].all()


def test_two_real_cpu_devices_run_it_on_one_with_the_same_numbers():
    code = """
import json, warnings, jax, numpy as np
from tests.engine.test_lapack import _sweep, top_eig
import dyntheory as dt
with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    run = dt.train(_sweep(top=top_eig), key=0)
msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
print(json.dumps({"devices": len(jax.devices()), "warnings": msgs,
                  "top": np.asarray(run.metrics["top"].values).tolist()}))
"""
    # This process's XLA flags (conftest's) plus two devices: the same compiler options, so the
    # same numbers.
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, XLA_FLAGS=flags), capture_output=True,
                          text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    assert any("metric 'top'" in m and "several CPU devices of one process (here: 2)" in m for m in got["warnings"])
    here = dt.train(_sweep(top=top_eig), key=0)  # one device in this process
    np.testing.assert_array_equal(np.asarray(got["top"]), here.metrics["top"].values)
