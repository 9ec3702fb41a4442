"""dt.tasks.InContextRegression with a traced pool size: the batches of a fixed M as before, and
members with different M in one compiled group equal to separate runs."""

import doctest
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory.tasks import _icl_regression
from dyntheory.tasks._icl_regression import InContextRegression

K = jax.random.key


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8))
def _old_batch(task_key, data_key, noise_key, step, m, d, context, n, noise):
    """The static-pool recipe the task used before M was traced, written out: a pool of exactly
    ``m`` rows from the task key's first split, ``randint(0, m)`` rows per sequence."""
    pool = jax.random.normal(jax.random.split(task_key, 3)[0], (m, d))
    k_w, k_x = jax.random.split(jax.random.fold_in(data_key, step))
    w = pool[jax.random.randint(k_w, (n,), 0, m)]
    x = jax.random.normal(k_x, (n, context, d))
    y = jnp.einsum("nkd,nd->nk", x, w) + noise * jax.random.normal(jax.random.fold_in(noise_key, step), (n, context))
    return pool, InContextRegression.tokens(x, y), y[..., None]


@pytest.mark.parametrize(("m", "max_tasks"), [(1, None), (5, None), (5, 64)])
def test_a_fixed_pool_size_draws_the_batches_it_drew_before(m, max_tasks):
    task = InContextRegression(d=3, context=6, n_tasks=m, max_tasks=max_tasks, noise=0.5, n_test=16)
    assert task.max_tasks == (m if max_tasks is None else max_tasks)

    @jax.jit  # M traced, as the engine passes it
    def draw(m_traced):
        tp = {"noise": jnp.float32(0.5), "n_tasks": m_traced}
        state = task.setup(K(0), K(1), tp)
        return state, task.batch(state, tp, K(2), K(3), jnp.int32(4), 8)

    state, batch = draw(jnp.float32(m))
    pool, x, y = _old_batch(K(0), K(2), K(3), 4, m, 3, 6, 8, 0.5)
    np.testing.assert_array_equal(state["fixed"]["pool"][:m], pool)
    np.testing.assert_array_equal(batch.x, x)
    np.testing.assert_array_equal(batch.y, y)


def test_an_infinite_pool_draws_a_fresh_w_per_sequence_whatever_the_capacity():
    tp = {"noise": 0.0, "n_tasks": math.inf}
    none = InContextRegression(d=2, context=5, noise=0.0, n_test=16)
    held = InContextRegression(d=2, context=5, max_tasks=8, noise=0.0, n_test=16)
    assert none.max_tasks == 0 and none.fixed(K(0), tp) == {}
    batches = [t.batch(t.setup(K(0), K(1), tp), tp, K(2), K(3), 0, 64) for t in (none, held)]
    np.testing.assert_array_equal(batches[0].x, batches[1].x)
    x, y = np.asarray(batches[1].x)[..., :2], np.asarray(batches[1].y)[..., 0]
    w = np.stack([np.linalg.lstsq(xi, yi, rcond=None)[0] for xi, yi in zip(x, y)])
    pool = np.asarray(held.setup(K(0), K(1), tp)["fixed"]["pool"])
    assert np.linalg.norm(w[:, None] - pool[None], axis=-1).min() > 1e-3  # never a pool row
    assert len(np.unique(np.round(w, 6), axis=0)) == 64  # one w per sequence


def test_pool_sizes_above_the_capacity_are_refused_before_compute():
    with pytest.raises(ValueError, match=r"n_tasks=9 exceeds max_tasks=8"):
        InContextRegression(d=2, context=4, n_tasks=9, max_tasks=8)
    with pytest.raises(ValueError, match=r"max_tasks"):
        InContextRegression(d=2, context=4, max_tasks=-1)
    model = dt.models.Transformer(layers=1, heads=1, d_model=8)
    with pytest.raises(ValueError, match=r"axes\['n_tasks'\]\[1\] = 16 is invalid.*max_tasks=4"):
        dt.Sweep(task=InContextRegression(d=2, context=4, max_tasks=4), model=model, steps=2, batch_size=4,
                 axes={"n_tasks": [1, 16]})
    with pytest.raises(ValueError, match=r"max_tasks=0"):  # no capacity given: inf only
        dt.Sweep(task=InContextRegression(d=2, context=4), model=model, steps=2, batch_size=4,
                 axes={"n_tasks": [2, math.inf]})


@pytest.mark.slow  # two trainings, two compiles: 10-30 s on the shared 2-core machine
def test_members_with_different_pool_sizes_in_one_group_equal_separate_runs():
    model = dt.models.Transformer(layers=1, heads=1, d_model=8, max_len=4)
    common = dict(model=model, optimizer="adam", lr=1e-2, steps=6, batch_size=8, seeds=2, record=3,
                  metrics={"pool_loss": dt.tasks.PoolLoss()})
    sweep = dt.Sweep(task=InContextRegression(d=2, context=4, max_tasks=4, n_test=32),
                     axes={"n_tasks": [1, 2, math.inf]}, **common)
    assert len(sweep.static_groups()) == 1  # one compile for every M
    together = dt.train(sweep, key=3).metrics
    # M = 2 alone: a pool of exactly 2 rows (the group's pool has 4), its own compile
    alone = dt.train(dt.Sweep(task=InContextRegression(d=2, context=4, n_tasks=2, n_test=32), **common),
                     key=3).metrics
    for name in ("test_loss", "pool_loss", "train_loss"):
        np.testing.assert_allclose(together[name].sel(n_tasks=2), alone[name], rtol=1e-5, err_msg=name)
    final = together.pool_loss.isel(step=-1)
    assert not np.allclose(final.sel(n_tasks=1), final.sel(n_tasks=2))  # M does change training
    assert not np.allclose(final.sel(n_tasks=2), final.sel(n_tasks=math.inf))


def test_docstring_examples_run():
    assert doctest.testmod(_icl_regression, raise_on_error=False).failed == 0
