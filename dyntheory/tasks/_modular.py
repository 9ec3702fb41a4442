"""Modular arithmetic ``(a op b) mod p`` with a fixed train/test split: the grokking task."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from dyntheory._config.checks import is_real, positive_int
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch

OPS = ("+", "-", "*", "/")


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % q for q in range(2, int(p ** 0.5) + 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModularArithmetic(Task):
    """Classify ``(a op b) mod p`` from the token pair ``(a, b)`` (Power et al. 2022, arXiv 2201.02177).

    All pairs with ``a, b`` in ``0..p-1`` (``b != 0`` for division) form the dataset; a fraction
    ``train_frac`` goes to training, chosen by a permutation drawn from the member's task stream,
    the rest is the test set. ``p`` and ``train_frac`` change shapes, so sweeping them makes
    compiled groups.

    Example:
        >>> task = ModularArithmetic(p=23, op="+", train_frac=0.4)
    """

    kind: ClassVar[str] = "classification"

    p: int
    op: str = "+"
    train_frac: float = 0.3

    finite: ClassVar[bool] = True

    def check(self) -> None:
        positive_int(self, "p", minimum=2)
        if self.op not in OPS:
            raise ValueError(f"ModularArithmetic.op must be one of {OPS}, got {self.op!r}")
        if self.op == "/" and not _is_prime(self.p):
            raise ValueError(f"ModularArithmetic.p must be prime for op='/', got {self.p!r}")
        n = self.n_pairs
        if not (is_real(self.train_frac) and 0 < self.train_frac < 1 and 1 <= round(self.train_frac * n) < n):
            raise ValueError(f"ModularArithmetic.train_frac must leave >= 1 train and test pair "
                             f"out of {n}, got {self.train_frac!r}")
        object.__setattr__(self, "train_frac", float(self.train_frac))

    @property
    def n_pairs(self) -> int:
        return self.p * (self.p - 1 if self.op == "/" else self.p)

    @property
    def n_train(self) -> int:
        return int(round(self.train_frac * self.n_pairs))

    def spec(self) -> Spec:
        return Spec(d_in=2, d_out=self.p, vocab=self.p)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """All pairs (row-major, a*p+b) and their labels, in numpy."""
        p = self.p
        a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
        a, b = a.ravel(), b.ravel()
        if self.op == "/":
            keep = b != 0
            a, b = a[keep], b[keep]
            y = (a * np.array([pow(int(v), p - 2, p) for v in b])) % p
        else:
            y = {"+": a + b, "-": a - b, "*": a * b}[self.op] % p
        return np.stack([a, b], axis=1).astype(np.int32), y.astype(np.int32)

    def setup(self, task_key, noise_key, tp):
        x, y = self.table()
        perm = jax.random.permutation(task_key, x.shape[0])
        x, y = jnp.asarray(x)[perm], jnp.asarray(y)[perm]
        n = self.n_train
        return {"train": Batch(x[:n], y[:n]), "test": Batch(x[n:], y[n:])}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        return finite_minibatch(state["train"], data_key, step, batch_size)

    def eval_sets(self, state, tp):
        return {"train": state["train"], "test": state["test"]}
