"""Accuracy by output position (a sequence's tokens, a multi-label task's labels) and exact match.

Two output layouts are read, from the shapes alone:

- per-position classification: predictions ``(batch, positions, classes)`` against integer
  targets ``(batch, positions)`` (sequence tasks: a token per position);
- multi-label: scores ``(batch, labels)`` against 0/1 targets ``(batch, labels)``, a score above
  0 predicting 1 (``dt.tasks.MultiLabel``). A regression output of the same shape would be read
  so too: these metrics are for classification and multi-label tasks only.

Exact match (every position right) against mean per-position accuracy is the comparison of the
emergence-mirage argument (Schaeffer et al. 2023, arXiv 2304.15004): a smooth per-token gain can
look like a sudden jump in exact match.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp


def _correct(pred, y, name: str):
    """(batch, positions) booleans: whether each position is predicted right."""
    if pred.ndim == y.ndim + 1 and y.ndim == 2:
        return jnp.argmax(pred, axis=-1) == y
    if pred.shape == y.shape and y.ndim == 2:
        return (pred > 0) == (y > 0.5)
    raise ValueError(f"{name}: needs per-position outputs, predictions (batch, positions, classes) with targets "
                     f"(batch, positions), or multi-label scores and targets (batch, labels); got predictions "
                     f"{tuple(pred.shape)} and targets {tuple(y.shape)}")


@dataclasses.dataclass(frozen=True)
class PositionAccuracy:
    """Accuracy at every output position on an evaluation set, an array over ``position``; or at
    one ``position`` (a scalar), refused when the output has no such position (JAX would
    silently clamp the index to the last one).

    Example:
        >>> PositionAccuracy().dims, PositionAccuracy(position=3).dims
        (('position',), None)
    """

    name: str = "position_accuracy"
    split: str = "test"
    position: int | None = None

    @property
    def dims(self):
        return ("position",) if self.position is None else None

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x, y = ctx.eval_set(self.split)
        acc = jnp.mean(_correct(ctx.predict(x), y, self.name), axis=0)
        if self.position is None:
            return acc, state
        n = acc.shape[0]
        if not -n <= self.position < n:
            raise ValueError(f"{self.name}: position={self.position} but the output has {n} positions "
                             f"(0..{n - 1})")
        return acc[self.position], state


@dataclasses.dataclass(frozen=True)
class ExactMatch:
    """The fraction of evaluation examples with every position predicted right."""

    name: str = "exact_match"
    split: str = "test"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x, y = ctx.eval_set(self.split)
        return jnp.mean(jnp.all(_correct(ctx.predict(x), y, self.name), axis=1)), state
