"""Scale-out: parts (auto-chunking), device sharding and record decimation change no numbers."""

import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import zarr
from hypothesis import given
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._engine import train as _train
from dyntheory._engine.layout import Layout
from dyntheory._engine.parts import Parts, _cut, default_resident
from dyntheory._engine.store import _row_blocks
from tests.engine._helpers import small_sweep

SWEEP = dict(dtype="float64", seeds=4, axes={"lr": [0.05, 0.1], "init_scale": [0.5, 1.0]})


def test_parts_plan():
    assert Parts(10, 6, 60).n == 1
    p = Parts(10, 6, 24)
    assert (p.axis, p.size, p.n) == (0, 4, 3)
    q = Parts(2, 100, 50)
    assert (q.axis, q.size, q.n) == (1, 25, 4)


def test_parts_are_as_even_as_the_fewest_parts_allow():
    p = Parts(250, 10, 1000)  # at most 100 groups a part: 3 parts of 84, not 100 + 100 + 50 padded to 100
    assert (p.axis, p.size, p.n, p.part_members) == (0, 84, 3, 840)
    assert Parts(1000, 10, 3300).size == 250  # 4 parts of 250 groups, none padded


@given(st.integers(1, 400), st.integers(1, 60), st.integers(1, 5000), st.sampled_from([1, 2, 4, 8]))
def test_cut_fits_uses_the_fewest_parts_and_pads_little(G, M, max_members, multiple):
    axis, size, n = _cut(G, M, max_members, multiple)
    if axis is None:
        assert G * M <= max_members and n == 1
        return
    full, other = (G, M) if axis == 0 else (M, G)
    most = max(1, max_members // other)
    assert size <= most                          # a part fits (or is one slice, the least there is)
    assert n == math.ceil(full / most)           # no more parts than the largest fitting size needs
    assert (n - 1) * size < full <= n * size     # every part holds real members
    assert n * size - full < n * multiple        # padding: under one device-multiple per part
    if -(-math.ceil(full / n) // multiple) * multiple <= most:
        assert size % multiple == 0              # still shards over the devices


def test_a_recorded_cut_is_taken_back_whatever_the_sizes_now():
    killed = Parts(250, 10, 500, resident=1000)           # 5 parts of 50 groups, 2 per wave
    now = Parts(250, 10, 10_000)                          # more memory: one part
    back = now.with_plan(json.loads(json.dumps(killed.plan())))  # through the store's JSON
    for name in ("axis", "size", "n", "part_members", "per_wave", "n_waves"):
        assert getattr(back, name) == getattr(killed, name), name
    assert [back.region(back.wave(w)) for w in range(back.n_waves)] == \
        [killed.region(killed.wave(w)) for w in range(killed.n_waves)]
    assert now.with_plan(now.plan()).n == 1


def test_waves_plan():
    p = Parts(10, 6, 24, resident=48)  # 3 parts of 4 groups, 2 of them resident at once
    assert (p.n, p.part_members, p.per_wave, p.n_waves) == (3, 24, 2, 2)
    assert [list(p.wave(w)) for w in range(p.n_waves)] == [[0, 1], [2]]
    assert p.span(p.wave(1)) == (8, 10) and p.region(p.wave(1)) == (slice(8, 10),)
    assert p.region(range(3)) == ()  # all parts: the whole population
    assert Parts(10, 6, 24, resident=1).per_wave == 1  # at least one part per wave
    assert Parts(10, 6, 24).n_waves == 1
    q = Parts(2, 100, 50, resident=100)
    assert q.region(q.wave(1)) == (slice(None), slice(50, 100))


def test_resident_members_are_sized_from_the_memory_budget():
    per, part = 10_000, 1_000
    roomy = default_resident(per, part, budget=64 << 30)
    assert roomy > 1_000_000
    assert default_resident(per, part, budget=100 << 20) == part  # no room to spare: one part at a time
    mid = default_resident(per, part, budget=(1 << 30))
    assert part <= mid < roomy


class _Device:
    def __init__(self, limit, in_use):
        self.stats = {"bytes_limit": limit, "bytes_in_use": in_use}

    def memory_stats(self):
        return self.stats


def test_device_budget_is_the_least_free_device_times_the_device_count(monkeypatch):
    from dyntheory._platform import memory as _parts

    assert _parts.device_memory() is None  # CPU devices keep no statistics: the host's memory binds
    assert _parts.memory_budget(devices=True) == _parts.memory_budget()
    devices = [_Device(16 << 30, 2 << 30), _Device(16 << 30, 6 << 30)]
    monkeypatch.setattr(_parts.jax, "local_devices", lambda: devices)
    monkeypatch.setattr(_parts.jax, "devices", lambda: devices)
    monkeypatch.setattr(_parts, "available_memory", lambda: 64 << 30)
    assert _parts.device_memory() == 2 * (10 << 30)
    assert _parts.memory_budget(devices=True) == 20 << 30
    assert _parts.memory_budget() == 64 << 30  # what lives on the host (a memory store) is the host's
    monkeypatch.setattr(_parts, "available_memory", lambda: 8 << 30)
    assert _parts.memory_budget(devices=True) == 8 << 30  # states are merged on the host too
    monkeypatch.setenv("DYNTHEORY_MEMORY_BYTES", str(1 << 30))
    assert _parts.memory_budget(devices=True) == 1 << 30


def test_a_device_smaller_than_the_host_cuts_the_population_into_waves(monkeypatch):
    """An accelerator with less free memory than the host sizes the parts and waves, so a
    population that fits the host but not the device streams instead of running out of memory."""
    from dyntheory._platform import memory as _parts

    sweep = small_sweep(**{**SWEEP, "dtype": "float32"})
    layout = Layout(sweep)
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    assert _train.make_parts(sweep, layout, fns, None).n_waves == 1
    monkeypatch.setattr(_parts, "device_memory", lambda: 4096)  # a few members' worth (2 KiB each in a step)
    monkeypatch.setenv("DYNTHEORY_STEP_BYTES", str(1))  # parts of one member of each group
    parts = _train.make_parts(sweep, layout, fns, None)
    assert (parts.axis, parts.n, parts.per_wave, parts.n_waves) == (1, 4, 1, 4)
    run = dt.train(sweep, key=0)
    monkeypatch.undo()
    ref = dt.train(sweep, key=0)
    for name in run.metrics.data_vars:
        np.testing.assert_array_equal(run.metrics[name].values, ref.metrics[name].values)


def test_parts_stream_in_waves_when_memory_is_short(monkeypatch):
    sweep = small_sweep(**{**SWEEP, "dtype": "float32"})
    layout = Layout(sweep)
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    monkeypatch.setenv("DYNTHEORY_STEP_BYTES", str(1))  # parts of one member of each group
    monkeypatch.setenv("DYNTHEORY_MEMORY_BYTES", str(1))  # room for one part at a time
    parts = _train.make_parts(sweep, layout, fns, None)
    assert (parts.axis, parts.n, parts.per_wave, parts.n_waves) == (1, 4, 1, 4)
    monkeypatch.delenv("DYNTHEORY_MEMORY_BYTES")
    assert _train.make_parts(sweep, layout, fns, None).n_waves == 1


def test_waves_are_bitwise_identical_to_lockstep(tmp_path):
    sweep = small_sweep(**SWEEP, checkpoints=[0, 12, 24])
    lockstep = dt.train(sweep, key=2, max_members=8)  # 2 parts of 2 groups, both resident
    waves = dt.train(sweep, key=2, max_members=8, max_resident=8, store=str(tmp_path / "w"))  # 2 waves
    for name in lockstep.metrics.data_vars:
        np.testing.assert_array_equal(waves.metrics[name].values, lockstep.metrics[name].values, err_msg=name)
    for step in (0, 12, 24):
        jax.tree.map(np.testing.assert_array_equal, waves.params_at(step), lockstep.params_at(step))
    dt.load(str(tmp_path / "w"))  # manifest verifies
    twin = dict(step=12, changes={"lr": 0.01}, where={"lr": 0.1})
    a, b = dt.branch(lockstep, **twin, max_members=8), dt.branch(lockstep, **twin, max_members=8, max_resident=8)
    np.testing.assert_array_equal(a.metrics.train_loss.values, b.metrics.train_loss.values)


def test_waves_along_members_agree_to_rounding():
    whole = dt.train(small_sweep(**{**SWEEP, "seeds": 1}), key=2)
    waves = dt.train(small_sweep(**{**SWEEP, "seeds": 1}), key=2, max_members=1, max_resident=2)
    np.testing.assert_allclose(waves.metrics.train_loss.values, whole.metrics.train_loss.values, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(waves.metrics.diverged_at.values, whole.metrics.diverged_at.values)


@pytest.mark.parametrize("shape", [(), (0, 3), (7,), (5, 4, 3), (2, 1, 9, 2)])
def test_manifest_hash_blocks_cover_the_array_in_order(shape):
    arr = zarr.create_array(zarr.storage.MemoryStore(), shape=shape, dtype="f8")
    data = np.arange(int(np.prod(shape)), dtype="f8").reshape(shape)
    arr[...] = data
    for nbytes in (1, 16, 100, 1 << 20):
        got = b"".join(np.ascontiguousarray(b).tobytes() for b in _row_blocks(arr, nbytes))
        assert got == data.tobytes()


def test_parts_along_groups_are_bitwise_identical_to_one_part():
    whole = dt.train(small_sweep(**SWEEP), key=2)
    parts = dt.train(small_sweep(**SWEEP), key=2, max_members=8)  # 4 groups x 4 members -> 2 parts
    for name in whole.metrics.data_vars:
        np.testing.assert_array_equal(parts.metrics[name].values, whole.metrics[name].values)


def test_parts_along_members_agree_to_rounding():
    whole = dt.train(small_sweep(**SWEEP), key=2)
    parts = dt.train(small_sweep(**{**SWEEP, "seeds": 1}), key=2, max_members=2)  # 1 group: split members
    np.testing.assert_allclose(parts.metrics.train_loss.values, whole.metrics.train_loss.isel(seed=[0]).values,
                               rtol=1e-12, atol=0)


def test_record_decimation_changes_no_numbers():
    dense = dt.train(small_sweep(**SWEEP, record=1), key=5)
    sparse = dt.train(small_sweep(**SWEEP, record=[0, 5, 13, 24]), key=5)
    for name in ("train_loss", "test_loss", "param_norm", "grad_norm"):
        np.testing.assert_array_equal(dense.metrics[name].sel(step=[0, 5, 13, 24]).values,
                                      sparse.metrics[name].values)


SHARDED = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, {root!r})
    import dyntheory as dt
    from tests.engine._helpers import small_sweep
    assert len(jax.devices()) == 4, jax.devices()
    from dyntheory._engine import train as _train
    from dyntheory._engine.layout import Layout
    sweep = small_sweep(**{sweep!r})
    # setup and init run on one device (batched LAPACK kernels deadlock when every device runs
    # them at once), one device's block of groups at a time, so the unsharded population is never
    # held whole next to its shards, and come back sharded over all four
    layout = Layout(sweep)
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    parts = _train.make_parts(sweep, layout, fns, None)
    calls = []

    def watched(name):
        def fn(*args):
            lead = jax.tree.leaves(args)[0]
            if not isinstance(lead, jax.core.Tracer):
                calls.append((name, lead.shape[0], sorted(d.id for d in lead.devices())))
            return fns[name](*args)
        return fn

    seen = dict(fns, setup=watched("setup"), init=watched("init"))
    for tree in _train.initial_parts(sweep, jax.random.key(0), sweep.task, layout, seen, parts):
        for leaf in jax.tree.leaves(tree):
            assert len(leaf.sharding.device_set) == 4, leaf.sharding
    assert layout.G % 4 == 0, layout.G
    assert sorted(calls) == sorted((n, layout.G // 4, [0]) for n in ("setup", "init") for _ in range(4)), calls
    run = dt.train(sweep, key=2)
    waves = dt.train(sweep, key=2, max_members=4, max_resident=4)  # 4 parts of a group, in 4 waves
    print(json.dumps([run.metrics.train_loss.values.tolist(), waves.metrics.train_loss.values.tolist()]))
""")


def test_sharded_over_four_devices_equals_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    code = SHARDED.format(root=os.getcwd(), sweep=SWEEP)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    sharded, waves = (np.asarray(x) for x in json.loads(out.stdout.strip().splitlines()[-1]))
    single = dt.train(small_sweep(**SWEEP), key=2).metrics.train_loss.values
    np.testing.assert_allclose(sharded, single, rtol=1e-12, atol=0)
    np.testing.assert_allclose(waves, single, rtol=1e-12, atol=0)


CHUNKED_SHARDED = textwrap.dedent("""
    import json, os, sys
    import jax
    sys.path.insert(0, {root!r})
    os.environ["DYNTHEORY_CHUNK_MEMBERS"] = sys.argv[1]
    import dyntheory as dt
    from dyntheory._engine import train as _train
    from dyntheory._engine.layout import Layout
    from tests.engine._helpers import small_sweep
    assert len(jax.devices()) == 2, jax.devices()
    sweep = small_sweep(**json.loads(sys.argv[2]))
    layout = Layout(sweep)
    fns = _train.compiled(sweep, sweep.task, sweep.model)
    parts = _train.make_parts(sweep, layout, fns, None)
    gs, members, hps = _train.initial_parts(sweep, jax.random.key(0), sweep.task, layout, fns, parts)
    hlo = fns["advance"].lower(gs[0], members[0], hps[0], 0, 6).compile().as_text()
    run = dt.train(sweep, key=2)
    print(json.dumps({{"gathers": hlo.count("all-gather("), "loss": run.metrics.train_loss.values.tolist()}}))
""")


# (sweep, chunk cap): 10 groups of 4 members sharded on groups, in chunks of 20 members (the old
# plan: chunks of 5 groups, which do not split over 2 devices); 5 groups of 6 sharded on members,
# in chunks of 3 of a group's members (old plan: 3, odd).
@pytest.mark.parametrize("sweep, cap", [
    (dict(SWEEP, seeds=10, axes={"lr": [0.05, 0.1], "init_scale": [0.5, 1.0]}), 20),
    (dict(dtype="float64", seeds=5), 3),
])
def test_chunks_of_a_sharded_population_stay_sharded(sweep, cap):
    """A chunk holds a multiple of the device count along the sharded axis, so XLA never gathers
    the population onto every device (where each then computed all of it: W3 at 1,000 members on
    2 devices ran 3.3 us per member-step against 1.6 at 10,000) and the numbers are one device's."""
    from dyntheory._engine.chunks import ChunkPlan

    layout = Layout(small_sweep(**sweep))
    G, M = layout.G, layout.M
    plan = ChunkPlan.make(G, M, cap, shards=2)
    assert not plan.trivial and ((plan.sg, plan.gc % 2) == (2, 0) if G % 2 == 0 else (plan.sm, plan.mc % 2) == (2, 0))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    code = CHUNKED_SHARDED.format(root=os.getcwd())
    out = subprocess.run([sys.executable, "-c", code, str(cap), json.dumps(sweep)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["gathers"] == 0
    single = dt.train(small_sweep(**sweep), key=2).metrics.train_loss.values
    np.testing.assert_allclose(np.asarray(got["loss"]), single, rtol=1e-12, atol=0)


def test_a_population_shards_over_the_devices_that_divide_it():
    """A part that does not divide over every device shards over as many as divide one of its
    axes (replicating it would have every device do all its work), without a warning."""
    code = """
import warnings, jax
from dyntheory._engine.parts import Parts
warnings.simplefilter("error")
size = lambda p: 1 if p.mesh is None else p.mesh.devices.size
print(size(Parts(3, 5, 100)), size(Parts(1, 7, 100)), size(Parts(8, 2, 100)), size(Parts(2, 6, 100)))
"""
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, XLA_FLAGS=flags), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["3", "1", "4", "3"]
