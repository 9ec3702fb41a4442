"""Removing and relabelling a finite task's examples mid-run (``dt.interventions``): the edited
member's next step is the hand-computed one; every other member, and every earlier record, stays
bitwise what the run without the edit gives; bad edits are refused before training."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt

I = dt.interventions
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 1))
MODEL = dt.models.MLP(widths=(4,))
BASE = dict(task=dt.tasks.FixedData(x=X, y=Y), model=MODEL, optimizer="sgd", steps=6, seeds=2, record=[0, 2, 4, 6],
            checkpoints=[2, 3, 6], dtype="float64", axes={"lr": [0.1, 0.2]})


def _train(*items, **kw):
    return dt.train(dt.Sweep(**(BASE | kw), interventions=items), key=0)


@pytest.fixture(scope="module")
def plain():
    return _train()


def _member(params, i, j):
    return jax.tree.map(lambda a: np.asarray(a[i, j]), params)


def _sgd_step(params, lr, x, y):
    """One SGD step on the mean over the rows of 0.5 |f(x) - y|^2 (the regression loss)."""
    def loss(p):
        return jnp.mean(0.5 * jnp.sum((MODEL.apply(p, x) - y) ** 2, axis=-1))
    with jax.enable_x64(True):  # the run is float64
        g = jax.grad(loss)(params)
        return jax.tree.map(lambda p, d: np.asarray(p - lr * d), params, g)


def _close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-12, atol=1e-14)


def test_removed_rows_leave_the_full_batch_step(plain):
    run = _train(I.RemoveExamples([1, 4]).at(2, where={"lr": 0.2}))
    before, after = run.params_at(2), run.params_at(3)
    keep = np.array([0, 2, 3, 5])
    for j in range(2):
        want = _sgd_step(_member(before, 1, j), 0.2, X[keep], Y[keep])
        _close(_member(after, 1, j), want)
        _close(_member(after, 0, j), _sgd_step(_member(before, 0, j), 0.1, X, Y))  # untouched: all rows
    ds, ref = run.metrics, plain.metrics
    np.testing.assert_array_equal(ds.train_loss.sel(lr=0.1).values, ref.train_loss.sel(lr=0.1).values)
    np.testing.assert_array_equal(ds.train_loss.sel(step=slice(0, 2)).values, ref.train_loss.sel(step=slice(0, 2)).values)
    assert not np.array_equal(ds.train_loss.sel(lr=0.2).values, ref.train_loss.sel(lr=0.2).values)
    assert ds["intervened_0"].sel(lr=0.2).values.tolist() == [2, 2]


def test_relabelled_rows_train_on_their_new_targets():
    new = [[3.0], [-2.0]]
    run = _train(I.RelabelExamples([5, 0], new).at(2))
    before, after = run.params_at(2), run.params_at(3)
    y = Y.copy()
    y[[5, 0]] = new
    for i, lr in enumerate((0.1, 0.2)):
        _close(_member(after, i, 1), _sgd_step(_member(before, i, 1), lr, X, y))


def _matches(got, want) -> bool:
    return all(np.allclose(u, v, rtol=1e-12, atol=1e-14) for u, v in zip(jax.tree.leaves(got), jax.tree.leaves(want)))


def test_minibatch_edits_follow_the_rows_of_each_batch():
    # batch_size 4 of 6 rows: the rows of each member's step-2 batch are found from its unedited
    # twin (the one 4-subset whose SGD step gives its next checkpoint); the edited member's step
    # is the SGD step on those rows less row 2, or all of them when row 2 is not among them.
    plain, run = _train(batch_size=4), _train(I.RemoveExamples([2]).at(2), batch_size=4)
    p2, p3, e2, e3 = plain.params_at(2), plain.params_at(3), run.params_at(2), run.params_at(3)
    import itertools
    for i, lr in enumerate((0.1, 0.2)):
        for j in range(2):
            found = [list(c) for c in itertools.combinations(range(6), 4)
                     if _matches(_sgd_step(_member(p2, i, j), lr, X[list(c)], Y[list(c)]), _member(p3, i, j))]
            assert len(found) == 1
            kept = [r for r in found[0] if r != 2]
            _close(_member(e2, i, j), _member(p2, i, j))
            _close(_member(e3, i, j), _sgd_step(_member(e2, i, j), lr, X[kept], Y[kept]))


def _ce_step(params, lr, x, labels):
    def loss(p):
        logits = MODEL.apply(p, x)
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, labels[:, None], 1)[:, 0])
    with jax.enable_x64(True):
        g = jax.grad(loss)(params)
        return jax.tree.map(lambda p, d: np.asarray(p - lr * d), params, g)


def test_a_triggered_relabelling_chosen_by_a_function_of_the_stream():
    labels = np.array([0, 1, 2, 1, 0, 2])
    task = dt.tasks.FixedData(x=X, y=labels, task_kind="classification", n_classes=3)
    flip = I.RelabelExamples(lambda train, state: train.y == 1, 2)  # every class-1 row becomes class 2
    run = _train(flip.when(I.Threshold("train_loss", 10.0, "below")), task=task, checkpoints=[0, 1])
    assert (run.metrics["intervened_0"].values == 0).all()  # the loss starts below 10: the first record
    y = np.where(labels == 1, 2, labels)
    for i, lr in enumerate((0.1, 0.2)):
        _close(_member(run.params_at(1), i, 0), _ce_step(_member(run.params_at(0), i, 0), lr, X, y))


def test_edits_are_recorded_in_the_config_and_hashable():
    a = I.RemoveExamples([1, 4]).at(2)
    assert a == I.RemoveExamples((1, 4)).at(2) and hash(a) == hash(I.RemoveExamples(np.array([1, 4])).at(2))
    cfg = dt.Sweep(**BASE, interventions=[a, I.RelabelExamples(lambda t, s: t.y[:, 0] > 0, 0.0).at(3)]).config()
    edits = cfg["interventions"]
    assert edits[0]["examples"] == [1, 4] or edits[0]["examples"] == (1, 4)
    assert "fingerprint" in edits[1]["examples"]


@pytest.mark.parametrize("make, match", [
    (lambda: I.RemoveExamples([]), "non-empty list of row indices"),
    (lambda: I.RemoveExamples([1, 1]), "names a row more than once"),
    (lambda: I.RemoveExamples([-1]), "row indices >= 0"),
    (lambda: I.RemoveExamples("all"), "row indices of the training set or a function"),
    (lambda: I.RelabelExamples([0], "cat"), "RelabelExamples.labels must be finite numbers"),
    (lambda: I.RelabelExamples([0], [np.nan]), "RelabelExamples.labels must be finite numbers"),
])
def test_malformed_edits_are_refused_when_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reversed(dt.tasks.Task):
    """A finite task whose batches are not finite_minibatch's rows (it reverses them)."""

    kind = "regression"
    n_train: int = 6

    def spec(self):
        return dt.tasks.Spec(3, 1)

    def setup(self, task_key, noise_key, tp):
        return {"train": dt.tasks.Batch(jnp.asarray(X), jnp.asarray(Y))}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        return dt.tasks.Batch(state["train"].x[::-1], state["train"].y[::-1])

    def eval_sets(self, state, tp):
        return {"train": state["train"], "test": state["train"]}


@pytest.mark.parametrize("kw, match", [
    (dict(task=dt.tasks.TeacherStudent(d_in=3), batch_size=4, interventions=[I.RemoveExamples([0]).at(1)]),
     "streams fresh samples"),
    (dict(interventions=[I.RemoveExamples([9]).at(1)]), r"names row 9, but the training set has 6 rows"),
    (dict(interventions=[I.RemoveExamples(lambda t, s: np.ones(5, bool)).at(1)]), r"boolean mask of shape \(6,\)"),
    (dict(interventions=[I.RelabelExamples([0, 1], [1.0, 2.0, 3.0]).at(1)]), r"labels of shape \(3,\) fit neither"),
    (dict(task=dt.tasks.FixedData(x=X, y=[0, 1, 2, 1, 0, 2], task_kind="classification", n_classes=3),
          interventions=[I.RelabelExamples([0], 3).at(1)]), r"class labels must be integers in \[0, 3\)"),
    (dict(task=Reversed(), interventions=[I.RemoveExamples([0]).at(1)]), "not the rows of its training set"),
])
def test_bad_edits_are_refused_before_training(kw, match):
    with pytest.raises(ValueError, match=match):
        dt.train(dt.Sweep(**(BASE | kw)), key=0)


def test_a_branch_keeps_the_edits_its_checkpoint_holds(tmp_path):
    # Branched at step 3, after the edit fired at 2: the unchanged members go on training without
    # the removed rows, bitwise as in the parent.
    run = dt.train(dt.Sweep(**BASE, interventions=[I.RemoveExamples([1, 4]).at(2)]), key=0,
                   store=tmp_path / "parent")
    twin = dt.branch(run, step=3, changes={"lr": 0.05}, where={"lr": 0.2}, store=tmp_path / "twin")
    np.testing.assert_array_equal(twin.metrics.train_loss.sel(lr=0.1, step=6).values,
                                  run.metrics.train_loss.sel(lr=0.1, step=6).values)
    assert not twin.state_at(6)["data/keep"].values[..., [1, 4]].any()
