"""Modular arithmetic written as a token sequence ``a b =``, for sequence models."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from dyntheory.tasks._base import Batch, Spec
from dyntheory.tasks._modular import ModularArithmetic


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModularSequence(ModularArithmetic):
    """``(a op b) mod p`` from the three tokens ``a, b, =`` (``=`` is token ``p``).

    The same pairs, split and minibatch order as ``ModularArithmetic`` with the same fields and
    keys, with the ``=`` token appended: inputs ``(n, 3)`` over a vocabulary of ``p + 1``, the
    class ``c`` in ``0..p-1`` read at the last position (a ``Transformer(readout="last")``), as
    in Power et al. (2022), arXiv 2201.02177, and Nanda et al. (2023), "Progress measures for
    grokking via mechanistic interpretability", arXiv 2301.05217.

    Example:
        >>> ModularSequence(p=23).spec()
        Spec(d_in=3, d_out=23, vocab=24)
    """

    def spec(self) -> Spec:
        return Spec(d_in=3, d_out=self.p, vocab=self.p + 1)

    def setup(self, task_key, noise_key, tp):
        state = super().setup(task_key, noise_key, tp)
        return {k: Batch(self.with_equals(b.x), b.y) for k, b in state.items()}

    def with_equals(self, pairs) -> jnp.ndarray:
        """``(n, 2)`` pairs -> ``(n, 3)`` sequences ``a, b, =``."""
        return jnp.concatenate([pairs, jnp.full((pairs.shape[0], 1), self.p, pairs.dtype)], axis=1)
