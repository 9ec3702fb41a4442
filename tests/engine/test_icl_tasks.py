"""The sequence tasks: deterministic from their streams, streams independent, shapes as documented."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory.tasks._base import check_batches, check_task
from dyntheory.tasks._icl_regression import InContextRegression
from dyntheory.tasks._markov_icl import InContextMarkov
from dyntheory.tasks._modular_sequence import ModularSequence
from dyntheory.tasks._repeated_tokens import RepeatedTokens

K = jax.random.key
TASKS = [InContextRegression(d=3, context=6, n_tasks=5, noise=0.5, n_test=16),
         InContextRegression(d=3, context=6, noise=0.0, n_test=16),
         InContextMarkov(states=3, length=10, n_test=16),
         RepeatedTokens(vocab=8, prefix=5, n_test=16)]
TP = {"noise": 0.5}


def draw(task, task_key=0, noise_key=1, data_key=2, noise_step_key=3, step=4, n=8):
    tp = {f: TP.get(f, getattr(task, f)) for f in task.traced_fields}  # n_tasks: the task's own
    state = task.setup(K(task_key), K(noise_key), tp)
    return state, task.batch(state, tp, K(data_key), K(noise_step_key), step, n)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: type(t).__name__)
def test_protocol_and_determinism(task):
    check_task(task)
    check_batches(task, 8)
    s1, b1 = draw(task)
    s2, b2 = draw(task)
    jax.tree.map(np.testing.assert_array_equal, (s1, b1), (s2, b2))
    _, other_step = draw(task, step=5)
    _, other_data = draw(task, data_key=9)
    assert not np.array_equal(b1.x, other_step.x) and not np.array_equal(b1.x, other_data.x)
    s3, b3 = draw(task, task_key=5)  # another task stream: another test set (and pool)
    assert not np.array_equal(s1["test"].x, s3["test"].x)
    if not isinstance(task, InContextRegression) or task.n_tasks == math.inf:
        np.testing.assert_array_equal(b1.x, b3.x)  # nothing fixed per stream: the batch is the data key's
    assert b1.x.shape[0] == b1.y.shape[0] == 8 and b1.x.shape[1] == b1.y.shape[1]


def test_regression_pool_noise_and_format():
    task = TASKS[0]
    state, b = draw(task)
    pool = np.asarray(state["fixed"]["pool"])
    x, y = np.asarray(b.x), np.asarray(b.y)[..., 0]
    d = task.d
    assert x.shape == (8, 6, 2 * d + 1) and task.spec() == dt.tasks.Spec(2 * d + 1, 1)
    np.testing.assert_array_equal(x[:, 1:, d:2 * d], x[:, :-1, :d])  # previous x
    np.testing.assert_array_equal(x[:, 1:, -1], y[:, :-1])  # previous y
    assert (x[:, 0, d:] == 0).all()
    # y = w . x + noise: the least-squares w of each sequence is within noise of one pool row
    w = np.stack([np.linalg.lstsq(xi[:, :d], yi, rcond=None)[0] for xi, yi in zip(x, y)])
    dist = np.linalg.norm(w[:, None] - pool[None], axis=-1).min(1)
    assert dist.max() < 2.0 and np.linalg.norm(pool, axis=1).min() > 0
    # the noise stream alone moves y, not x
    _, b_noise = draw(task, noise_step_key=7)
    np.testing.assert_array_equal(b.x[..., :d], b_noise.x[..., :d])
    assert not np.array_equal(b.y, b_noise.y)
    # noiseless: exact linear sequences; the pool test set uses pool rows, the test set fresh ones
    clean = InContextRegression(d=3, context=6, n_tasks=5, noise=0.0, n_test=16)
    st = clean.setup(K(0), K(1), {"noise": 0.0, "n_tasks": 5})
    for name, expect_pool in (("pool_test", True), ("test", False)):
        xs, ys = np.asarray(st[name].x), np.asarray(st[name].y)[..., 0]
        w = np.stack([np.linalg.lstsq(xi[:, :3], yi, rcond=None)[0] for xi, yi in zip(xs, ys)])
        near = np.linalg.norm(w[:, None] - np.asarray(st["fixed"]["pool"])[None], axis=-1).min(1)
        assert (near < 1e-4).all() == expect_pool, name


def test_finite_tasks_train_on_a_fixed_set():
    task = InContextMarkov(states=3, length=8, n_train=20, n_test=16)
    assert task.finite and not TASKS[2].finite
    state, b = draw(task, n=20)
    np.testing.assert_array_equal(np.sort(np.asarray(b.x), axis=0), np.sort(np.asarray(state["train"].x), axis=0))


def test_markov_chains_follow_their_own_dirichlet_transitions():
    task = InContextMarkov(states=3, length=400, alpha=1.0)
    P = task.transitions(K(0), 4)
    np.testing.assert_allclose(P.sum(-1), 1.0, rtol=1e-6)
    s = np.asarray(task.chains(P, K(1)))
    for i in range(4):  # empirical transition frequencies of a long chain approach its own P
        counts = np.zeros((3, 3))
        np.add.at(counts, (s[i, :-1], s[i, 1:]), 1)
        freq = counts / counts.sum(1, keepdims=True)
        np.testing.assert_allclose(freq, np.asarray(P[i]), atol=0.15)
    b = task.sample({}, K(2), 5, {})
    np.testing.assert_array_equal(b.x[:, 1:], b.y[:, :-1])


def test_repeated_tokens_repeat():
    _, b = draw(TASKS[3])
    s = np.concatenate([np.asarray(b.x), np.asarray(b.y)[:, -1:]], axis=1)
    np.testing.assert_array_equal(s[:, :5], s[:, 5:])


def test_modular_sequence_is_the_pair_task_with_an_equals_token():
    seq, pair = ModularSequence(p=7, train_frac=0.5), dt.tasks.ModularArithmetic(p=7, train_frac=0.5)
    a, b = seq.setup(K(0), K(1), {}), pair.setup(K(0), K(1), {})
    for k in ("train", "test"):
        np.testing.assert_array_equal(a[k].x[:, :2], b[k].x)
        assert (np.asarray(a[k].x[:, 2]) == 7).all()
        np.testing.assert_array_equal(a[k].y, b[k].y)
    assert seq.spec() == dt.tasks.Spec(3, 7, 8)


def test_invalid_fields_are_named():
    with pytest.raises(ValueError, match="n_tasks"):
        InContextRegression(d=2, context=4, n_tasks=0)
    with pytest.raises(ValueError, match="alpha"):
        InContextMarkov(states=3, length=4, alpha=0.0)
    with pytest.raises(ValueError, match="prefix"):
        RepeatedTokens(vocab=4, prefix=1)


def test_float64_draws():
    with jax.enable_x64(True):
        _, b = draw(TASKS[0])
        assert b.x.dtype == jnp.float64


def test_repeated_tokens_with_a_random_period_repeat_cyclically():
    task = RepeatedTokens(vocab=8, prefix=6, min_prefix=2, n_test=4)
    b = task.sample({}, K(3), 64, {})
    s = np.concatenate([np.asarray(b.x), np.asarray(b.y)[:, -1:]], axis=1)
    periods = set()
    for row in s:
        L = next(L for L in range(2, 7) if np.array_equal(row[L:], row[:-L]))
        periods.add(L)
    assert periods == {2, 3, 4, 5, 6} or len(periods) >= 4
    with pytest.raises(ValueError, match="min_prefix"):
        RepeatedTokens(vocab=8, prefix=4, min_prefix=5)
