"""Per-example losses of ``(prediction, target)``: what ``Sweep(loss=...)`` trains on and records.

A loss sees ONE example: ``prediction`` is the model's output for it (``(d_out,)``, or
``(positions, vocab)`` for a sequence model) and ``target`` its label as the task gives it. It
returns a scalar. The engine averages it over the batch, ``mean(vmap(loss)(predictions,
targets))``, for training (the gradient step) and for the recorded ``train_loss`` and
``test_loss``.

The default is the task's kind (``dt.tasks.Task``): ``squared_error`` for ``"regression"``,
``softmax_cross_entropy`` for ``"classification"``, ``binary_logistic`` for ``"multilabel"``.
Any other function of ``(prediction, target) -> scalar`` may be given; it is fingerprinted into the
sweep's config (its code and what it closes over, like a metric), so changing its body makes
another sweep, never a stale reload.

Binary losses (``binary_logistic``, ``hinge``) read a target in ``{0, 1}`` as the sign ``2 t - 1``
of a real score and sum over the outputs: one score for a binary task, one per label for a
multi-label one.

Example:
    >>> import jax.numpy as jnp
    >>> float(squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0])))
    2.5
    >>> float(hinge(jnp.array([0.25]), jnp.array([1])))
    0.75
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def squared_error(prediction, target):
    """Half the squared error summed over outputs: ``0.5 * sum((prediction - target)^2)``."""
    return 0.5 * jnp.sum(jnp.square(prediction - target), axis=-1)


def softmax_cross_entropy(logits, label):
    """``-log softmax(logits)[label]`` for an integer class ``label``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, label)


def binary_logistic(score, target):
    """``sum log(1 + exp(-s * score))`` with ``s = 2 target - 1``, targets in ``{0, 1}``.

    The negative log-likelihood of independent labels with ``P(t = 1) = sigmoid(score)``.
    """
    return jnp.sum(jax.nn.softplus(-_sign(target, score) * score), axis=-1)


def hinge(score, target):
    """``sum max(0, 1 - s * score)`` with ``s = 2 target - 1``, targets in ``{0, 1}``."""
    return jnp.sum(jax.nn.relu(1.0 - _sign(target, score) * score), axis=-1)


def per_position_cross_entropy(logits, labels):
    """Softmax cross-entropy averaged over positions: ``logits`` ``(positions, vocab)``,
    ``labels`` ``(positions,)`` integers (a sequence model's next-token loss)."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels), axis=-1)


def _sign(target, like):
    return 2.0 * jnp.asarray(target, like.dtype) - 1.0


DEFAULT = {"regression": squared_error, "classification": softmax_cross_entropy,
           "multilabel": binary_logistic}


# The two original defaults keep the batch means the engine computed before losses were per
# example: ``mean(vmap(squared_error))`` is the same sum in exact arithmetic, but XLA fuses it
# differently inside a training step and results moved in their last bits (measured 2025-06 on
# CPU: float32 losses, float64 Adam parameters). Existing sweeps must reproduce bit for bit.
_BATCH_MEANS = (
    (squared_error, lambda p, t: 0.5 * jnp.mean(jnp.sum(jnp.square(p - t), axis=-1))),
    (softmax_cross_entropy, lambda p, t: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(p, t))),
)


def for_kind(kind: str) -> Callable:
    """The loss a task of ``kind`` trains on unless the sweep names another.

    Example:
        >>> for_kind("classification") is softmax_cross_entropy
        True
    """
    try:
        return DEFAULT[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r}; a task's kind is one of {tuple(DEFAULT)}") from None


def batch_mean(loss: Callable, predictions, targets, where: str = "Sweep.loss"):
    """``mean(vmap(loss)(predictions, targets))``, refusing a loss that is not per example.

    A loss returning more than a scalar per example (say one value per position) would otherwise
    be averaged over those too, silently; ``where`` names it in the error.
    """
    for fn, mean in _BATCH_MEANS:
        if loss is fn:
            return mean(predictions, targets)
    per_example = jax.vmap(loss)(predictions, targets)
    if jnp.shape(per_example) != jnp.shape(predictions)[:1]:
        raise ValueError(f"{where} must return one scalar per example, got shape "
                         f"{jnp.shape(per_example)[1:]} for predictions {jnp.shape(predictions)[1:]} and "
                         f"targets {jnp.shape(targets)[1:]}; reduce over the rest (e.g. "
                         "per_position_cross_entropy averages over positions)")
    return jnp.mean(per_example)
