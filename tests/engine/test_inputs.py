"""Inputs that used to fail late, raw or not at all now fail at construction, naming field and value."""

import dataclasses
import json
import time

import jax
import numpy as np
import pytest

import dyntheory as dt
from dyntheory._config import size
from dyntheory._config.random import as_key
from tests.engine._helpers import small_sweep


FIXED = dict(x=np.ones((4, 3)), y=np.zeros((4, 2)))

LATE_OR_RAW = [
    # A test set of the wrong width was a JAX broadcast error seconds into the run.
    (lambda: dt.tasks.FixedData(**FIXED, x_test=np.ones((2, 5)), y_test=np.zeros((2, 2))),
     r"FixedData\.x_test must have rows of width d_in=3 like x, got shape \(2, 5\)"),
    (lambda: dt.tasks.FixedData(**FIXED, x_test=np.ones((2, 3)), y_test=np.zeros((2, 1))),
     r"FixedData\.y_test must have rows of width d_out=2 like y, got shape \(2, 1\)"),
    (lambda: dt.tasks.FixedData(**FIXED, x_test=np.ones((2, 3)), y_test=np.zeros((3, 2))),
     r"FixedData\.y_test must have len\(x_test\)=2 rows, got 3"),
    (lambda: dt.tasks.FixedData(x=[[1.0, 2.0], [3.0]], y=[0.0, 1.0]),
     r"FixedData\.x must be a rectangular array of numbers, got \[\[1\.0, 2\.0\], \[3\.0\]\]"),
    (lambda: dt.tasks.FixedData(x=np.ones((3, 2)), y=[0, 1, 2], task_kind="classification", n_classes=2),
     r"FixedData\.y labels must be integers in \[0, n_classes=2\), got 2 at row 2"),
    (lambda: dt.tasks.FixedData(x=np.ones((2, 2)), y=[0, 1], task_kind="classification", n_classes=2,
                                x_test=np.ones((1, 2)), y_test=[0.5]),
     r"FixedData\.y_test labels must be integers in \[0, n_classes=2\), got 0\.5 at row 0"),
    (lambda: dt.tasks.FixedData(x=np.ones((2, 2)), y=[0.0, 1.0], n_classes=3),
     r"FixedData\.n_classes is only for task_kind='classification', got n_classes=3"),
    # base_width was a ZeroDivisionError or a math domain error at init.
    (lambda: dt.models.MLP(widths=(8,), base_width=0), r"MLP\.base_width must be an integer >= 1, got 0"),
    (lambda: dt.models.MLP(widths=(8,), base_width=-5), r"MLP\.base_width must be an integer >= 1, got -5"),
    (lambda: dt.models.EmbedMLP(base_width=0), r"EmbedMLP\.base_width must be an integer >= 1, got 0"),
    (lambda: dt.models.EmbedMLP(embed_dim=0), r"EmbedMLP\.embed_dim must be an integer >= 1, got 0"),
    # '64' read as the widths ('6', '4').
    (lambda: dt.models.MLP(widths="64"), r"MLP\.widths must be a positive integer or a tuple of them, got '64'"),
    (lambda: dt.models.MLP(widths=6.4), r"MLP\.widths must be a positive integer or a tuple of them, got 6\.4"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, spectrum=2.0), r"TeacherStudent\.spectrum must be a sequence"),
    (lambda: dt.models.FlaxModel(module=object(), name="m"), r"FlaxModel\.module must be a flax\.linen Module"),
]


@pytest.mark.parametrize("make,message", LATE_OR_RAW, ids=[m[:40] for _, m in LATE_OR_RAW])
def test_bad_parts_fail_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


BAD_SWEEPS = [
    (dict(seeds=2.5), r"Sweep\.seeds must be a count >= 1 or a sequence of distinct integers >= 0, got 2\.5"),
    (dict(seeds="3"), r"Sweep\.seeds must be a count >= 1 or a sequence .* got '3'"),
    (dict(seeds=2 ** 32 + 1), r"Sweep\.seeds must be <= 2\*\*32 \(seeds become uint32 key data\), got 4294967297"),
    (dict(seeds=[0, 2 ** 32]), r"Sweep\.seeds must be a count >= 1 or distinct integers in \[0, 2\*\*32\)"),
    (dict(axes={"data_seed": [0, 2 ** 32]}),
     r"Sweep\.axes\['data_seed'\]\[1\] must be an integer in \[0, 4294967295\]"),
    (dict(axes={"widths": ["64"]}), r"Sweep\.axes\['widths'\]\[0\] = '64' is invalid: MLP\.widths must be a positive"),
    (dict(record=2.5), r"Sweep\.record must be a sequence of steps in \[0, steps=24\], got 2\.5"),
    (dict(steps=10.0), r"Sweep\.steps must be an integer >= 1, got 10\.0"),
    (dict(warmup=2.0), r"Sweep\.warmup must be an integer in \[0, 24\], got 2\.0"),
]


@pytest.mark.parametrize("overrides,message", BAD_SWEEPS, ids=[m[:40] for _, m in BAD_SWEEPS])
def test_bad_sweep_fails_at_construction(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_sweep(**overrides)


@pytest.mark.parametrize("key,message", [
    (1.5, r"key must be an int seed, a typed key \(jax\.random\.key\) or raw uint32 key data of shape \(2,\), "
          r"got 1\.5"),
    ("abc", r"key must be an int seed, .* got 'abc'"),
    (True, r"key must be an int seed, .* got True"),
    (-1, r"key must be an int seed in \[0, 2\*\*32\) \(JAX keeps 32 bits of it\), got -1"),
    (2 ** 32, r"key must be an int seed in \[0, 2\*\*32\) .* got 4294967296"),
    ([1.0, 2.0], r"key must be an int seed, .* got \[1\.0, 2\.0\]"),
])
def test_bad_keys_are_refused_before_compute(key, message):
    with pytest.raises(ValueError, match=message):
        as_key(key)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        dt.train(small_sweep(), key=key)
    assert time.perf_counter() - t0 < 1.0  # nothing compiled, nothing run


def test_key_arrays_and_raw_key_data_are_accepted_and_a_batch_of_keys_is_not():
    typed = jax.random.key(7)
    raw = np.asarray(jax.random.key_data(typed))
    for k in (typed, raw, raw.tolist(), np.int64(7), 7):
        np.testing.assert_array_equal(jax.random.key_data(as_key(k)), raw)
    with pytest.raises(ValueError, match=r"key must be a single key, got a key array of shape \(2,\)"):
        as_key(jax.random.split(typed))


def test_absurd_seed_counts_fail_in_microseconds(monkeypatch):
    """seeds=10**9 was a bare MemoryError (its tuple of seeds), seeds=10**7 an XLA out-of-memory
    error 84 s into the run; both now fail before anything is built. The bound is half the machine's
    memory, fixed here so the test does not depend on the machine."""
    monkeypatch.setattr(size, "physical_memory", lambda: 8 << 30)
    for seeds in (10 ** 7, 10 ** 9):
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=rf"Sweep is too large for this machine: 3 lr x 2 init_scale x "
                                             rf"{seeds:,} seed = {6 * seeds:,} members; their 5 record steps x 5 "
                                             rf"metrics and inputs alone need .* GiB, more than half its 8\.0 GiB"):
            small_sweep(seeds=seeds)
        assert time.perf_counter() - t0 < 0.5


def test_the_population_bound_is_half_the_memory_for_metrics_and_inputs(monkeypatch):
    """18 members x (5 record steps x 5 metrics x 4 bytes + 96 bytes of inputs): accepted with
    exactly twice that memory, refused with a byte less; float64 metrics count 8 bytes."""
    need = 18 * (5 * 5 * 4 + 96)
    monkeypatch.setattr(size, "physical_memory", lambda: 2 * need)
    small_sweep()
    with pytest.raises(ValueError, match="too large"):
        small_sweep(dtype="float64")
    monkeypatch.setattr(size, "physical_memory", lambda: 2 * need - 1)
    with pytest.raises(ValueError, match="too large"):
        small_sweep()
    monkeypatch.setattr(size, "physical_memory", lambda: None)  # unknown: no bound
    small_sweep(seeds=100)


def test_numpy_integers_are_accepted_wherever_an_int_is():
    """np.int64 fields give the same (equal, equally hashed, JSON-able) sweep as plain ints."""
    i = np.int64
    plain = small_sweep(task=dt.tasks.TeacherStudent(d_in=4, d_out=2, n_train=32),
                        model=dt.models.MLP(widths=(8, 8), base_width=8), steps=10, batch_size=4, seeds=2,
                        record=[0, 5, 10], checkpoints=[0, 10], warmup=0, axes={"data_seed": [0, 1]})
    numpy = small_sweep(task=dt.tasks.TeacherStudent(d_in=i(4), d_out=i(2), n_train=i(32)),
                        model=dt.models.MLP(widths=np.array([8, 8]), base_width=i(8)), steps=i(10),
                        batch_size=i(4), seeds=i(2), record=np.array([0, 5, 10]), checkpoints=[i(0), i(10)],
                        warmup=i(0), axes={"data_seed": np.arange(2)})
    assert numpy == plain and hash(numpy) == hash(plain)
    assert json.dumps(numpy.config()) == json.dumps(plain.config())
    assert type(numpy.steps) is int and type(numpy.model.widths[0]) is int and type(numpy.task.d_in) is int
    every = small_sweep(steps=i(12), record=i(4), seeds=np.arange(3))
    assert every.record == (0, 4, 8, 12) and every.seeds == (0, 1, 2)
    deep = dt.models.DeepLinear(depth=i(2), width=i(4))
    assert deep == dt.models.DeepLinear(depth=2, width=4)
    assert dt.tasks.ModularArithmetic(p=i(7), train_frac=np.float32(0.5)).p == 7
    assert dt.tasks.PowerLawFeatures(d=i(4), n_features=i(8), alpha=np.float32(1.0)).alpha == 1.0


def test_a_numpy_integer_sweep_trains():
    run = dt.train(small_sweep(steps=np.int64(6), batch_size=np.int64(4), seeds=np.int64(1), record=np.int64(3),
                               axes={"lr": [0.1]}), key=np.int64(0))
    assert run.metrics.train_loss.shape == (1, 1, 3) and bool(run.metrics.train_loss.notnull().all())


TS16 = dt.tasks.TeacherStudent(d_in=4, d_out=2, n_train=16)

SILENT = [
    # Two spellings of one coordinate: (64,) twice in the results.
    (dict(axes={"widths": [64, (64,)]}), r"Sweep\.axes\['widths'\] has repeated values: \[0\]=64 and \[1\]=\(64,\) "
                                         r"are both widths=\(64,\)"),
    (dict(axes={"noise": [0, 0.0]}), r"Sweep\.axes\['noise'\] has repeated values: \[0\]=0 and \[1\]=0\.0"),
    (dict(axes={"data_seed": [1, np.int64(1)]}), r"Sweep\.axes\['data_seed'\] has repeated values"),
    # Larger than the training set: silently full batch.
    (dict(task=TS16, batch_size=64), r"Sweep\.batch_size=64 is larger than the 16 training examples of TeacherStudent, "
                                     r"which would silently train full batch; use batch_size=None"),
    (dict(task=TS16, batch_size=8, axes={"n_train": [32, 4]}),
     r"Sweep\.batch_size=8 is larger than the 4 training examples of TeacherStudent at \{'n_train': 4\}"),
    (dict(task=dt.tasks.ModularArithmetic(p=5, train_frac=0.4), model=dt.models.EmbedMLP(), batch_size=11),
     r"Sweep\.batch_size=11 is larger than the 10 training examples of ModularArithmetic"),
    # An interval past the run recorded steps 0 and steps only.
    (dict(record=100), r"Sweep\.record as an interval must be in \[1, steps=24\], got 100"),
    # Booleans are not integers, and integers not booleans.
    (dict(warmup=True), r"Sweep\.warmup must be an integer in \[0, 24\], got True"),
    (dict(steps=True), r"Sweep\.steps must be an integer >= 1, got True"),
    (dict(batch_size=True), r"Sweep\.batch_size must be an integer >= 1 or None, got True"),
    (dict(seeds=True), r"Sweep\.seeds must be a count >= 1 or a sequence .* got True"),
    (dict(record=[0, True]), r"Sweep\.record steps must be integers in \[0, steps=24\], got True"),
    (dict(lr=True), r"Sweep\.lr must be a number, got True"),
    # Hyperparameters the optimizer never reads, and a warm-up the schedule never does.
    (dict(optimizer="sgd", momentum=0.5), r"Sweep\.momentum=0\.5 has no effect with optimizer='sgd': only "
                                          r"optimizer='momentum' reads momentum; leave it at its default 0\.9"),
    (dict(optimizer="sgd", axes={"momentum": [0.0, 0.5]}), r"Sweep\.axes\['momentum'\] has no effect with "
                                                           r"optimizer='sgd'"),
    (dict(optimizer="adam", momentum=0.5), r"Sweep\.momentum=0\.5 has no effect with optimizer='adam'"),
    (dict(optimizer="momentum", b1=0.5), r"Sweep\.b1=0\.5 has no effect with optimizer='momentum': only "
                                         r"optimizer='adam' or optimizer='adamw' reads b1"),
    (dict(optimizer="sgd", axes={"eps": [1e-8, 1e-6]}), r"Sweep\.axes\['eps'\] has no effect with optimizer='sgd'"),
    (dict(warmup=3), r"Sweep\.warmup=3 has no effect with schedule='constant'; only 'warmup_cosine' and 'wsd' warm up"),
    (dict(axes={"lr": 0.1}), r"Sweep\.axes\['lr'\] must be a sequence of values, got 0\.1"),
]


@pytest.mark.parametrize("overrides,message", SILENT, ids=[m[:40] for _, m in SILENT])
def test_silently_accepted_sweeps_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_sweep(**overrides)


@pytest.mark.parametrize("make,message", [
    (lambda: dt.models.MLP(widths=(8,), bias="yes"), r"MLP\.bias must be True or False, got 'yes'"),
    (lambda: dt.models.MLP(widths=(8,), bias=1), r"MLP\.bias must be True or False, got 1"),
    (lambda: dt.models.MLP(widths=(True,)), r"MLP\.widths must hold positive integers, got \(True,\)"),
    (lambda: dt.models.EmbedMLP(bias=None), r"EmbedMLP\.bias must be True or False, got None"),
    (lambda: dt.models.Linear(bias="no"), r"Linear\.bias must be True or False, got 'no'"),
    (lambda: dt.models.DeepLinear(depth=2, width=4, balanced=1), r"DeepLinear\.balanced must be True or False, got 1"),
    (lambda: dt.models.DeepLinear(depth=True, width=4), r"DeepLinear\.depth must be an integer >= 1, got True"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, n_train=8, whiten="yes"), r"TeacherStudent\.whiten must be True or False"),
    (lambda: dt.tasks.TeacherStudent(d_in=True), r"TeacherStudent\.d_in must be an integer >= 1, got True"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, noise=True),
     r"TeacherStudent\.noise must be a finite number >= 0, got True"),
    (lambda: dt.tasks.PowerLawFeatures(d=4, n_features=8, exact_test=0),
     r"PowerLawFeatures\.exact_test must be True or"),
    (lambda: dt.tasks.SparseParity(n_bits=8, k=2, n_train=True),
     r"SparseParity\.n_train must be an integer >= 1 or None"),
])
def test_booleans_must_be_bools_and_integers_must_not_be(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_what_is_still_accepted():
    """Full batch by size, momentum 0 (or its default) under plain SGD, numpy booleans, and a
    warm-up with the schedule that does one."""
    small_sweep(task=TS16, batch_size=16)
    small_sweep(optimizer="sgd", momentum=0.0)
    small_sweep(optimizer="sgd")
    small_sweep(optimizer="adamw", b1=0.8, b2=0.99, eps=1e-6, axes={"b1": [0.8, 0.9]})
    small_sweep(schedule="warmup_cosine", warmup=3)
    assert dt.models.MLP(widths=(8,), bias=np.bool_(False)).bias is False
    assert small_sweep(axes={"widths": [8, (16,), [8, 8]]}).axes == (("widths", ((8,), (16,), (8, 8))),)


def test_config_module_examples_run():
    import doctest

    from dyntheory._config import checks, fingerprint, random, schedule, sweep

    for module in (checks, fingerprint, random, schedule, sweep):
        assert doctest.testmod(module, raise_on_error=False).failed == 0, module.__name__


def test_the_sweep_parts_must_be_what_they_say():
    with pytest.raises(ValueError, match=r"Sweep\.task must be a task from dyntheory\.tasks .* got None"):
        small_sweep(task=None)
    with pytest.raises(ValueError, match=r"Sweep\.model must be a model from dyntheory\.models .* got 'mlp'"):
        small_sweep(model="mlp")
    with pytest.raises(ValueError, match=r"Sweep\.axes must be a mapping of names to values, got 3"):
        small_sweep(axes=3)
    with pytest.raises(ValueError, match=r"Sweep\.metrics must be a mapping of names to values, got \[<built-in"):
        small_sweep(metrics=[len])
    # A built sweep keeps axes and metrics as pairs; a variant of it re-validates them.
    sweep = small_sweep(metrics={"m": lambda p, b: 0.0})
    assert dataclasses.replace(sweep, lr=0.02) == small_sweep(metrics=dict(sweep.metrics), lr=0.02)
