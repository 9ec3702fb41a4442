"""A metric is identified by what it computes: its code and the values it closes over."""

import json

import jax
import numpy as np
import pytest

import dyntheory as dt
from tests.engine._helpers import small_sweep


def _function(source: str, name: str = "metric", **namespace):
    """``name`` from ``source`` run in a fresh module namespace (same module and name every time)."""
    ns = {"__name__": "user_metrics", "jnp": jax.numpy, "np": np, **namespace}
    exec(compile(source, "user_metrics.py", "exec"), ns)
    return ns[name]


def _fp(fn):
    return small_sweep(metrics={"m": fn}).config()["metrics"]["m"]


def test_a_metric_is_identified_by_its_code_and_what_it_closes_over():
    base = _fp(_function("def metric(p, b):\n    return jnp.sum(b.x)"))
    assert base["metric"] == "user_metrics.metric"
    assert _fp(_function("def metric(p, b):\n    return jnp.sum(b.x)")) == base  # the same code again
    assert _fp(_function("def metric(p, b):\n    return jnp.mean(b.x)"))["fingerprint"] != base["fingerprint"]
    assert _fp(_function("def metric(p, b):\n    return 2.0 * jnp.sum(b.x)"))["fingerprint"] != base["fingerprint"]
    # Closed-over values, defaults and module constants; arrays by their bytes.
    make = "def make(c):\n    return lambda p, b: c * jnp.sum(b.x)"
    scaled = _function(make, "make")
    assert _fp(scaled(np.ones(3))) == _fp(scaled(np.ones(3)))
    assert _fp(scaled(np.ones(3)))["fingerprint"] != _fp(scaled(np.zeros(3)))["fingerprint"]
    assert _fp(scaled(1.0))["fingerprint"] != _fp(scaled(2.0))["fingerprint"]
    default = "def metric(p, b, k=3):\n    return jnp.sum(b.x) * k"
    assert _fp(_function(default)) != _fp(_function(default.replace("k=3", "k=4")))
    const = "SCALE = {}\ndef metric(p, b):\n    return SCALE * jnp.sum(b.x)"
    assert _fp(_function(const.format(1.0))) != _fp(_function(const.format(2.0)))
    # A helper's body counts, through the metric that calls it (recursion terminates).
    helper = ("def helper(x, n=1):\n    return {} if n == 0 else helper(x, n - 1)\n"
              "def metric(p, b):\n    return helper(b.x)")
    assert _fp(_function(helper.format("jnp.sum(x)"))) != _fp(_function(helper.format("jnp.max(x)")))


def test_a_dataclass_metric_is_identified_by_its_fields_and_its_class_code():
    source = '''
import dataclasses
@dataclasses.dataclass(frozen=True)
class Scaled:
    scale: float
    name: str = "scaled"
    def init(self, params, key):
        return ()
    def __call__(self, state, ctx):
        return self.scale * jnp.sum(ctx.batch.x), state
'''
    cls = _function(source, "Scaled")
    base = _fp(cls(scale=1.0))["fingerprint"]
    assert _fp(cls(scale=1.0))["fingerprint"] == base
    assert _fp(cls(scale=2.0))["fingerprint"] != base
    assert _fp(_function(source.replace("jnp.sum", "jnp.mean"), "Scaled")(scale=1.0))["fingerprint"] != base
    assert _fp(_function(source, "Scaled")(scale=1.0))["fingerprint"] == base  # the class made again
    # Built-in metrics: by their fields.
    assert _fp(dt.Sharpness(iters=20)) == _fp(dt.Sharpness(iters=20))
    assert _fp(dt.Sharpness(iters=20))["fingerprint"] != _fp(dt.Sharpness(iters=10))["fingerprint"]


def test_a_metric_label_carries_no_memory_address():
    fn = _function("def metric(p, b):\n    return jnp.sum(b.x)")
    wrapped = dt.AtSteps(dt.FnMetric("inner", fn), (0, 6))
    label = _fp(wrapped)["metric"]
    assert "fn=<function metric>" in label and "0x" not in label  # was "<function metric at 0x7f...>"
    assert _fp(wrapped) == _fp(dt.AtSteps(dt.FnMetric("inner", fn), (0, 6)))


METRIC_FILE = '''
import dataclasses
import jax.numpy as jnp
import numpy as np

SCALE = {scale}
WEIGHTS = np.arange(4.0)


def helper(x):
    return {body}


def batch_norm(params, batch):
    return SCALE * helper(batch.x) + jnp.sum(WEIGHTS)


@dataclasses.dataclass(frozen=True)
class Offset:
    offset: float = 1.0
    name: str = "offset"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        return {method} + self.offset, state
'''

FINGERPRINTS = '''
import importlib.util, json, sys
import dyntheory as dt
out = []
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("user_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["user_metrics"] = mod
    spec.loader.exec_module(mod)
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(), steps=4, batch_size=4,
                     metrics={"norm": mod.batch_norm, "offset": mod.Offset()})
    out.append(sweep.config()["metrics"])
print(json.dumps(out))
'''


def test_fingerprints_agree_across_processes_and_follow_the_source(tmp_path):
    """The same source gives the same fingerprints here and in a fresh process (another hash
    seed); a changed helper body, module constant or method body changes them there too."""
    import os
    import subprocess
    import sys

    base = dict(scale="2.0", body="jnp.sum(x)", method="jnp.sum(ctx.batch.x)")
    variants = {"base": base, "body": {**base, "body": "jnp.max(x)"}, "constant": {**base, "scale": "3.0"},
                "method": {**base, "method": "jnp.mean(ctx.batch.x)"}}
    paths = []
    for label, fields in variants.items():
        (tmp_path / label).mkdir()
        path = tmp_path / label / "user_metrics.py"
        path.write_text(METRIC_FILE.format(**fields))
        paths.append(str(path))
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", FINGERPRINTS, *paths], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    there = dict(zip(variants, json.loads(done.stdout)))
    here = dict(zip(variants, json.loads(_in_this_process(paths))))
    assert here == there
    fp = {label: {k: v["fingerprint"] for k, v in m.items()} for label, m in there.items()}
    assert fp["body"]["norm"] != fp["base"]["norm"] and fp["body"]["offset"] == fp["base"]["offset"]
    assert fp["constant"]["norm"] != fp["base"]["norm"]
    assert fp["method"]["offset"] != fp["base"]["offset"] and fp["method"]["norm"] == fp["base"]["norm"]
    assert {m["norm"]["metric"] for m in there.values()} == {"user_metrics.batch_norm"}  # one name throughout


def _in_this_process(paths) -> str:
    import contextlib
    import io
    import sys

    buf = io.StringIO()
    old = sys.argv, sys.modules.get("user_metrics")
    sys.argv = ["-c", *paths]
    try:
        with contextlib.redirect_stdout(buf):
            exec(FINGERPRINTS, {"__name__": "__main__"})
    finally:
        sys.argv = old[0]
        if old[1] is None:
            sys.modules.pop("user_metrics", None)
    return buf.getvalue()


def test_a_changed_metric_body_is_not_served_from_the_old_store(tmp_path):
    """The bug: a rerun with a changed body under the same name read the old stored values."""
    store = str(tmp_path / "run")
    sweep = lambda fn: small_sweep(steps=2, record=1, seeds=1, axes={"lr": [0.1]}, metrics={"m": fn})  # noqa: E731
    first = dt.train(sweep(_function("def metric(p, b):\n    return jnp.sum(b.x)")), key=0, store=store)
    again = dt.train(sweep(_function("def metric(p, b):\n    return jnp.sum(b.x)")), key=0, store=store)
    np.testing.assert_array_equal(first.metrics.m.values, again.metrics.m.values)
    with pytest.raises(ValueError, match=r"holds a different sweep \(differs in: metrics\)"):
        dt.train(sweep(_function("def metric(p, b):\n    return 2 * jnp.sum(b.x)")), key=0, store=store)
