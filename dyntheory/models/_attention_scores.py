"""Per-head attention scores of a ``Transformer``, and metrics that record them during training.

Olsson, Elhage, Nanda et al. (2022), "In-context learning and induction heads", arXiv 2209.11895:

- prefix matching: on a random token sequence repeated, how much a head at a token of the repeat
  attends to the token *after* that token's previous occurrence (an induction head's query-key
  behaviour); 1 for an ideal induction head.
- previous token: how much a head attends to the position just before (the first layer's half of
  the two-layer induction circuit).
- copying: ``sum(lambda) / sum(|lambda|)`` over the eigenvalues of the head's token-to-logit OV
  circuit ``W_E W_V W_O W_U``; 1 when it only raises the logits of the tokens it attends to.

The baselines these are judged against (uniform causal attention, an ideal head) are derived in
``theory/induction_heads.py``. Scores take patterns as ``Transformer.attention`` returns them,
``(batch, layers, heads, T, T)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

SCORES = ("prefix_matching", "previous_token")


def repeated_probe(vocab: int, prefix: int, n: int, seed: int = 0) -> jax.Array:
    """``n`` sequences of ``prefix`` random tokens repeated, as inputs (the last token dropped):
    ``(n, 2 prefix - 1)``. The prefix tokens are distinct when ``prefix <= vocab`` (a
    permutation's first ``prefix``), so each token of the repeat has one previous occurrence.

    Example:
        >>> repeated_probe(8, 4, 2).shape
        (2, 7)
    """
    key = jax.random.key(seed)
    if prefix <= vocab:
        keys = jax.random.split(key, n)
        r = jax.vmap(lambda k: jax.random.permutation(k, vocab)[:prefix])(keys)
    else:
        r = jax.random.randint(key, (n, prefix), 0, vocab)
    return jnp.concatenate([r, r], axis=1)[:, :-1].astype(jnp.int32)


def prefix_matching(patterns: jax.Array, prefix: int) -> jax.Array:
    """Mean attention from each query ``q`` in ``prefix .. 2 prefix - 2`` to key ``q - prefix + 1``,
    per layer and head: ``(layers, heads)`` from patterns ``(batch, layers, heads, T, T)`` of a
    repeated sequence (``repeated_probe``).

    Example:
        >>> P = 4; T = 2 * P - 1
        >>> ideal = jnp.zeros((T, T)).at[jnp.arange(P, T), jnp.arange(1, P)].set(1.0)
        >>> float(prefix_matching(ideal[None, None, None], P)[0, 0])
        1.0
    """
    q = jnp.arange(prefix, 2 * prefix - 1)
    return jnp.mean(patterns[..., q, q - prefix + 1], axis=(0, -1))


def previous_token(patterns: jax.Array) -> jax.Array:
    """Mean attention from each query ``q >= 1`` to key ``q - 1``: ``(layers, heads)``."""
    q = jnp.arange(1, patterns.shape[-1])
    return jnp.mean(patterns[..., q, q - 1], axis=(0, -1))


def ov_circuit(model, params, layer: int, head: int) -> np.ndarray:
    """The head's token-to-logit OV matrix ``W_E W_V^h W_O^h W_U`` (vocab x d_out), in numpy.

    It ignores LayerNorm and the other layers' paths: the direct path, as Olsson et al. read it.
    """
    d = model.d_head
    block = params["blocks"][layer]
    w_e = np.asarray(params["embed"]["w"])
    w_v = np.asarray(block["v"]["w"])[:, head * d:(head + 1) * d]
    w_o = np.asarray(block["o"]["w"])[head * d:(head + 1) * d]
    w_u = w_e.T if model.tied else np.asarray(params["unembed"]["w"])
    return w_e @ w_v @ w_o @ w_u


def copying_score(ov: np.ndarray) -> float:
    """``sum(lambda) / sum(|lambda|)`` over the eigenvalues of a square OV circuit (Olsson et al.
    2022, "copying"): in ``[-1, 1]``, 1 for a positive multiple of the identity. On the host, in
    numpy (an eigen-decomposition; never inside a vmapped training step).

    Example:
        >>> copying_score(2 * np.eye(3))
        1.0
    """
    lam = np.linalg.eigvals(np.asarray(ov, dtype=float))
    return float(np.real(lam.sum()) / np.abs(lam).sum())


@dataclasses.dataclass(frozen=True)
class HeadScore:
    """A metric: one head's ``prefix_matching`` or ``previous_token`` score (a ``dt.Metric``),
    measured on a fixed probe of ``n`` repeated random sequences (``repeated_probe``), the same
    at every step and for every member.

    Args:
        model: the sweep's ``Transformer`` (its ``attention`` is called on the member's params).
        score: ``prefix_matching`` or ``previous_token``.
        layer, head: which head (0-indexed).
        vocab, prefix: the probe's vocabulary and half-length.
        n, seed: probe size and the key of its draw.

    Example:
        >>> from dyntheory.models._transformer import Transformer
        >>> m = HeadScore(Transformer(), "prefix_matching", layer=1, head=0, vocab=16, prefix=8)
        >>> m.name
        'prefix_matching_l1_h0'
    """

    model: Any
    score: str
    layer: int
    head: int
    vocab: int
    prefix: int
    n: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.score not in SCORES:
            raise ValueError(f"HeadScore.score must be one of {SCORES}, got {self.score!r}")
        if not 0 <= self.layer < self.model.layers or not 0 <= self.head < self.model.heads:
            raise ValueError(f"HeadScore(layer={self.layer}, head={self.head}) is not a head of a model "
                             f"with {self.model.layers} layers of {self.model.heads} heads")

    @property
    def name(self) -> str:
        return f"{self.score}_l{self.layer}_h{self.head}"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        patterns = self.model.attention(ctx.params, repeated_probe(self.vocab, self.prefix, self.n, self.seed))
        scores = (prefix_matching(patterns, self.prefix) if self.score == "prefix_matching"
                  else previous_token(patterns))
        return scores[self.layer, self.head], state


def head_scores(model, *, vocab: int, prefix: int, scores=SCORES, n: int = 32) -> dict[str, HeadScore]:
    """Every head's scores as named metrics, for ``Sweep(metrics=...)``.

    Example:
        >>> from dyntheory.models._transformer import Transformer
        >>> sorted(head_scores(Transformer(layers=1, heads=2), vocab=8, prefix=4))
        ['prefix_matching_l0_h0', 'prefix_matching_l0_h1', 'previous_token_l0_h0', 'previous_token_l0_h1']
    """
    out = {}
    for s in scores:
        for layer in range(model.layers):
            for head in range(model.heads):
                m = HeadScore(model, s, layer, head, vocab, prefix, n)
                out[m.name] = m
    return out
