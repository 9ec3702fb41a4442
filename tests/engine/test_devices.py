"""Every core by default: the device count dyntheory gives jax, and the same numbers on it.

The test processes themselves run on one device (``DYNTHEORY_DEVICES=1`` in conftest); the
default is checked in subprocesses started without it.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dyntheory as dt
from dyntheory._platform import devices
from tests.engine._helpers import small_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cgroup(tmp_path, *, v2=None, quota=None, period="100000"):
    """Fake cgroup files under ``tmp_path``: the paths ``usable_cores`` reads."""
    paths = {"cpu_max": tmp_path / "cpu.max", "cfs_quota": tmp_path / "cfs_quota_us",
             "cfs_period": tmp_path / "cfs_period_us"}
    if v2 is not None:
        paths["cpu_max"].write_text(v2 + "\n")
    if quota is not None:
        paths["cfs_quota"].write_text(quota + "\n")
        paths["cfs_period"].write_text(period + "\n")
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.parametrize("affinity, files, cores", [
    (4, {}, 4),                                      # no cgroup files: the affinity
    (16, {"v2": "max 100000"}, 16),                  # v2, no quota
    (16, {"v2": "400000 100000"}, 4),                # v2: 4 cores' worth
    (16, {"v2": "150000 100000"}, 1),                # 1.5 cores: rounded down
    (2, {"v2": "800000 100000"}, 2),                 # quota above the affinity: the affinity
    (16, {"v2": "20000 100000"}, 1),                 # a fifth of a core: still one device
    (16, {"quota": "-1"}, 16),                       # v1, no quota
    (16, {"quota": "300000"}, 3),                    # v1: 3 cores' worth
    (16, {"quota": "600000", "period": "200000"}, 3),
    (16, {"v2": "200000 100000", "quota": "800000"}, 2),  # v2 read first
])
def test_usable_cores_honour_the_affinity_and_the_cgroup_quota(tmp_path, affinity, files, cores):
    assert devices.usable_cores(affinity=affinity, **cgroup(tmp_path, **files)) == cores


def test_usable_cores_read_this_process_affinity(monkeypatch, tmp_path):
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert devices.usable_cores(**cgroup(tmp_path)) == 3
    assert devices.usable_cores(**cgroup(tmp_path, v2="200000 100000")) == 2


def choose(environ=None, cores=8, jax_count=-1, platforms=None, accelerator=False):
    return devices.choose(environ=environ or {}, cores=cores, jax_count=jax_count, platforms=platforms,
                          accelerator=accelerator)[0]


def test_the_default_is_one_device_per_usable_core():
    assert choose(cores=8) == 8
    assert choose(cores=1) == 1
    assert choose(platforms="cpu", accelerator=True) == 8  # JAX_PLATFORMS=cpu: the CPU, plugins or not


@pytest.mark.parametrize("value, n", [("1", 1), ("3", 3), (" 2 ", 2)])
def test_the_environment_variable_sets_the_count(value, n):
    assert choose({"DYNTHEORY_DEVICES": value}) == n


@pytest.mark.parametrize("value", ["0", "-2", "all", "2.5"])
def test_a_bad_environment_variable_is_named(value):
    with pytest.raises(ValueError, match=f"DYNTHEORY_DEVICES must be a positive number of CPU devices, got '{value}'"):
        choose({"DYNTHEORY_DEVICES": value})


@pytest.mark.parametrize("kwargs", [
    dict(environ={"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false --xla_force_host_platform_device_count=4"}),
    dict(environ={"XLA_FLAGS": "--xla_force_host_platform_device_count=1", "DYNTHEORY_DEVICES": "2"}),
    dict(jax_count=3),                                   # jax.config.update("jax_num_cpu_devices", 3) first
    dict(jax_count=1, environ={"DYNTHEORY_DEVICES": "2"}),
    dict(platforms="cuda"), dict(platforms="tpu,cpu"),   # an accelerator is the default backend
    dict(accelerator=True),                              # a jax plugin installed, JAX_PLATFORMS unset
])
def test_a_count_the_user_chose_or_an_accelerator_leaves_jax_alone(kwargs):
    assert choose(**kwargs) is None


def test_other_xla_flags_are_not_a_device_count():
    assert choose({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}, cores=2) == 2
    assert devices.flag_count("--a=1 --xla_force_host_platform_device_count=12 --b") == 12


@pytest.mark.parametrize("n", [0, -1, 2.5, "x", True])
def test_use_cores_refuses_a_bad_count_before_touching_jax(n):
    with pytest.raises(ValueError, match=r"use_cores: n must be a positive number of CPU devices"):
        dt.use_cores(n)


# ---- in fresh processes, started together (each spends most of its time importing jax) ----------
def _env(**env) -> dict:
    """This environment without conftest's one-device setting, plus ``env``."""
    return {**{k: v for k, v in os.environ.items() if k != "DYNTHEORY_DEVICES"}, **env}


ENV_THEN_USE_CORES = """
    import json, warnings
    warnings.simplefilter("error")  # any warning fails the run
    import dyntheory as dt
    import jax
    from_env = jax.config.jax_num_cpu_devices  # what jax's CPU backend will read when it starts
    given = dt.use_cores(2)  # before any jax operation: replaces it
    print(json.dumps({"from_env": from_env, "given": given, "devices": [d.platform for d in jax.devices()]}))
"""

STARTED = """
    import json, warnings
    import jax, jax.numpy as jnp
    jnp.ones(1).block_until_ready()  # jax's backends start with its one CPU device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import dyntheory as dt
        from dyntheory._platform import devices
        dt.use_cores()  # the CLI calls it again: no second warning
    try:
        dt.use_cores(2)
        refused = None
    except RuntimeError as e:
        refused = str(e)
    print(json.dumps({"devices": len(jax.devices()), "warnings": [str(w.message) for w in caught],
                      "refused": refused, "same": dt.use_cores(1)}))
"""

TRAIN = """
    import json, sys, jax
    import dyntheory as dt
    from dyntheory._platform import devices
    from tests.engine._helpers import small_sweep
    run = dt.train(small_sweep(**json.loads(sys.argv[1])), key=2)
    print(json.dumps({"devices": len(jax.devices()), "cores": devices.usable_cores(),
                      "metrics": {k: v.values.tolist() for k, v in run.metrics.data_vars.items()}}))
"""
# float64, as the sharded tests of test_parts, which hold several devices to one at rtol 1e-12
TRAIN_SWEEP = dict(dtype="float64", seeds=4, axes={"lr": [0.05, 0.1], "init_scale": [0.5, 1.0]})

RUNS = {
    "env": (ENV_THEN_USE_CORES, (), _env(DYNTHEORY_DEVICES="3")),
    "started": (STARTED, (), _env(DYNTHEORY_DEVICES="2")),
    "default": (TRAIN, (json.dumps(TRAIN_SWEEP),), _env()),
}


@pytest.fixture(scope="module")
def runs():
    """Start every subprocess at once; ``runs(name)`` waits for one and returns the JSON object
    its last line prints."""
    procs = {name: subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (code, args, env) in RUNS.items()}

    def result(name):
        out, err = procs[name].communicate(timeout=300)
        assert procs[name].returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])

    yield result
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def test_import_takes_the_environment_variable_and_use_cores_replaces_it(runs):
    got = runs("env")
    assert got["from_env"] == 3
    assert got["given"] == 2 and got["devices"] == ["cpu"] * 2


def test_after_jax_started_it_warns_once_and_keeps_its_devices(runs):
    got = runs("started")
    assert got["devices"] == 1
    assert len(got["warnings"]) == 1, got["warnings"]
    assert "keeps its 1 CPU device(s) instead of 2 (DYNTHEORY_DEVICES=2)" in got["warnings"][0]
    assert "jax's backends have started with 1 CPU device(s), so it cannot have 2" in got["refused"]
    assert got["same"] == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to run the default on several devices")
def test_the_default_is_a_device_a_core_with_one_device_results(runs):
    """The default configuration (no setting at all) against one device (this process)."""
    single = dt.train(small_sweep(**TRAIN_SWEEP), key=2).metrics
    got = runs("default")
    assert got["devices"] == got["cores"] == devices.usable_cores() >= 2
    assert set(got["metrics"]) == set(single.data_vars)
    for name, values in got["metrics"].items():
        np.testing.assert_allclose(np.asarray(values, dtype=float), single[name].values.astype(float),
                                   rtol=1e-12, atol=0, err_msg=name)
