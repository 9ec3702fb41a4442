"""Induction heads: the scores that detect them, and the levels they are judged against.

Statement:
    On a random token sequence of ``P`` distinct tokens repeated (inputs of length ``T = 2P - 1``,
    ``dyntheory``'s ``repeated_probe``), a head's

    - prefix-matching score is its mean attention, over the queries ``q = P .. 2P - 2`` of the
      repeat, to key ``q - P + 1``: the token after the previous occurrence of the current one
      (Olsson et al. 2022). An ideal induction head scores 1. A head attending uniformly over
      its causal window scores ``(H_{2P-1} - H_P) / (P - 1)`` (``H`` the harmonic numbers;
      ``sympy.summation`` of ``1/(q+1)``), the chance level, about ``log 2 / P``.
    - previous-token score is its mean attention from ``q >= 1`` to ``q - 1``; uniform causal
      attention scores ``(H_T - 1) / (T - 1)``.
    - copying score is ``sum(lambda) / sum(|lambda|)`` over the eigenvalues of its OV circuit
      ``W_E W_V W_O W_U``: 1 for a positive multiple of the identity, 0 in expectation for
      independent Gaussian weights (the spectrum of such a product is symmetric in law).

    On the repeated half of the training task (prefix drawn with replacement from ``V`` tokens),
    the in-context loss levels are: ``log V`` (unigram over the vocabulary: no use of context);
    ``E[log D_P]`` with ``D_P`` the number of distinct prefix tokens (uniform over the tokens
    seen, which one attention layer can do), computed exactly from Stirling numbers of the second
    kind, ``P(D_P = j) = S(P, j) V! / ((V - j)! V^P)``; and 0 (induction: copy the token after
    the previous occurrence). The claim: a two-layer attention-only model falls below the
    seen-token level when its layer-2 prefix-matching score jumps; a one-layer model cannot
    (an induction head composes a previous-token head with a later head).

Regime and assumptions:
    The levels are of idealised strategies. A head's score is measured on a fixed probe of
    distinct tokens, so an ideal induction head's score is exactly 1.

Reference:
    C. Olsson, N. Elhage, N. Nanda, N. Joseph et al. (2022), "In-context learning and induction
    heads", arXiv 2209.11895; N. Elhage et al. (2021), "A mathematical framework for transformer
    circuits", transformer-circuits.pub.

Example:
    >>> round(float(uniform_scores()(P=8)["prefix_matching"]), 4)
    0.0858
"""

from __future__ import annotations

import functools
import math

import sympy as sp

from dyntheory import TheoryResult

__all__ = ["CITATION", "derive_uniform_scores", "loss_levels", "uniform_scores"]

CITATION = ("Olsson, Elhage, Nanda, Joseph et al. (2022), In-context learning and induction heads, "
            "arXiv:2209.11895")

P = sp.Symbol("P", integer=True, positive=True)


@functools.cache
def derive_uniform_scores() -> dict[str, sp.Expr]:
    """Scores of uniform causal attention (query ``q`` gives ``1/(q+1)`` to each key ``<= q``),
    summed by sympy and written with ``polygamma`` (``H_n = psi(n + 1) + gamma``).

    Example:
        >>> sp.simplify(derive_uniform_scores()["prefix_matching"].subs(P, 2))
        1/3
    """
    j, n = sp.Symbol("j", integer=True, positive=True), sp.Symbol("n", integer=True, positive=True)
    partial = sp.summation(1 / j, (j, 1, n))  # harmonic(n)

    def window(lo, hi):  # sum over queries lo..hi of 1/(q+1), q+1 = j
        return partial.subs(n, hi + 1) - partial.subs(n, lo)

    T = 2 * P - 1
    prefix = window(P, 2 * P - 2) / (P - 1)
    previous = window(1, T - 1) / (T - 1)
    rewrite = lambda e: sp.simplify(e.rewrite(sp.polygamma))  # noqa: E731
    return {"prefix_matching": rewrite(prefix), "previous_token": rewrite(previous)}


@functools.cache
def uniform_scores() -> TheoryResult:
    """Chance levels of the prefix-matching and previous-token scores; input ``P`` (>= 2)."""
    return TheoryResult(
        name="induction_uniform_scores", outputs=derive_uniform_scores(),
        symbols={"P": (P, "prefix length (the probe has 2P - 1 positions)")},
        validity=(P >= 2,), citation=CITATION,
        assumptions="uniform attention over the causal window; a repeated probe of distinct tokens",
        domain={"P": (2, 64)})


def loss_levels(vocab: int, prefix: int) -> dict[str, float]:
    """In-context loss levels on the repeated half: ``unigram`` (``log V``), ``seen`` (uniform over
    the distinct tokens seen, ``E log D_P``, exact) and ``induction`` (0).

    Example:
        >>> levels = loss_levels(16, 8)
        >>> round(levels["seen"], 4) < round(math.log(8), 4) < levels["unigram"]
        True
    """
    V, n = vocab, prefix
    total = sp.Integer(0)
    for j in range(1, min(n, V) + 1):
        prob = sp.functions.combinatorial.numbers.stirling(n, j) * sp.ff(V, j) / sp.Integer(V) ** n
        total += prob * sp.log(j)
    return {"unigram": math.log(V), "seen": float(total.evalf(30)), "induction": 0.0}
