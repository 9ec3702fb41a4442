"""``dt.tasks.MultiLabel``: independent thresholded labels, and the per-label accuracy and exact
match the engine records for the ``"multilabel"`` kind."""

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import dyntheory as dt
from dyntheory._engine.member import kind_scores
from dyntheory.tasks import _multilabel


def test_labels_are_the_thresholded_projections_on_orthonormal_directions():
    task = dt.tasks.MultiLabel(d_in=6, n_labels=4, n_train=50)
    state = task.setup(jax.random.key(0), jax.random.key(1), {"threshold": 0.3, "flip": 0.0})
    w, train = state["directions"], state["train"]
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(train.y, (train.x @ w > 0.3).astype(np.int32))
    assert train.y.dtype == jnp.int32 and train.y.shape == (50, 4) and state["test"].x.shape == (1024, 6)


@pytest.mark.parametrize("threshold,flip", [(0.0, 0.0), (1.0, 0.0), (0.5, 0.2)])
def test_label_rates_and_their_independence_match_the_gaussian(threshold, flip):
    task = dt.tasks.MultiLabel(d_in=8, n_labels=3, n_test=20_000)
    y = np.asarray(task.setup(jax.random.key(2), jax.random.key(3), {"threshold": threshold, "flip": flip})["test"].y)
    q = 1 - norm.cdf(threshold)
    p = q * (1 - flip) + (1 - q) * flip  # positive after flipping
    n = len(y)
    rate = y.mean(axis=0)
    assert np.all(np.abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n)), rate
    # Independent labels: all three positive with probability p^3.
    both = np.all(y == 1, axis=1).mean()
    assert abs(both - p**3) < 4 * np.sqrt(p**3 * (1 - p**3) / n), (both, p**3)


def test_streaming_batches_depend_on_the_step_and_flip_from_the_noise_stream():
    task = dt.tasks.MultiLabel(d_in=4, n_labels=2, flip=0.5)
    tp = {"threshold": 0.0, "flip": 0.5}
    state = task.setup(jax.random.key(0), jax.random.key(1), tp)
    b0, b1 = (task.batch(state, tp, jax.random.key(2), jax.random.key(3), t, 8) for t in (0, 1))
    assert b0.x.shape == (8, 4) and not np.array_equal(b0.x, b1.x)
    other_noise = task.batch(state, tp, jax.random.key(2), jax.random.key(4), 0, 8)
    np.testing.assert_array_equal(b0.x, other_noise.x)
    assert not np.array_equal(b0.y, other_noise.y)


@pytest.mark.parametrize("kw,message", [
    ({"n_labels": 5, "d_in": 4}, r"MultiLabel\.n_labels must be <= d_in=4 \(orthonormal teacher directions\), got 5"),
    ({"flip": 0.6}, r"MultiLabel\.flip must be in \[0, 0\.5\], got 0\.6"),
    ({"threshold": float("nan")}, r"MultiLabel\.threshold must be a finite number, got nan"),
])
def test_invalid_settings_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        dt.tasks.MultiLabel(**({"d_in": 4, "n_labels": 2} | kw))


def test_accuracy_per_label_and_exact_match_by_hand():
    scores = jnp.array([[1.0, -1.0, 2.0], [0.5, 0.5, -3.0], [-1.0, -1.0, -1.0]])
    y = jnp.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]])
    out = kind_scores("multilabel", scores, y, "test")
    np.testing.assert_allclose(out["test_acc"], 6 / 9)  # right: 3 + 2 + 1 of 9 labels
    np.testing.assert_allclose(out["test_exact_match"], 1 / 3)  # only the first example is all right


def test_a_population_records_exact_match_below_per_label_accuracy_and_learns():
    sweep = dt.Sweep(task=dt.tasks.MultiLabel(d_in=8, n_labels=6, n_test=256), model=dt.models.Linear(),
                     steps=150, batch_size=32, lr=0.5, axes={"threshold": [0.0, 1.0]}, seeds=2, record=[0, 150])
    run = dt.train(sweep, key=0)
    m = run.metrics
    assert {"train_acc", "test_acc", "train_exact_match", "test_exact_match"} <= set(m.data_vars)
    assert (m.test_exact_match <= m.test_acc).all()
    end = m.isel(step=-1)
    # A linear model can fit linear thresholds with zero-threshold scores only where threshold=0.
    assert (end.test_acc.sel(threshold=0.0) > 0.9).all()
    assert (end.test_exact_match.sel(threshold=0.0) > m.test_exact_match.isel(step=0).sel(threshold=0.0)).all()
    assert (end.test_loss < m.test_loss.isel(step=0)).all()


def test_multilabel_docstring_examples_run():
    assert doctest.testmod(_multilabel, raise_on_error=False).failed == 0
