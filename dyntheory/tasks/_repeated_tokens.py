"""Random token sequences repeated: the task on which induction heads form.

Olsson et al. (2022), "In-context learning and induction heads", arXiv 2209.11895, measure
induction heads on a random token sequence repeated; trained on such sequences, a two-layer
attention-only model learns to copy the second half from the first.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import positive_int
from dyntheory.tasks._base import Batch, Spec
from dyntheory.tasks._sequence import SequenceTask


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatedTokens(SequenceTask):
    """Next-token prediction on ``prefix`` uniform random tokens followed by the same tokens again.

    A sequence is ``s = (r_1..r_P, r_1..r_P)`` with ``r_i`` uniform on ``0..vocab-1``; inputs are
    ``s[:-1]`` (``2 P - 1`` tokens), targets ``s[1:]``. Targets at positions ``0..P-2`` are
    unpredictable (loss ``log vocab`` at best); from position ``P`` on, the target is the token that
    followed the previous occurrence of the current token (an induction head's answer); position
    ``P - 1`` predicts ``r_1`` and needs the period. ``PositionLoss(start=prefix)`` is the
    in-context loss of the repeated half.

    With a fixed period a single attention layer can copy by *position* (attend to ``q - P + 1``)
    without an induction head. ``min_prefix`` draws the period ``L`` of each sequence uniformly
    from ``min_prefix..prefix`` and repeats ``r_1..r_L`` cyclically over the same ``2 P``
    positions (``s_t = r_{t mod L}``): positions from ``prefix`` on are always in a repeat, but
    where the previous occurrence sits is known only from the tokens.

    Args:
        vocab: number of distinct tokens.
        prefix: length ``P`` of the random prefix (the longest period).
        min_prefix: the shortest period (``None``: every period is ``prefix``).
        n_train: a finite training set of this many sequences, or ``None`` to stream.
        n_test: sequences in the test set.

    Example:
        >>> RepeatedTokens(vocab=16, prefix=8).spec()
        Spec(d_in=15, d_out=16, vocab=16)
    """

    kind: ClassVar[str] = "classification"

    vocab: int
    prefix: int
    min_prefix: int | None = None
    n_train: int | None = None
    n_test: int = 512

    def check(self) -> None:
        positive_int(self, "vocab", minimum=2)
        positive_int(self, "prefix", minimum=2)
        positive_int(self, "min_prefix", allow_none=True, minimum=1)
        if self.min_prefix is not None and self.min_prefix > self.prefix:
            raise ValueError(f"RepeatedTokens.min_prefix={self.min_prefix} must be at most "
                             f"prefix={self.prefix}")
        positive_int(self, "n_train", allow_none=True)
        positive_int(self, "n_test")

    def spec(self) -> Spec:
        return Spec(d_in=2 * self.prefix - 1, d_out=self.vocab, vocab=self.vocab)

    def sample(self, fixed, key, n, tp, noise_key=None):
        k_tokens, k_period = jax.random.split(key)
        r = jax.random.randint(k_tokens, (n, self.prefix), 0, self.vocab, dtype=jnp.int32)
        if self.min_prefix is None:
            s = jnp.concatenate([r, r], axis=1)
        else:
            period = jax.random.randint(k_period, (n, 1), self.min_prefix, self.prefix + 1)
            s = jnp.take_along_axis(r, jnp.arange(2 * self.prefix)[None] % period, axis=1)
        return Batch(s[:, :-1], s[:, 1:])
