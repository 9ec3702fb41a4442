"""Every bad input fails at construction, before any compute, naming the field and the value."""

import math

import pytest

import dyntheory as dt
from tests.engine._helpers import small_sweep

TS = dt.tasks.TeacherStudent(d_in=4)
MLP = dt.models.MLP(widths=(8,))

BAD_SWEEPS = [
    (dict(lr=-0.1), r"Sweep\.lr must be finite and in \(0\.0, inf\), got -0\.1"),
    (dict(lr=math.nan), r"Sweep\.lr .* got nan"),
    (dict(axes={"lr": [0.1, -1.0]}), r"Sweep\.axes\['lr'\]\[1\] .* got -1\.0"),
    (dict(axes={"lr": [0.1, math.inf]}), r"Sweep\.axes\['lr'\]\[1\] .* got inf"),
    (dict(axes={"lr": []}), r"Sweep\.axes\['lr'\] must not be empty"),
    (dict(axes={"widths": [(8,), (0,)]}), r"Sweep\.axes\['widths'\]\[1\] = \(0,\) is invalid: MLP\.widths"),
    (dict(axes={"colour": [1]}), r"Sweep\.axes has unknown axis 'colour'"),
    (dict(axes={"lr": [0.1, 0.1]}), r"Sweep\.axes\['lr'\] has repeated values"),
    (dict(optimizer="adamax"), r"Sweep\.optimizer must be one of .* got 'adamax'"),
    (dict(schedule="cyclic"), r"Sweep\.schedule must be one of .* got 'cyclic'"),
    (dict(steps=0), r"Sweep\.steps must be an integer >= 1, got 0"),
    (dict(batch_size=None), r"Sweep\.batch_size must be an integer for a streaming task"),
    (dict(batch_size=0), r"Sweep\.batch_size must be an integer >= 1 or None, got 0"),
    (dict(seeds=0), r"Sweep\.seeds must be >= 1, got 0"),
    (dict(seeds=[1, 1]), r"Sweep\.seeds must be a count >= 1 or distinct integers"),
    (dict(record=[0, 25]), r"Sweep\.record steps must be integers in \[0, steps=24\], got 25"),
    (dict(checkpoints=[0, 100]), r"Sweep\.checkpoints steps must be integers in \[0, steps=24\], got 100"),
    (dict(momentum=1.5), r"Sweep\.momentum must be finite and in \[0\.0, 1\.0\), got 1\.5"),
    (dict(dtype="float16"), r"Sweep\.dtype must be one of .* got 'float16'"),
    (dict(metrics={"bad name": len}), r"Sweep\.metrics names must be identifiers, got 'bad name'"),
    (dict(metrics={"x": 3}), r"Sweep\.metrics\['x'\] must be a function"),
    (dict(task=dt.tasks.ModularArithmetic(p=7)), r"task/model shape mismatch: MLP needs real-valued inputs"),
    (dict(model=dt.models.EmbedMLP()), r"task/model shape mismatch: EmbedMLP needs token inputs"),
]


@pytest.mark.parametrize("overrides,message", BAD_SWEEPS, ids=[m[:30] for _, m in BAD_SWEEPS])
def test_bad_sweep_is_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_sweep(**overrides)


BAD_PARTS = [
    (lambda: dt.models.MLP(widths=(0,)), r"MLP\.widths must hold positive integers, got \(0,\)"),
    (lambda: dt.models.MLP(widths=(8,), activation="swish2"), r"MLP\.activation must be one of .* got 'swish2'"),
    (lambda: dt.models.MLP(widths=(8,), parametrization="abc"), r"MLP\.parametrization must be one of"),
    (lambda: dt.models.DeepLinear(depth=0, width=4), r"DeepLinear\.depth must be an integer >= 1, got 0"),
    (lambda: dt.models.DeepLinear(depth=2, width=0), r"DeepLinear\.width must be an integer >= 1, got 0"),
    (lambda: dt.tasks.TeacherStudent(d_in=0), r"TeacherStudent\.d_in must be an integer >= 1, got 0"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, noise=-1.0), r"TeacherStudent\.noise must be .* got -1\.0"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, spectrum=(1.0, 2.0)), r"TeacherStudent\.spectrum must have d_in=4"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, d_out=2, singular_values=(1.0, 1.0, 1.0)),
     r"TeacherStudent\.singular_values must have 1\.\.min\(d_in, d_out\)=2 entries, got 3"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, teacher="rnn"), r"TeacherStudent\.teacher must be one of .* got 'rnn'"),
    (lambda: dt.tasks.TeacherStudent(d_in=4, whiten=True), r"TeacherStudent\.whiten needs n_train >= d_in=4"),
    (lambda: dt.tasks.ModularArithmetic(p=8, op="/"), r"ModularArithmetic\.p must be prime for op='/', got 8"),
    (lambda: dt.tasks.ModularArithmetic(p=7, op="^"), r"ModularArithmetic\.op must be one of .* got '\^'"),
    (lambda: dt.tasks.ModularArithmetic(p=7, train_frac=1.0), r"ModularArithmetic\.train_frac must leave"),
    (lambda: dt.tasks.SparseParity(n_bits=3, k=5), r"SparseParity\.k must be <= n_bits=3, got 5"),
    (lambda: dt.tasks.FixedData(x=[[1.0]], y=[[0.0], [1.0]]), r"FixedData\.y must have len\(x\)=1 rows, got 2"),
]


@pytest.mark.parametrize("make,message", BAD_PARTS, ids=[m[:30] for _, m in BAD_PARTS])
def test_bad_task_or_model_is_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_checkpoint_requests_name_the_step():
    run = dt.train(small_sweep(seeds=1, axes={"lr": [0.1]}, steps=6, record=3), key=0)
    with pytest.raises(ValueError, match=r"step=5 is not a checkpoint of this run; checkpoints: \[0, 3, 6\]"):
        run.params_at(5)
    with pytest.raises(FileNotFoundError, match="no dyntheory store at 'nowhere/at/all'"):
        dt.load("nowhere/at/all")
    with pytest.raises(TypeError, match="sweep must be a dyntheory.Sweep"):
        dt.train({"lr": 0.1}, key=0)


@pytest.mark.parametrize("kw,message", [
    (dict(max_members=0), r"train: max_members must be a positive integer or None, got 0"),
    (dict(max_resident=2.5), r"train: max_resident must be a positive integer or None, got 2\.5"),
    (dict(max_resident=True), r"train: max_resident must be a positive integer or None, got True"),
])
def test_bad_population_sizes_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        dt.train(small_sweep(), key=0, **kw)


def test_a_memory_store_too_large_for_memory_is_refused_before_compute(monkeypatch, tmp_path):
    """store=None holds every checkpoint in memory: past half the budget it is refused up front
    (and the same run into a directory is accepted)."""
    monkeypatch.setenv("DYNTHEORY_MEMORY_BYTES", str(20_000))  # ~20 kB: less than 18 members x 24 checkpoints
    sweep = small_sweep(checkpoints=list(range(25)))
    with pytest.raises(ValueError, match=r"store=None keeps all 25 checkpoints .* pass store=<a directory>"):
        dt.train(sweep, key=0)
    monkeypatch.setenv("DYNTHEORY_MEMORY_BYTES", str(1 << 30))
    run = dt.train(sweep, key=0, store=str(tmp_path / "run"), max_members=6, max_resident=6)
    assert run.metrics.train_loss.notnull().all()
