"""``Sweep(loss=...)`` and ``dyntheory.losses``: the built-ins' values, the kinds' defaults unchanged
bit for bit, a custom loss trained on and recorded, fingerprinted into the config, and refused
when it is not a per-example loss."""

import doctest
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import dyntheory as dt
from dyntheory import losses
from dyntheory._config.optim import OptSpec
from dyntheory._engine import reference
from dyntheory._engine.layout import Layout
from dyntheory._engine.member import Member

P = jnp.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])


def test_builtin_losses_are_the_textbook_formulas_per_example():
    t = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    s = 2 * t - 1
    for p, y in zip(P, t):
        np.testing.assert_allclose(losses.squared_error(p, y), 0.5 * np.sum((p - y) ** 2), rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(losses.binary_logistic)(P, t),
                               np.sum(np.log1p(np.exp(-s * P)), axis=1), rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(losses.hinge)(P, t), np.sum(np.maximum(0, 1 - s * P), axis=1), rtol=1e-6)
    log_softmax = P - np.log(np.sum(np.exp(P), axis=1, keepdims=True))
    labels = jnp.array([2, 0])
    np.testing.assert_allclose(jax.vmap(losses.softmax_cross_entropy)(P, labels), -log_softmax[[0, 1], [2, 0]],
                               rtol=1e-6)
    # A sequence of two positions: the mean of the positions' cross-entropies.
    np.testing.assert_allclose(losses.per_position_cross_entropy(P, labels),
                               np.mean(-log_softmax[[0, 1], [2, 0]]), rtol=1e-6)


def test_each_kind_has_its_default_and_an_unknown_kind_is_an_error():
    assert [losses.for_kind(k) for k in dt.tasks.KINDS] == [losses.squared_error, losses.softmax_cross_entropy,
                                                            losses.binary_logistic]
    with pytest.raises(ValueError, match=r"unknown task kind 'ranking'; a task's kind is one of"):
        losses.for_kind("ranking")


def test_a_loss_that_is_not_per_example_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"Sweep\.loss must return one scalar per example, got shape \(3,\)"):
        losses.batch_mean(lambda p, y: (p - y) ** 2, P, P)
    with pytest.raises(ValueError, match=r"Sweep\.loss must be a function \(prediction, target\) -> scalar "
                                         r"per example .* got 'hinge'"):
        dt.Sweep(task=dt.tasks.MultiLabel(d_in=2, n_labels=1), model=dt.models.Linear(), steps=2,
                 batch_size=2, loss="hinge")


def _old_member(kind):
    """The engine's batch losses before ``Sweep(loss=...)``, copied from the commit before it."""
    if kind == "classification":
        return lambda pred, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(pred, y))
    return lambda pred, y: 0.5 * jnp.mean(jnp.sum(jnp.square(pred - y), axis=-1))


class OldMember(Member):
    def loss_of(self, pred, y):
        return _old_member(self.task.kind)(pred, y)


def _train(member_cls, sweep, loss=None):
    """``reference.train``'s population with ``member_cls`` as the member's math."""
    (coords, task, model), = sweep.static_groups()
    opt = OptSpec(sweep.optimizer, sweep.schedule, sweep.steps, sweep.warmup)
    member = member_cls(task=task, model=model, opt=opt, batch_size=sweep.batch_size, metrics=(), loss=loss)
    run = jax.jit(jax.vmap(functools.partial(reference.train_one, member, steps=sweep.steps, record=sweep.record)))
    with jax.enable_x64(sweep.dtype == "float64"):
        metrics, final = run(*reference.flat_inputs(sweep, jax.random.key(0), task, Layout(sweep)))
    return {k: np.asarray(v) for k, v in metrics.items()}, [np.asarray(x) for x in jax.tree.leaves(final.params)]


RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3))


@pytest.mark.parametrize("task,optimizer,dtype", [
    (dt.tasks.FixedData(x=X, y=RNG.normal(size=(16, 2))), "adam", "float64"),
    (dt.tasks.FixedData(x=X, y=RNG.integers(0, 3, size=16), task_kind="classification", n_classes=3), "sgd",
     "float32"),
])
def test_the_default_loss_trains_bit_for_bit_as_before(task, optimizer, dtype):
    sweep = dt.Sweep(task=task, model=dt.models.MLP(widths=(4,)), optimizer=optimizer, steps=8,
                     batch_size=None, axes={"lr": [0.05, 0.2]}, seeds=2, record=[8],
                     dtype=dtype)
    (new, new_params), (old, old_params) = _train(Member, sweep), _train(OldMember, sweep)
    assert new.keys() == old.keys()
    for k in new:
        assert new[k].tobytes() == old[k].tobytes(), k
    assert all(a.tobytes() == b.tobytes() for a, b in zip(new_params, old_params))


def separable(key, n):
    x = jax.random.normal(key, (n, 4))
    return x, (x @ jnp.array([[1.0], [-1.0], [0.5], [0.0]]) > 0).astype(jnp.int32)


def test_hinge_on_a_binary_task_is_trained_on_and_recorded():
    # A binary task (one label), drawn per seed. From zero scores the hinge is exactly 1 per
    # example (the default, the logistic loss, would be log 2): what is recorded is the sweep's loss.
    task = dt.tasks.SampledData(sample=separable, n_train=64, n_test=256, task_kind="multilabel")
    sweep = dt.Sweep(task=task, model=dt.models.Linear(), steps=40, batch_size=16, lr=0.1, init_scale=0.0,
                     seeds=2, record=[0, 40], loss=losses.hinge)
    (h,) = reference.train(sweep, key=0)
    loss, acc = h["metrics"]["train_loss"], h["metrics"]["test_acc"]
    np.testing.assert_array_equal(loss[:, 0], 1.0)
    assert (loss[:, -1] < 0.5 * loss[:, 0]).all() and (acc[:, -1] > 0.9).all()
    run = dt.train(sweep, key=0)  # the engine trains on and records the same loss
    np.testing.assert_allclose(run.metrics.train_loss.values, loss, rtol=1e-5)


def test_a_custom_loss_is_fingerprinted_into_the_config():
    def config(loss):
        s = dt.Sweep(task=dt.tasks.MultiLabel(d_in=2, n_labels=1), model=dt.models.Linear(), steps=2,
                     batch_size=2, loss=loss)
        return s.config()

    margin = 1.0
    a = config(lambda p, y: jnp.sum(jnp.maximum(0.0, margin - (2 * y - 1) * p)))
    b = config(lambda p, y: jnp.sum(jnp.maximum(0.0, margin - (2 * y - 1) * p)))
    c = config(lambda p, y: jnp.sum(jnp.maximum(0.0, 2 * margin - (2 * y - 1) * p)))
    assert a["loss"]["fingerprint"] == b["loss"]["fingerprint"] != c["loss"]["fingerprint"]
    margin = 2.0  # a closed-over value is part of the loss, as for a metric
    assert config(lambda p, y: jnp.sum(jnp.maximum(0.0, margin - (2 * y - 1) * p)))["loss"] != a["loss"]
    assert config(losses.hinge)["loss"]["loss"] == "<function hinge>"
    # The default is left out, so a store written before losses existed still matches its sweep.
    assert "loss" not in config(None)


def test_a_sequence_loss_must_reduce_over_positions():
    task = dt.tasks.TeacherStudent(d_in=2, d_out=6)
    member = Member(task=task, model=dt.models.Linear(), opt=OptSpec("sgd", "constant", 2, 0), batch_size=4,
                    metrics=(), loss=lambda logits, labels: optax.softmax_cross_entropy_with_integer_labels(
                        logits.reshape(3, 2), labels))
    x, labels = jnp.ones((4, 2)), jnp.zeros((4, 3), jnp.int32)
    params = {"w": jnp.zeros((2, 6))}
    with pytest.raises(ValueError, match=r"Sweep\.loss must return one scalar per example, got shape \(3,\)"):
        member.loss(params, dt.tasks.Batch(x, labels))
    per_position = Member(task=task, model=dt.models.Linear(), opt=OptSpec("sgd", "constant", 2, 0),
                          batch_size=4, metrics=(),
                          loss=lambda logits, labels: losses.per_position_cross_entropy(logits.reshape(3, 2), labels))
    np.testing.assert_allclose(per_position.loss(params, dt.tasks.Batch(x, labels)), np.log(2.0), rtol=1e-6)


def test_losses_docstring_examples_run():
    assert doctest.testmod(losses, raise_on_error=False).failed == 0
