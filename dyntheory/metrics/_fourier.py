"""Fourier progress measures for modular addition (Nanda et al. 2023).

A network that has grokked ``(a + b) mod p`` represents its inputs with a few "key"
frequencies ``w_k = 2 pi k / p`` and builds logits ``sum_k cos(w_k (a + b - c))``. The measures
here read that off a model's embedding and its full logit table, without any training:

* :func:`fourier_basis` -- the real orthonormal Fourier basis of ``R^p`` (rows: constant,
  ``cos_1, sin_1, cos_2, sin_2, ...``; for even ``p`` a final ``cos_{p/2}``).
* :func:`frequency_norms` / :func:`key_frequencies` -- norm of the embedding per frequency
  (cos and sin rows together) and the ``top`` frequencies by that norm.
* :func:`restricted_loss` / :func:`excluded_loss` -- cross-entropy of the logit table restricted
  to, or with removed, the key frequencies' ``cos(w_k (a + b))`` and ``sin(w_k (a + b))``
  directions.
* :func:`gini` -- sparsity of a non-negative vector (0 flat, ``(n-1)/n`` one-hot).

Exact definitions (following the paper's released code, ``transformers.py`` and ``helpers.py``
of mechanistic-interpretability-grokking/progress-measures-paper): the logit table ``L`` has
shape ``(p*p, p)``, row ``a*p + b`` holding the logits of input pair ``(a, b)``. For frequency
``k`` let ``u_k = (cos_k (x) cos_k - sin_k (x) sin_k)/sqrt(2)`` and ``v_k = (sin_k (x) cos_k +
cos_k (x) sin_k)/sqrt(2)``, unit vectors of ``R^{p*p}`` equal to ``sqrt(2)/p cos(w_k (a + b))``
and ``sqrt(2)/p sin(w_k (a + b))``. With ``P_K = sum_{k in K} (u_k u_k^T + v_k v_k^T)`` acting on
the pair axis of ``L`` (separately for each output ``c``):

* restricted logits ``= P_K L + mean_pairs(L)``: the key-frequency components plus the paper's
  bias correction (the mean over inputs of what was removed, which is the per-output mean of
  ``L`` because the trig directions have zero mean);
* excluded logits ``= L - P_K L``, with all key frequencies removed at once (the paper's code
  removes one frequency at a time and reports a list; pass a single frequency to get one entry).

``P_K`` only sees functions of ``s = (a + b) mod p``, so it is computed cheaply as a 1-D Fourier
projection of the pair-averaged table ``Lbar(s, c) = mean_{a+b = s mod p} L(a, b, c)``. The
paper evaluates the restricted loss on all pairs and the excluded loss on the training pairs;
both functions take an optional ``mask`` for that. The paper picks key frequencies from MLP
neuron activations; :func:`key_frequencies` uses the embedding norms (its Fig. 3), which agree
for a grokked model.

Reference:
    Neel Nanda, Lawrence Chan, Tom Lieberum, Jess Smith, Jacob Steinhardt (2023), "Progress
    measures for grokking via mechanistic interpretability", ICLR 2023, arXiv:2301.05217.

All functions are pure ``jnp``, jit-safe (the public ones are jitted with ``p`` and ``top``
static, so eager calls compile once per shape), and act on the trailing axes, so leading member
axes pass through (or ``vmap`` them).

Example:
    >>> p = 7
    >>> a, b = jnp.divmod(jnp.arange(p * p), p)
    >>> c = jnp.arange(p)
    >>> logits = 4.0 * jnp.cos(2 * jnp.pi * 2 * ((a + b)[:, None] - c) / p)
    >>> labels = pair_labels(p)
    >>> full = float(cross_entropy(logits, labels))
    >>> bool(abs(float(restricted_loss(logits, labels, p, jnp.array([2]))) - full) < 1e-5)
    True
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "cross_entropy",
    "excluded_loss",
    "fourier_basis",
    "frequency_norms",
    "gini",
    "key_frequencies",
    "pair_labels",
    "restricted_loss",
]


def fourier_basis(p: int) -> jax.Array:
    """Real orthonormal Fourier basis of ``R^p``, one basis vector per row.

    Rows: ``1/sqrt(p)``, then ``cos(2 pi k x / p)`` and ``sin(2 pi k x / p)`` for
    ``k = 1 .. (p-1)//2``, each normalised; for even ``p`` a last row ``cos(pi x)/sqrt(p)``.
    Row ``2k - 1`` is ``cos_k`` and row ``2k`` is ``sin_k``.

    Args:
        p: modulus (static), ``p >= 2``.

    Returns:
        A ``(p, p)`` orthogonal matrix in the default float dtype.

    Example:
        >>> F = fourier_basis(5)
        >>> bool(jnp.allclose(F @ F.T, jnp.eye(5), atol=1e-6))
        True
    """
    if p < 2:
        raise ValueError(f"fourier_basis: p must be >= 2, got {p}")
    x = np.arange(p)
    rows = [np.ones(p) / np.sqrt(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows.append(np.cos(2 * np.pi * k * x / p) * np.sqrt(2.0 / p))
        rows.append(np.sin(2 * np.pi * k * x / p) * np.sqrt(2.0 / p))
    if p % 2 == 0:
        rows.append(np.cos(np.pi * x) / np.sqrt(p))
    return jnp.asarray(np.stack(rows), dtype=jnp.result_type(float))


def _row_frequency(p: int) -> np.ndarray:
    """Frequency ``k`` of each row of :func:`fourier_basis` (0 for the constant row)."""
    return (np.arange(p) + 1) // 2


def pair_labels(p: int) -> jax.Array:
    """Labels ``(a + b) mod p`` for all pairs in row-major order ``a * p + b``, shape ``(p*p,)``.

    Example:
        >>> pair_labels(3).tolist()
        [0, 1, 2, 1, 2, 0, 2, 0, 1]
    """
    return jnp.asarray(_pair_residues(p))


def _pair_residues(p: int) -> np.ndarray:
    """``(a + b) mod p`` for row ``a*p + b``, as a host constant (safe inside jit)."""
    a, b = np.divmod(np.arange(p * p), p)
    return (a + b) % p


@functools.partial(jax.jit, static_argnames="p")
def frequency_norms(embed: jax.Array, p: int) -> jax.Array:
    """Norm of the embedding in each Fourier frequency, ``k = 1 .. p//2``.

    ``norm_k = sqrt(|F[cos_k] @ E|^2 + |F[sin_k] @ E|^2)``: the Frobenius norm of the embedding's
    component in the 2-D cos/sin subspace of frequency ``k`` (only cos for ``k = p/2``). The
    constant component is left out.

    Args:
        embed: ``(..., p, d)`` token embeddings, one row per residue (drop extra tokens, e.g. a
            separator, before calling).
        p: modulus.

    Returns:
        ``(..., p // 2)`` norms; entry ``k - 1`` is frequency ``k``.

    Example:
        >>> E = fourier_basis(7)[3:5].T  # the cos_2 and sin_2 directions, shape (7, 2)
        >>> [round(float(x), 4) for x in frequency_norms(E, 7)]
        [0.0, 1.4142, 0.0]
    """
    if embed.shape[-2] != p:
        raise ValueError(f"frequency_norms: embed must have {p} rows (one per residue), "
                         f"got shape {embed.shape}")
    coeff = jnp.einsum("fx,...xd->...fd", fourier_basis(p).astype(embed.dtype), embed)
    sq = jnp.sum(coeff ** 2, axis=-1)  # (..., p)
    onehot = jax.nn.one_hot(_row_frequency(p)[1:] - 1, p // 2, dtype=sq.dtype)  # (p-1, p//2)
    return jnp.sqrt(sq[..., 1:] @ onehot)


@functools.partial(jax.jit, static_argnames=("p", "top"))
def key_frequencies(embed: jax.Array, p: int, *, top: int = 5) -> jax.Array:
    """The ``top`` frequencies (1-based) with the largest :func:`frequency_norms`, largest first.

    Args:
        embed: ``(..., p, d)`` embeddings.
        p: modulus.
        top: how many frequencies (static), ``1 <= top <= p // 2``.

    Returns:
        ``(..., top)`` integer frequencies in ``1 .. p // 2``.

    Example:
        >>> E = fourier_basis(7)[3:5].T
        >>> key_frequencies(E, 7, top=1).tolist()
        [2]
    """
    if not 1 <= top <= p // 2:
        raise ValueError(f"key_frequencies: top must be in 1..{p // 2}, got {top}")
    _, idx = jax.lax.top_k(frequency_norms(embed, p), top)
    return idx + 1


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  mask: jax.Array | None = None) -> jax.Array:
    """Mean cross-entropy over rows (over rows where ``mask`` is true, if given).

    ``labels`` and ``mask`` broadcast against ``logits.shape[:-1]``, so one label vector serves
    a whole population of logit tables.

    Example:
        >>> round(float(cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))), 4)  # log 4
        1.3863
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    labels = jnp.broadcast_to(jnp.asarray(labels), logits.shape[:-1])
    nll = -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    if mask is None:
        return jnp.mean(nll, axis=-1)
    w = jnp.asarray(mask, nll.dtype)
    return jnp.sum(nll * w, axis=-1) / jnp.sum(w, axis=-1)


def _key_projection(logits: jax.Array, p: int, freqs: jax.Array,
                    keep_constant: bool) -> jax.Array:
    """``P_K L`` (plus the per-output mean if ``keep_constant``) on the ``(..., p*p, p)`` table."""
    if logits.shape[-2:] != (p * p, p):
        raise ValueError(f"logits must have trailing shape ({p * p}, {p}) = (pairs, outputs), "
                         f"got {logits.shape}")
    s = _pair_residues(p)
    onehot_s = jax.nn.one_hot(s, p, dtype=logits.dtype)  # (p*p, p): pair -> residue of a+b
    # Each residue s has exactly p pairs, so this is the mean over {(a, b): a + b = s mod p}.
    lbar = jnp.einsum("ns,...nc->...sc", onehot_s, logits) / p
    basis = fourier_basis(p).astype(logits.dtype)
    freqs = jnp.asarray(freqs)
    # Membership as a 0/1 vector over frequencies 0..p//2, so repeated frequencies count once.
    keep = jnp.any(freqs[..., :, None] == jnp.arange(p // 2 + 1), axis=-2).astype(logits.dtype)
    keep = keep.at[..., 0].set(1.0 if keep_constant else 0.0)
    keep_rows = keep[..., _row_frequency(p)]  # (..., p) over basis rows
    coeff = jnp.einsum("fs,...sc->...fc", basis, lbar) * keep_rows[..., :, None]
    proj = jnp.einsum("fs,...fc->...sc", basis, coeff)  # (..., p residues, p outputs)
    return jnp.einsum("ns,...sc->...nc", onehot_s, proj)


@functools.partial(jax.jit, static_argnames="p")
def restricted_loss(logits: jax.Array, labels: jax.Array, p: int, freqs: jax.Array,
                    *, mask: jax.Array | None = None) -> jax.Array:
    """Loss of the logits restricted to the key frequencies' ``cos/sin(w_k (a+b))`` directions.

    Restricted logits are ``P_K L + mean_pairs(L)`` (module docstring); a model that computes
    with the key frequencies alone keeps its loss, so restricted loss falling with the train
    loss is the paper's signature of circuit formation.

    Args:
        logits: ``(..., p*p, p)`` logits for every pair ``(a, b)``, row ``a*p + b``.
        labels: ``(p*p,)`` targets, normally :func:`pair_labels`.
        p: modulus.
        freqs: ``(..., n_key)`` integer key frequencies in ``1 .. p//2``; repeats count once,
            0 is ignored.
        mask: optional ``(p*p,)`` boolean selection of pairs (e.g. the training split).

    Returns:
        ``(...)`` mean cross-entropy.

    Example:
        >>> p = 5
        >>> loss = restricted_loss(jnp.zeros((p * p, p)), pair_labels(p), p, jnp.array([1]))
        >>> round(float(loss), 4)  # uniform logits: log 5
        1.6094
    """
    restricted = _key_projection(logits, p, freqs, keep_constant=True)
    return cross_entropy(restricted, labels, mask)


@functools.partial(jax.jit, static_argnames="p")
def excluded_loss(logits: jax.Array, labels: jax.Array, p: int, freqs: jax.Array,
                  *, mask: jax.Array | None = None) -> jax.Array:
    """Loss of the logits with the key frequencies' ``cos/sin(w_k (a+b))`` directions removed.

    Excluded logits are ``L - P_K L`` (module docstring). A memorising model does not rely on
    the key directions, so removing them barely hurts; a generalising one collapses. The paper
    evaluates it on the training pairs: pass ``mask=is_train``.

    Args:
        logits: ``(..., p*p, p)`` logits for every pair ``(a, b)``, row ``a*p + b``.
        labels: ``(p*p,)`` targets.
        p: modulus.
        freqs: ``(..., n_key)`` integer key frequencies in ``1 .. p//2``.
        mask: optional ``(p*p,)`` boolean selection of pairs.

    Returns:
        ``(...)`` mean cross-entropy.

    Example:
        >>> p = 5
        >>> a, b = jnp.divmod(jnp.arange(p * p), p)
        >>> L = 5.0 * jnp.cos(2 * jnp.pi * ((a + b)[:, None] - jnp.arange(p)) / p)
        >>> float(excluded_loss(L, pair_labels(p), p, jnp.array([1]))) > 1.6  # log 5 = 1.609
        True
    """
    removed = _key_projection(logits, p, freqs, keep_constant=False)
    return cross_entropy(logits - removed, labels, mask)


def gini(x: jax.Array) -> jax.Array:
    """Gini coefficient of non-negative values along the last axis.

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the ascending order statistics: 0 when all
    entries are equal, ``(n - 1)/n`` when one entry holds everything; an all-zero vector gets 0
    (so a dead member of a population does not put NaN in a vmapped metric). Applied to
    :func:`frequency_norms` it measures how sparse the embedding is in frequency.

    Example:
        >>> float(gini(jnp.ones(4))), float(gini(jnp.array([0.0, 0.0, 0.0, 2.0])))
        (0.0, 0.75)
    """
    x = jnp.sort(jnp.asarray(x), axis=-1)
    n = x.shape[-1]
    i = jnp.arange(1, n + 1, dtype=x.dtype)
    total = jnp.sum(x, axis=-1)
    safe = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, jnp.sum((2 * i - n - 1) * x, axis=-1) / (n * safe), 0.0)
