"""The public task protocol ``dt.tasks.Task``: a user task trains like a built-in one, a task that
lacks a piece is refused when the Sweep is built (naming the piece), a batch of the wrong size is
refused before compute, and ``SampledData`` draws a finite dataset per data stream."""

import dataclasses
import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import reference
from dyntheory._engine.member import Member
from dyntheory._config.optim import OptSpec
from dyntheory.tasks import _base, _sampled


def _spec(self):
    return dt.tasks.Spec(self.d_in, 1)


def _setup(self, task_key, noise_key, tp):
    return {"w": jax.random.normal(task_key, (self.d_in, 1))}


def _sample(state, key, n, d_in):
    x = jax.random.normal(key, (n, d_in))
    return dt.tasks.Batch(x, x @ state["w"])


def _batch(self, state, tp, data_key, noise_key, step, batch_size):
    return _sample(state, jax.random.fold_in(data_key, step), batch_size, self.d_in)


def _eval_sets(self, state, tp):
    return {"train": None, "test": _sample(state, jax.random.key(7), 32, self.d_in)}


def _config(self):
    return {"type": "Duck", "d_in": self.d_in}


# Every piece of the protocol, on a class that does not subclass dt.tasks.Task.
PIECES = {"kind": "regression", "traced_fields": (), "finite": False, "spec": _spec, "setup": _setup,
          "batch": _batch, "eval_sets": _eval_sets, "config": _config}


def duck(without=(), **replace):
    namespace = {k: v for k, v in PIECES.items() if k not in without} | replace
    namespace["__annotations__"] = {"d_in": int}
    namespace["d_in"] = 3
    return dataclasses.dataclass(frozen=True, kw_only=True)(type("Duck", (), namespace))()


def sweep(task, **kw):
    return dt.Sweep(task=task, model=dt.models.Linear(), **({"steps": 4, "batch_size": 8} | kw))


def test_a_task_with_every_piece_is_accepted_without_subclassing():
    assert sweep(duck()).metric_names[:2] == ("train_loss", "test_loss")


@pytest.mark.parametrize("piece", sorted(PIECES))
def test_a_task_lacking_a_piece_is_refused_naming_it(piece):
    with pytest.raises(ValueError, match=rf"Sweep\.task \(Duck\) does not provide the dt\.tasks\.Task "
                                         rf"protocol; it lacks:\n  - {piece}\b"):
        sweep(duck(without=(piece,)))


def test_every_missing_piece_is_named_at_once():
    with pytest.raises(ValueError) as e:
        sweep(duck(without=("kind", "config", "finite")))
    lacks = [line.split()[1] for line in str(e.value).splitlines() if line.startswith("  - ")]
    assert sorted(lacks) == ["config()", "finite,", "kind,"]


@pytest.mark.parametrize("replace,message", [
    ({"kind": "ranking"}, r"Duck\.kind must be one of \('regression', 'classification', 'multilabel'\), got 'ranking'"),
    ({"traced_fields": ("noise",)}, r"Duck\.traced_fields must be a tuple of Duck's field names, got \('noise',\)"),
    ({"finite": "no"}, r"Duck\.finite must be True or False, got 'no'"),
    ({"spec": lambda self: (3, 1)}, r"Duck\.spec\(\) must return a dt\.tasks\.Spec\(d_in, d_out, vocab=None\), got \(3, 1\)"),
    ({"config": lambda self: {"f": len}}, r"Duck\.config\(\) must return a JSON-able dict"),
    ({"eval_sets": lambda self, s, tp: _sample(s, jax.random.key(0), 4, 3)},
     r'Duck\.eval_sets must return \{"train": Batch \| None, "test": Batch\}'),
])
def test_a_wrong_piece_is_refused_naming_it_and_its_value(replace, message):
    with pytest.raises(ValueError, match=message):
        sweep(duck(**replace))


def test_a_task_that_is_not_a_frozen_dataclass_is_refused():
    class Plain:
        kind = "regression"

    with pytest.raises(ValueError, match=r"Sweep\.task must be a task from dyntheory\.tasks or your own "
                                         r"dt\.tasks\.Task .* got <.*Plain object>"):
        sweep(Plain())
    mutable = dataclasses.dataclass(type("Duck", (), dict(PIECES)))()
    with pytest.raises(ValueError, match=r"Sweep\.task \(Duck\) must be hashable: declare it "
                                         r"@dataclasses\.dataclass\(frozen=True, kw_only=True\)"):
        sweep(mutable)


def test_a_subclass_of_task_must_still_say_its_kind():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class NoKind(dt.tasks.Task):
        d_in: int = 3
        spec, setup, batch, eval_sets = _spec, _setup, _batch, _eval_sets

    with pytest.raises(ValueError, match=r"it lacks:\n  - kind, a class attribute, one of"):
        sweep(NoKind())
    assert NoKind().finite is False and NoKind.traced_fields == ()


@pytest.mark.parametrize("rows", [7, 16])
def test_a_batch_of_another_size_is_refused_when_the_sweep_is_built(rows):
    # The noise-scale workaround: gradient noise smuggled in as extra rows trained silently.
    wrong = duck(batch=lambda self, s, tp, dk, nk, step, bs: _sample(s, dk, rows, 3))
    with pytest.raises(ValueError, match=rf"Duck\.batch returned {rows} rows, but Sweep\.batch_size=8: "
                                         "a batch has exactly batch_size rows"):
        sweep(wrong)


def test_the_engine_refuses_a_wrong_batch_before_compute_too():
    # A Member built without a Sweep (the benchmark builds one so) checks as it traces.
    wrong = duck(batch=lambda self, s, tp, dk, nk, step, bs: _sample(s, dk, 9, 3))
    member = Member(task=wrong, model=dt.models.Linear(), opt=OptSpec("sgd", "constant", 4, 0),
                    batch_size=8, metrics=())
    key = jax.random.key(0)
    gs = member.group_setup(key, key, key, {})
    with pytest.raises(ValueError, match=r"Duck\.batch returned 9 rows, but Sweep\.batch_size=8"):
        jax.eval_shape(member.group_batch, gs, 0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Quadratic(dt.tasks.Task):
    """y = sum(x^2) / d_in + noise: a user task through the public names only."""

    kind = "regression"
    traced_fields = ("noise",)
    d_in: int = 3
    noise: float = 0.1

    def spec(self):
        return dt.tasks.Spec(self.d_in, 1)

    def sample(self, key, noise_key, n, noise):
        x = jax.random.normal(key, (n, self.d_in))
        y = jnp.mean(x**2, axis=1, keepdims=True) + noise * jax.random.normal(noise_key, (n, 1))
        return dt.tasks.Batch(x, y)

    def setup(self, task_key, noise_key, tp):
        return {"test": self.sample(task_key, noise_key, 64, tp["noise"])}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        return self.sample(jax.random.fold_in(data_key, step), jax.random.fold_in(noise_key, step),
                           batch_size, tp["noise"])

    def eval_sets(self, state, tp):
        return {"train": None, "test": state["test"]}


def test_a_user_task_trains_as_a_population_with_its_traced_field():
    s = dt.Sweep(task=Quadratic(), model=dt.models.MLP(widths=(16,)), steps=60, batch_size=16, lr=0.05,
                 axes={"noise": [0.0, 0.5]}, seeds=2, record=[0, 60])
    (ref,) = reference.train(s, key=0)
    loss = ref["metrics"]["test_loss"]  # (noise, seed, step)
    assert (loss[..., -1] < 0.5 * loss[..., 0]).all()
    # The noise reaches the test set through tp: same inputs, noisier targets, higher loss.
    assert (loss[1, :, -1] > loss[0, :, -1]).all()
    assert s.axis_kind("noise") == "task_traced" and s.static_groups()[0][1] == Quadratic()


def test_a_user_task_is_identified_by_its_code():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Other(Quadratic):
        def sample(self, key, noise_key, n, noise):  # another target: another sweep
            x = jax.random.normal(key, (n, self.d_in))
            return dt.tasks.Batch(x, jnp.mean(x**4, axis=1, keepdims=True))

    a, b = Quadratic().config(), Other().config()
    assert a["code"] != b["code"] and a["code"] == Quadratic().config()["code"]
    # Built-in tasks are versioned with dyntheory: their configs stay as stores recorded them.
    assert "code" not in dt.tasks.TeacherStudent(d_in=3).config()


def draw(x_scale=1.0):
    def sample(key, n):
        x = x_scale * jax.random.normal(key, (n, 2))
        return x, (x[:, :1] > 0).astype(jnp.int32) + 0 * x[:, 1:]
    return sample


def test_sampled_data_is_a_fresh_draw_per_seed_and_shared_within_a_stream():
    task = dt.tasks.SampledData(sample=draw(), n_train=8, n_test=4, task_kind="multilabel")
    key = lambda s: jax.random.fold_in(jax.random.key(0), s)  # noqa: E731
    a, b, a2 = (task.setup(key(s), key(s), {}) for s in (0, 1, 0))
    assert not np.array_equal(a["train"].x, b["train"].x)
    np.testing.assert_array_equal(a["train"].x, a2["train"].x)
    assert a["train"].x.shape == (8, 2) and a["test"].x.shape == (4, 2)
    s = dt.Sweep(task=task, model=dt.models.Linear(), steps=3, batch_size=4)
    assert s.task.finite and s.metric_names[-4:] == ("train_acc", "test_acc", "train_exact_match",
                                                       "test_exact_match")
    # Its minibatches are replayable epochs over the member's own draw.
    batches = [task.batch(a, {}, jax.random.key(3), None, t, 4).x for t in range(2)]
    rows = np.concatenate(batches)
    assert all(any(np.array_equal(r, x) for x in a["train"].x) for r in rows) and len(np.unique(rows, axis=0)) == 8


def test_sampled_data_is_identified_by_its_sampling_code():
    config = lambda f: dt.tasks.SampledData(sample=f, n_train=4).config()["sample"]  # noqa: E731
    assert config(draw())["fingerprint"] == config(draw())["fingerprint"]
    assert config(draw())["fingerprint"] != config(draw(2.0))["fingerprint"]
    assert config(draw())["function"].startswith("<function draw.<locals>.sample")


@pytest.mark.parametrize("sample,kw,message", [
    (lambda key, n: jnp.zeros((n, 2)), {}, r"must return a pair \(x, y\), got ShapeDtypeStruct\(shape=\(3, 2\)"),
    (lambda key, n: (jnp.zeros((n, 2)), jnp.zeros(n)), {},
     r"must return x of shape \(n, d_in\) and y of shape \(n, d_out\) for task_kind='regression'; for n=3 it "
     r"returned x \(3, 2\) and y \(3,\)"),
    (lambda key, n: (jnp.zeros((n, 2)), jnp.zeros((n, 1))), {"task_kind": "classification", "n_classes": 2},
     r"y of shape \(n,\) integer classes"),
    (len, {}, r"SampledData\.sample \(<built-in function len>\) must be sample\(key, n\) -> \(x, y\)"),
    (None, {}, r"SampledData\.sample must be a function \(key, n\) -> \(x, y\), got None"),
    (draw(), {"task_kind": "ordinal"}, r"SampledData\.task_kind must be one of"),
])
def test_sampled_data_names_a_wrong_sampling_function(sample, kw, message):
    with pytest.raises(ValueError, match=message):
        dt.tasks.SampledData(sample=sample, n_train=4, **kw)


def test_task_docstring_examples_run():
    for module in (_base, _sampled):
        assert doctest.testmod(module, raise_on_error=False).failed == 0, module.__name__
