"""Sparse parity: the label is the parity of ``k`` hidden coordinates of ``n`` random bits."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import positive_int
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparseParity(Task):
    """(n, k)-sparse parity (Barak et al. 2022, arXiv 2207.08799).

    Inputs are uniform in ``{-1, +1}^n``; the class is 1 when the product of the ``k`` relevant
    bits is -1. The relevant subset is drawn from the task stream and exposed as the state's
    ``relevant`` index vector. ``n_train=None`` streams fresh samples; otherwise a fixed set is
    visited in replayable epochs. Two-class cross-entropy.

    Example:
        >>> task = SparseParity(n_bits=20, k=3)
    """

    kind: ClassVar[str] = "classification"

    n_bits: int
    k: int
    n_train: int | None = None
    n_test: int = 1024

    def check(self) -> None:
        positive_int(self, "n_bits")
        positive_int(self, "k")
        positive_int(self, "n_test")
        positive_int(self, "n_train", allow_none=True)
        if self.k > self.n_bits:
            raise ValueError(f"SparseParity.k must be <= n_bits={self.n_bits}, got {self.k!r}")

    def spec(self) -> Spec:
        return Spec(d_in=self.n_bits, d_out=2)

    def _sample(self, relevant, key, n):
        x = jnp.where(jax.random.bernoulli(key, 0.5, (n, self.n_bits)), 1.0, -1.0)
        y = (jnp.prod(x[:, relevant], axis=1) < 0).astype(jnp.int32)
        return Batch(x, y)

    def setup(self, task_key, noise_key, tp):
        k_rel, k_test, k_train = jax.random.split(task_key, 3)
        relevant = jnp.sort(jax.random.permutation(k_rel, self.n_bits)[: self.k])
        state = {"relevant": relevant, "test": self._sample(relevant, k_test, self.n_test)}
        if self.n_train is not None:
            state["train"] = self._sample(relevant, k_train, self.n_train)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        return self._sample(state["relevant"], jax.random.fold_in(data_key, step), batch_size)

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}
