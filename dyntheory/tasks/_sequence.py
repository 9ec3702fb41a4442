"""What the sequence tasks share: streaming or finite draws, and a loss over chosen positions.

A sequence task draws whole sequences with ``sample(fixed, key, n, tp) -> Batch``: ``x`` of
shape ``(n, T)`` (tokens) or ``(n, T, d_in)`` (vectors) and one target per position. What is
fixed for a data stream (a pool of regression tasks) comes from ``fixed(key, tp)``. The task key
is split three ways, into that, the finite training set (``n_train`` given) and the test set, so
a task's training set, test set and pool are each replayable alone; a streaming batch is a
function of ``fold_in(data_key, step)`` (and ``fold_in(noise_key, step)`` for label noise) only.
"""

from __future__ import annotations

import abc

import dataclasses

import jax
import jax.numpy as jnp
import optax

from dyntheory.tasks._base import Batch, Task, finite_minibatch


class SequenceTask(Task, abc.ABC):
    """Mixin for the sequence tasks: ``setup``, ``batch`` and ``eval_sets`` from ``sample``."""

    def fixed(self, key, tp) -> dict:
        return {}

    @abc.abstractmethod
    def sample(self, fixed, key, n: int, tp, noise_key=None) -> Batch:
        """``n`` sequences drawn from ``key`` (and ``noise_key``), given the ``fixed`` state."""

    def setup(self, task_key, noise_key, tp):
        k_fixed, k_train, k_test = jax.random.split(task_key, 3)
        n_fixed, n_train, n_test = jax.random.split(noise_key, 3)
        fixed = self.fixed(k_fixed, tp)
        state = {"fixed": fixed, "test": self.sample(fixed, k_test, self.n_test, tp, n_test)}
        if self.n_train is not None:
            state["train"] = self.sample(fixed, k_train, self.n_train, tp, n_train)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        return self.sample(state["fixed"], jax.random.fold_in(data_key, step), batch_size, tp,
                           jax.random.fold_in(noise_key, step))

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}


@dataclasses.dataclass(frozen=True)
class PositionLoss:
    """A metric: the loss on positions ``start:stop`` of a set (a ``dt.Metric``).

    ``of="train"`` measures the engine's training evaluation batch (the current minibatch of a
    streaming task), ``of="test"`` the task's test set (``task_state["test"]``). Token targets
    take the softmax cross-entropy, real targets half the squared error summed over outputs,
    the same per-position losses the engine trains on, averaged over the chosen positions.

    Example:
        >>> m = PositionLoss("second_half_loss", start=8)
    """

    name: str
    start: int = 0
    stop: int | None = None
    of: str = "train"

    def __post_init__(self):
        if self.of not in ("train", "test"):
            raise ValueError(f"PositionLoss.of must be 'train' or 'test', got {self.of!r}")

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x, y = ctx.batch if self.of == "train" else ctx.task_state["test"]
        pred = ctx.apply(ctx.params, x)[:, self.start:self.stop]
        y = y[:, self.start:self.stop]
        if jnp.issubdtype(y.dtype, jnp.integer):
            loss = optax.softmax_cross_entropy_with_integer_labels(pred, y)
        else:
            loss = 0.5 * jnp.sum(jnp.square(pred - y), axis=-1)
        return jnp.mean(loss), state
