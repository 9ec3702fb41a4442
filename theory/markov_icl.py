"""In-context Markov chains: the expected loss by position of the uniform, unigram and bigram strategies.

Statement:
    A sequence draws its own transition matrix ``P`` with rows ``Dirichlet(alpha 1_k)``, a uniform
    first state, then steps of the chain; position ``t`` predicts ``x_{t+1}`` from ``x_0..x_t``.

    - uniform: ``q(s) = 1/k``, loss ``log k`` at every position.
    - unigram: the Dirichlet posterior predictive of the in-context counts,
      ``q(s) = (n_s + alpha) / (t + 1 + k alpha)``, ``n_s`` the occurrences of ``s`` in ``x_0..x_t``.
    - bigram: the same of the transitions out of the current state,
      ``q(s) = (n_{x_t -> s} + alpha) / (n_{x_t} + k alpha)``; the Bayes-optimal predictor for
      this prior, so it has the lowest expected loss of all strategies.

    ``derive_predictive`` obtains the posterior predictive ``(n_1 + alpha) / (n + 2 alpha)`` by
    ``sympy.integrate`` of the Beta posterior (``k = 2``; the Dirichlet case is the same
    integral per coordinate). ``first_position`` gives the exact expected loss at ``t = 0`` in
    closed form (``E P_aa = 1/k`` by symmetry). ``expected_losses`` gives every position: the
    expectation over the next state is exact given the context and ``P``
    (``sum_s P[x_t, s] (-log q(s))``), averaged over drawn ``P`` and contexts, with standard errors.

Regime and assumptions:
    The strategies' order ``uniform > unigram > bigram`` holds on average over positions for
    ``alpha`` of order one and enough positions; at ``t = 0`` the bigram strategy has seen no
    transition and equals uniform. Edelman et al. (2024) observe transformers trained on this
    distribution pass through a unigram plateau before the bigram (statistical induction head)
    solution; that sequence is what the simulation checks, not a theorem.

Reference:
    B. L. Edelman, E. Edelman, S. Goel, E. Malach, N. Tsilivis (2024), "The evolution of
    statistical induction heads: in-context learning Markov chains", arXiv 2402.11004.

Example:
    >>> out = first_position()(k=2, alpha=1.0)
    >>> round(float(out["unigram"]), 4), round(float(out["bigram"]), 4)
    (0.752, 0.6931)
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from dyntheory import TheoryResult

__all__ = ["CITATION", "derive_predictive", "expected_losses", "first_position", "realized_losses", "strategy_losses"]

CITATION = ("Edelman, Edelman, Goel, Malach, Tsilivis (2024), The evolution of statistical induction "
            "heads: in-context learning Markov chains, arXiv:2402.11004")

p = sp.Symbol("p", positive=True)
alpha = sp.Symbol("alpha", positive=True)
k = sp.Symbol("k", positive=True, integer=True)
n1, n2 = sp.symbols("n_1 n_2", nonnegative=True, integer=True)


@functools.cache
def derive_predictive() -> sp.Expr:
    """``P(next = 1 | n_1 ones, n_2 twos)`` under a ``Beta(alpha, alpha)`` prior, integrated.

    Example:
        >>> derive_predictive()
        (alpha + n_1)/(2*alpha + n_1 + n_2)
    """
    # Both integrals are Euler's Beta integral, int_0^1 p^(a-1) (1-p)^(b-1) dp = G(a) G(b) / G(a+b)
    # (sympy's integrate finds the same, in 40 s instead of milliseconds); the test checks the
    # integrand's integral numerically at a few exponents.
    def beta_integral(a, b):
        return sp.gamma(a) * sp.gamma(b) / sp.gamma(a + b)

    num = beta_integral(n1 + alpha + 1, n2 + alpha)  # int p * p^(n1+alpha-1) (1-p)^(n2+alpha-1)
    den = beta_integral(n1 + alpha, n2 + alpha)
    return sp.simplify(sp.gammasimp(num / den))


@functools.cache
def first_position() -> TheoryResult:
    """Exact expected losses at ``t = 0`` (one state seen); inputs ``k, alpha``.

    unigram: the seen state gets ``(1 + alpha) / (1 + k alpha)``, each other ``alpha / (1 + k
    alpha)``; the next state equals the seen one with probability ``E P_aa = 1/k``.
    """
    stay = 1 / k  # E[P_aa] of a symmetric Dirichlet row
    q_same, q_other = (1 + alpha) / (1 + k * alpha), alpha / (1 + k * alpha)
    return TheoryResult(
        name="markov_icl_first_position",
        outputs={"uniform": sp.log(k), "bigram": sp.log(k),
                 "unigram": -(stay * sp.log(q_same) + (1 - stay) * sp.log(q_other))},
        symbols={"k": (k, "states"), "alpha": (alpha, "Dirichlet concentration")},
        citation=CITATION, assumptions="uniform first state, symmetric Dirichlet rows",
        domain={"k": (2, 10), "alpha": (0.1, 5.0)})


@functools.lru_cache(maxsize=16)
def _losses(states: int, length: int, alpha: float, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Each strategy's loss per sequence and position ``(samples, length)``: exact over the next
    state given the context and ``P``, for drawn ``P`` and contexts."""
    rng = np.random.default_rng(seed)
    kk, n = states, samples
    P = rng.dirichlet(np.full(kk, alpha), size=(n, kk))                    # (n, k, k)
    rows = np.arange(n)
    x = rng.integers(0, kk, n)
    uni, big = np.zeros((n, kk)), np.zeros((n, kk, kk))
    out = {"uniform": np.full((n, length), np.log(kk)), "unigram": np.empty((n, length)),
           "bigram": np.empty((n, length))}
    for t in range(length):
        uni[rows, x] += 1
        nxt_p = P[rows, x]                                                  # the true next law
        c = big[rows, x]
        out["unigram"][:, t] = -np.sum(nxt_p * np.log((uni + alpha) / (t + 1 + kk * alpha)), axis=-1)
        out["bigram"][:, t] = -np.sum(nxt_p * np.log((c + alpha) / (c.sum(-1, keepdims=True) + kk * alpha)),
                                      axis=-1)
        nxt = (rng.random(n)[:, None] > np.cumsum(nxt_p, axis=-1)).sum(-1).clip(0, kk - 1)
        big[rows, x, nxt] += 1
        x = nxt
    return out


def expected_losses(states: int, length: int, alpha: float = 1.0, *, samples: int = 20000,
                    seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Expected cross-entropy of each strategy at positions ``0..length-1``: name -> (mean, SE).

    Example:
        >>> out = expected_losses(3, 4, samples=2000)
        >>> bool(np.all(out["bigram"][0][1:] < out["uniform"][0][1:]))
        True
    """
    losses = _losses(states, length, float(alpha), samples, seed)
    return {m: (v.mean(0), v.std(0, ddof=1) / np.sqrt(samples)) for m, v in losses.items()}


def strategy_losses(states: int, length: int, alpha: float = 1.0, *, samples: int = 20000,
                    seed: int = 0) -> dict[str, tuple[float, float]]:
    """Each strategy's loss averaged over positions (the engine's per-position mean): (mean, SE).

    The SE is over sequences (a sequence's positions are correlated), from the same draws.

    Example:
        >>> out = strategy_losses(3, 16, samples=2000)
        >>> out["uniform"][0] > out["unigram"][0] > out["bigram"][0]
        True
    """
    losses = _losses(states, length, float(alpha), samples, seed)
    return {m: (float(v.mean()), float(v.mean(1).std(ddof=1) / np.sqrt(samples))) for m, v in losses.items()}


def realized_losses(x, y, states: int, alpha: float = 1.0) -> dict:
    """Each strategy's cross-entropy on given sequences, averaged over them and their positions.

    ``x`` are the states ``x_0..x_{L-1}`` and ``y`` the next ones ``(n, L)`` (as
    ``dt.tasks.InContextMarkov`` gives them); position ``t`` is scored on the state that came,
    ``-log q_t(y_t)``, exactly as a model's test loss is. Scored on a model's own test set, these
    levels share its sampling noise (which sequences, which next states), so a model's loss minus
    them is a paired difference: 256 test sequences move a loss by about +-1% from set to set,
    more than the exact expectation's own SE. Written in ``jax.numpy`` (traceable: a metric can
    call it), and usable on numpy arrays.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0, 1, 0, 1]]); y = np.array([[1, 0, 1, 0]])
        >>> out = realized_losses(x, y, 2)
        >>> [round(float(out[m]), 4) for m in ("uniform", "unigram", "bigram")]  # an alternating chain
        [0.6931, 0.8503, 0.5493]
    """
    import jax
    import jax.numpy as jnp

    ox, oy = jax.nn.one_hot(x, states), jax.nn.one_hot(y, states)        # (n, L, k)
    pairs = ox[..., :, None] * oy[..., None, :]                           # (n, L, k, k)
    seen = jnp.cumsum(pairs, axis=-3) - pairs                             # transitions before t
    row = jnp.einsum("nla,nlab->nlb", ox, seen)                           # out of the current state
    bigram = (row + alpha) / (row.sum(-1, keepdims=True) + states * alpha)
    counts = jnp.cumsum(ox, axis=-2)                                      # states x_0..x_t
    t = jnp.arange(1, x.shape[-1] + 1)[:, None]
    unigram = (counts + alpha) / (t + states * alpha)
    score = lambda q: -jnp.mean(jnp.log(jnp.sum(q * oy, -1)))  # noqa: E731
    return {"uniform": jnp.log(jnp.asarray(states, ox.dtype)), "unigram": score(unigram), "bigram": score(bigram)}

