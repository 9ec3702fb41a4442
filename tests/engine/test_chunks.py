"""Cache-sized member chunks inside the compiled step change no numbers beyond rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import train as _train
from dyntheory._engine.chunks import ChunkPlan
from tests.engine._helpers import small_sweep


@pytest.mark.parametrize("G, M, cap", [(4, 6, 4), (4, 2, 4), (3, 5, 2), (1, 7, 3), (5, 3, 100), (6, 4, 8),
                                       (5, 6, 4), (12, 10, 50), (7, 9, 5)])
@pytest.mark.parametrize("shards", [1, 2, 3])  # devices the population is sharded over
def test_chunk_plan_split_merge_round_trip(G, M, cap, shards):
    plan = ChunkPlan.make(G, M, cap, shards=shards)
    assert plan.gc * plan.mc <= max(cap, shards) or plan.trivial
    assert plan.ng * plan.gc >= G and plan.nm * plan.mc >= M
    if not plan.trivial:  # every chunk holds an equal share of each device's block
        assert plan.gc % plan.sg == 0 and plan.mc % plan.sm == 0
        assert (plan.sg, plan.sm) == ((shards, 1) if G % shards == 0 else (1, shards) if M % shards == 0 else (1, 1))
    x = np.arange(G * M * 2, dtype=np.float32).reshape(G, M, 2)
    parts = plan.split(x)
    if not plan.trivial:
        assert parts.shape[:4] == (plan.ng, plan.nm, plan.gc, plan.mc)
        # each chunk is made of one equal run of every device's block (or is one contiguous run)
        block = G // plan.sg if plan.sg > 1 else None
        if block is not None and plan.ng * plan.gc == G:
            rows = np.asarray(parts)[:, 0, :, 0, 0] // (M * 2)  # group index of each chunk entry
            for chunk in rows:
                assert sorted(set(chunk // block)) == list(range(plan.sg))
    np.testing.assert_array_equal(np.asarray(plan.merge(parts)), x)
    # each chunk's group states are those of the groups its members belong to
    gid = np.repeat(np.arange(G)[:, None], M, axis=1)
    if not plan.trivial:
        np.testing.assert_array_equal(np.asarray(plan.split(gid))[:, 0, :, 0],
                                      np.asarray(plan.split_groups(np.arange(G))))


def _run(monkeypatch, chunk, **kw):
    _train._compiled.cache_clear()  # the chunk size is read when a step is traced
    if chunk is None:
        monkeypatch.delenv("DYNTHEORY_CHUNK_MEMBERS", raising=False)
    else:
        monkeypatch.setenv("DYNTHEORY_CHUNK_MEMBERS", str(chunk))
    try:
        return dt.train(small_sweep(dtype="float64", **kw), key=3)
    finally:
        _train._compiled.cache_clear()


# 4 groups of 6 members: chunks of 3 members of one group (cap 4), or of 2 whole groups (cap 12)
@pytest.mark.parametrize("batch_size", [8, None])  # sampled batches; full batch
def test_chunked_step_equals_one_chunk(monkeypatch, batch_size):
    seeds = 4
    task = dt.tasks.TeacherStudent(d_in=4, d_out=2, noise=0.1, n_train=16 if batch_size is None else None)
    whole = _run(monkeypatch, None, task=task, batch_size=batch_size, seeds=seeds)
    for chunk, (gc, mc) in ((4, (1, 3)), (12, (2, 6))):
        plan = ChunkPlan.make(seeds, 6, chunk)
        assert not plan.trivial and (plan.gc, plan.mc) == (gc, mc)
        chunked = _run(monkeypatch, chunk, task=task, batch_size=batch_size, seeds=seeds)
        for name in ("train_loss", "test_loss", "param_norm", "grad_norm", "update_norm"):
            np.testing.assert_allclose(chunked.metrics[name].values, whole.metrics[name].values,
                                       rtol=1e-12, atol=1e-14, err_msg=f"{name}, chunk {chunk}")
        got, want = jax.tree.leaves(chunked.params_at(step=24)), jax.tree.leaves(whole.params_at(step=24))
        assert len(got) == len(want) > 0
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)


def test_cpu_tunings_stay_on_the_cpu(monkeypatch):
    """Cache-sized chunks and the LLVM level were measured on a CPU; off it a chunk is bounded by
    its working memory alone (a GPU wants the most members per kernel) and no options are set."""
    from dyntheory._platform import compile as _compile
    from dyntheory._platform import chunks as _step
    from dyntheory._platform.memory import CHUNK_RESERVE

    for name in ("DYNTHEORY_CHUNK_MEMBERS", "DYNTHEORY_CHUNK_BYTES"):
        monkeypatch.delenv(name, raising=False)
    assert _step.chunk_cap(1_000) == _step.CHUNK_MEMBERS
    assert _step.chunk_cap(1 << 20) == _step.CHUNK_BYTES >> 20
    assert _compile.compiler_options()["xla_backend_optimization_level"] == 1
    monkeypatch.setattr(_step.jax, "device_count", lambda: 2)  # small chunks pay on several CPU devices
    monkeypatch.setattr(_step.jax, "local_device_count", lambda: 2)
    assert _step.chunk_cap(1_000) == 2 * _step.CHUNK_MEMBERS_PER_CPU_DEVICE
    monkeypatch.setattr(_step, "l2_bytes", lambda: 4 << 20)  # and their products' outputs fit in L2
    monkeypatch.setattr(_step, "usable_cores", lambda: 2)
    assert _step.chunk_cap(1_000, largest_dot_bytes=128 << 10) == 32
    monkeypatch.setattr(_step, "usable_cores", lambda: 16)  # 8 cores a device: unmeasured, no bound
    assert _step.chunk_cap(1_000, largest_dot_bytes=128 << 10) == 2 * _step.CHUNK_MEMBERS_PER_CPU_DEVICE
    monkeypatch.setattr(_step, "usable_cores", lambda: 2)
    assert _step.chunk_cap(1_000, largest_dot_bytes=8 << 10) == 2 * _step.CHUNK_MEMBERS_PER_CPU_DEVICE
    assert _step.chunk_cap(1_000, chunk_members=100, largest_dot_bytes=128 << 10) == 100  # the user's size
    monkeypatch.setattr(_step.jax, "device_count", lambda: 1)
    monkeypatch.setattr(_step.jax, "local_device_count", lambda: 1)
    assert _step.chunk_cap(1_000, largest_dot_bytes=128 << 10) == _step.CHUNK_MEMBERS  # one device: no L2 bound
    monkeypatch.setattr(_step.jax, "device_count", lambda: 2)
    monkeypatch.setattr(_step.jax, "local_device_count", lambda: 2)
    monkeypatch.setattr(_step.jax, "default_backend", lambda: "gpu")
    assert _step.chunk_cap(1_000) == CHUNK_RESERVE // 1_000 > 100 * _step.CHUNK_MEMBERS
    assert _step.chunk_cap(1_000, largest_dot_bytes=128 << 10) == CHUNK_RESERVE // 1_000  # no L2 bound off the CPU
    assert _compile.compiler_options() == {}
    monkeypatch.setenv("DYNTHEORY_CHUNK_MEMBERS", "64")  # the user's setting holds everywhere
    assert _step.chunk_cap(1_000) == 64


@pytest.mark.parametrize("fn, want", [
    (lambda x: jnp.tanh(x @ jnp.ones((16, 32))).sum(), 1024 * 32 * 4),
    (lambda x: (x[:, :, None] * jnp.ones((16, 8))).sum(1).sum(), 0),  # multiply-and-sum: no dot
    (lambda x: jax.lax.fori_loop(0, 3, lambda i, y: y @ jnp.ones((16, 16)), x).sum(), 1024 * 16 * 4),
])
def test_largest_dot_output_is_counted_inside_loops_too(fn, want):
    from dyntheory._platform.chunks import jaxpr_bytes

    jaxpr = jax.make_jaxpr(fn)(jnp.ones((1024, 16))).jaxpr
    assert jaxpr_bytes(jaxpr, largest_dot=True) == want


@pytest.mark.parametrize("l2, shared, want_per_core", [("2048K", "0", 2 << 20), ("4M", "0-3", 1 << 20),
                                                       ("1024K", "0,2", 512 << 10)])
def test_l2_size_is_read_from_sysfs(tmp_path, l2, shared, want_per_core):
    from dyntheory._platform.chunks import l2_bytes, usable_cores

    for i, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "64K"),
                                             ("2", "Unified", l2), ("3", "Unified", "480M")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
            (d / name).write_text(value + "\n")
    cores = usable_cores()
    sharing = {"0": 1, "0-3": 4, "0,2": 2}[shared]
    assert l2_bytes(str(tmp_path)) == want_per_core * sharing * max(1, cores // sharing)
    assert l2_bytes(str(tmp_path / "none")) is None
