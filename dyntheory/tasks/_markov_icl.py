"""In-context Markov chains: each sequence follows its own random transition matrix.

Edelman, Edelman, Goel, Malach, Tsilivis (2024), "The evolution of statistical induction heads:
in-context learning Markov chains", arXiv 2402.11004.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import positive_int, real_field
from dyntheory.tasks._base import Batch, Spec
from dyntheory.tasks._sequence import SequenceTask


@dataclasses.dataclass(frozen=True, kw_only=True)
class InContextMarkov(SequenceTask):
    """Next-token prediction on Markov chains whose transition matrix is drawn per sequence.

    Each sequence draws ``P`` with independent rows ``P[a] ~ Dirichlet(alpha * 1_k)``, a first
    state uniform on ``0..k-1``, then ``length`` steps of the chain. Inputs are the first
    ``length`` states ``(n, length)``, targets the next ones: position ``t`` predicts state
    ``t + 1``. The uniform (``log k``), in-context unigram and in-context bigram strategies have
    exact expected losses by position (``theory/markov_icl.py``); the bigram one is Bayes-optimal.

    Args:
        states: number of states ``k`` (the vocabulary).
        length: positions per sequence.
        alpha: Dirichlet concentration of each row (1: uniform on the simplex).
        n_train: a finite training set of this many sequences, or ``None`` to stream.
        n_test: sequences in the test set.

    Example:
        >>> InContextMarkov(states=3, length=32).spec()
        Spec(d_in=32, d_out=3, vocab=3)
    """

    kind: ClassVar[str] = "classification"

    states: int
    length: int
    alpha: float = 1.0
    n_train: int | None = None
    n_test: int = 512

    def check(self) -> None:
        positive_int(self, "states", minimum=2)
        positive_int(self, "length", minimum=2)
        positive_int(self, "n_train", allow_none=True)
        positive_int(self, "n_test")
        real_field(self, "alpha", minimum=0.0, open_low=True)

    def spec(self) -> Spec:
        return Spec(d_in=self.length, d_out=self.states, vocab=self.states)

    def transitions(self, key, n: int) -> jax.Array:
        """``(n, k, k)`` transition matrices with Dirichlet rows."""
        return jax.random.dirichlet(key, jnp.full((self.states,), self.alpha), (n, self.states))

    def chains(self, P, key) -> jax.Array:
        """States ``(n, length + 1)`` of the chains with transition matrices ``P``."""
        k0, k_steps = jax.random.split(key)
        n = P.shape[0]
        first = jax.random.randint(k0, (n,), 0, self.states)

        def step(s, k):
            nxt = jax.random.categorical(k, jnp.log(P[jnp.arange(n), s]), axis=-1)
            return nxt, nxt

        _, rest = jax.lax.scan(step, first, jax.random.split(k_steps, self.length))
        return jnp.concatenate([first[:, None], rest.T], axis=1).astype(jnp.int32)

    def sample(self, fixed, key, n, tp, noise_key=None):
        k_p, k_s = jax.random.split(key)
        s = self.chains(self.transitions(k_p, n), k_s)
        return Batch(s[:, :-1], s[:, 1:])
