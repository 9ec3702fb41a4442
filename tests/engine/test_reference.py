"""The optimized population (``dt.train``) against the readable reference (``_engine.reference``).

Finding (jax/jaxlib 0.10.2, XLA:CPU, AVX2 with FMA): whole runs agree to rounding, not bit for
bit, even in float64 at equal population shapes. The member's math is the same; the two programs
around it are compiled differently, and each cause below was seen in isolation:

- Summation order follows fusion. The reference samples its batch inside the step's program and
  XLA fuses the sampler into the first layer's multiply-and-sum; the engine samples one step ahead
  and reads the batch from memory. ``jnp.sum(x, axis=1)`` over the same 4 numbers then differs
  by an ulp, while ``x`` itself is bitwise equal. (The engine's measurement samples its evaluation
  batch inside its program, as the reference does, and is then the one to differ from a
  measurement given a stored batch.) The full-batch parity step below differs this way too (its
  output bias after one step, even without FMA).
- Multiply-adds contract to FMA where fusion puts them in one loop (XLA:CPU lets LLVM contract).
  Adam's step differs from the reference's in the first layer's bias at step 1; built for a CPU
  without FMA (``XLA_FLAGS=--xla_cpu_max_isa=AVX``) the same comparison is bitwise.
- A layer above ``SMALL_LAYER`` entries is a dot. Sharing a group's batch turns its weight
  gradient into one product over all the group's members (``x.T`` times their stacked errors)
  instead of one per member, and XLA:CPU's kernel for that shape sums over the batch in another
  order (the 16x32 first layer below: 6e-17 absolute on a gradient entry).

So the guarantees tested here are:

1. Whole runs, recorded metrics and final parameters: float64 within 1e-12 relative (measured: at
   most 9e-16), float32 within 1e-5 (measured: 8e-7), ``diverged_at`` and float64 accuracies
   exactly; chunked (``DYNTHEORY_CHUNK_MEMBERS``) the same. A slip in the semantics moves the
   numbers by far more: another key's streams, by over 1e6 times the float64 tolerance.
2. One step, bitwise, float64 and float32, for sampled-batch SGD with every layer a
   multiply-and-sum: from the same state, the engine's ``advance`` over one step equals
   ``jit(vmap(member_step))`` over flattened members, each given its own copy of its group's
   stored batch. Sharing the batch by ``vmap(in_axes=None)``, chunking and the step loop change
   no bit of a member's step there. Both sides are compiled at the engine's options
   (``_platform.compile.jit``); under plain ``jax.jit`` even a measurement given the same inputs
   differs in its last bit (YNNPACK's reductions move the 1,024-point test loss, LLVM's default
   level the train loss).
"""

import dataclasses
import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._engine import reference
from dyntheory._engine import train as _train
from dyntheory._engine.layout import Layout
from dyntheory._platform.compile import jit as engine_jit

RTOL = {"float64": 1e-12, "float32": 1e-5}
TS = dt.tasks.TeacherStudent(d_in=4, d_out=2, noise=0.1)
SMALL = dt.models.MLP(widths=(8,), activation="tanh")  # 4x8 and 8x2: every layer a multiply-and-sum
SWEEPS = {
    "sgd": dict(task=TS, model=SMALL, optimizer="sgd", batch_size=8, axes={"lr": [0.05, 0.1, 0.2]}, seeds=2),
    "adam": dict(task=TS, model=SMALL, optimizer="adam", batch_size=8,
                 axes={"lr": [1e-2, 3e-2], "init_scale": [0.5, 1.0]}, seeds=[0, 4]),
    # classification, a finite training set, full batch (the step samples nothing)
    "parity": dict(task=dt.tasks.SparseParity(n_bits=4, k=2, n_train=32, n_test=64), model=SMALL,
                   optimizer="momentum", batch_size=None, axes={"lr": [0.1, 0.3]}, seeds=3),
    # a 16x32 first layer: a dot, shared by a group's members in the engine
    "dot": dict(task=dt.tasks.TeacherStudent(d_in=16, d_out=1, noise=0.1),
                model=dt.models.MLP(widths=(32,), activation="tanh"), optimizer="sgd", batch_size=16,
                axes={"lr": [0.05, 0.1]}, seeds=2),
}


def sweep_of(name: str, dtype: str, **overrides) -> dt.Sweep:
    return dt.Sweep(**{**SWEEPS[name], "steps": 8, "record": 4, "checkpoints": [8], "dtype": dtype, **overrides})


@pytest.fixture
def chunks(monkeypatch):
    """Set the engine's chunk size (None: its default) for the steps traced after the call."""
    def use(members):
        _train._compiled.cache_clear()  # the chunk size is read when a step is traced
        if members is None:
            monkeypatch.delenv("DYNTHEORY_CHUNK_MEMBERS", raising=False)
        else:
            monkeypatch.setenv("DYNTHEORY_CHUNK_MEMBERS", str(members))
    yield use
    _train._compiled.cache_clear()


@pytest.mark.parametrize("name, dtype, chunk", [
    ("sgd", "float64", None), ("adam", "float64", 3), ("parity", "float64", 4), ("dot", "float64", None),
    ("sgd", "float32", 2), ("adam", "float32", None),
])
def test_train_records_what_the_reference_records(chunks, name, dtype, chunk):
    chunks(chunk)
    sweep = sweep_of(name, dtype)
    run = dt.train(sweep, key=3)
    (ref,) = reference.train(sweep, key=3)
    assert sorted(ref["metrics"]) == sorted(sweep.metric_names)
    for metric, want in ref["metrics"].items():
        got = run.metrics[metric].values
        if metric.endswith("_acc") and dtype == "float64":
            np.testing.assert_array_equal(got, want, err_msg=metric)  # no logit near a tie moves
        else:
            np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=0, err_msg=metric)
    np.testing.assert_array_equal(run.metrics.diverged_at.values, ref["diverged_at"])
    got, want = run.params_at(sweep.steps), ref["params"]
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        # relative to the leaf's scale: a bias near zero carries its larger operands' rounding
        np.testing.assert_allclose(a, b, rtol=0, atol=RTOL[dtype] * np.abs(b).max())


def test_a_wrong_stream_is_not_within_the_tolerance():
    """The tolerance above is rounding, not slack: another data stream moves the numbers by far more."""
    sweep = sweep_of("sgd", "float64")
    run = dt.train(sweep, key=3)
    (ref,) = reference.train(sweep, key=4)
    rel = np.abs(run.metrics.train_loss.values - ref["metrics"]["train_loss"]) / ref["metrics"]["train_loss"]
    assert rel.max() > 1e6 * RTOL["float64"]


# ---- one step, bitwise ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def reference_step(sweep_static: tuple):
    """The reference's data stream, batch and step of one static configuration, flattened members,
    compiled at the engine's options (cached: hypothesis draws only traced values)."""
    sweep, task, model = sweep_static
    member = _train.population(sweep, task, model)
    return (engine_jit(jax.vmap(member.group_setup)), engine_jit(jax.vmap(member.group_batch, in_axes=(0, None))),
            engine_jit(jax.vmap(member.member_step, in_axes=(0, 0, 0, None))))


def steps_bitwise(sweep: dt.Sweep, key: int) -> int:
    """Step the engine and the reference from the same state, one step at a time; assert every
    leaf of every member's state bitwise equal after each step; return the steps compared."""
    (_, task, model), = sweep.static_groups()
    layout, root = Layout(sweep), jax.random.key(key)
    fns = _train.compiled(sweep, task, model)
    static = dataclasses.replace(sweep, axes={}, seeds=1)  # the compiled configuration, no values
    setup, batch, step = reference_step((static, task, model))
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    with jax.enable_x64(sweep.dtype == "float64"):
        hps, gargs, init_keys = _train.population_inputs(sweep, root, task, layout)
        gs, members = fns["setup"](*gargs), fns["init"](init_keys, hps)
        flat_gargs, _, flat_hps = reference.flat_inputs(sweep, root, task, layout)
        flat_gs = setup(*flat_gargs)
        for t in range(sweep.steps):
            want = step(jax.tree.map(flat, members), flat_hps, batch(flat_gs, t), t)
            members = fns["advance"](gs, members, hps, t, t + 1)
            for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(members), jax.tree.leaves(want)):
                np.testing.assert_array_equal(flat(a), b, err_msg=f"step {t}: {jax.tree_util.keystr(path)}")
    return sweep.steps


@pytest.mark.parametrize("dtype, chunk", [("float64", None), ("float64", 2), ("float32", 3)])
def test_one_sgd_step_is_bitwise_the_reference_step(chunks, dtype, chunk):
    # chunk 2: parts of a group (each samples the group's batch); 3: one whole group per chunk
    chunks(chunk)
    assert steps_bitwise(sweep_of("sgd", dtype, steps=5, record=[0, 5], checkpoints=[5]), key=1) == 5


@settings(max_examples=5)
@given(lrs=st.lists(st.floats(1e-3, 0.5), min_size=3, max_size=3, unique=True),
       scales=st.lists(st.floats(0.1, 3.0), min_size=2, max_size=2, unique=True), key=st.integers(0, 2 ** 31 - 1))
def test_one_sgd_step_is_bitwise_the_reference_step_at_any_hyperparameters(lrs, scales, key):
    """Hyperparameters are traced: every draw reuses one compilation of each side."""
    sweep = sweep_of("sgd", "float64", steps=3, record=[0, 3], checkpoints=[3],
                     axes={"lr": lrs, "init_scale": scales})
    steps_bitwise(sweep, key)
