"""Depth transfer: how the best Adam learning rate moves with depth when residual branches scale.

Statement:
    A residual MLP ``h_l = h_{l-1} + m W_l phi(h_{l-1})``, ``l = 1..L``, with branch multiplier
    ``m = (L / L_0)^-alpha`` and the residual weights' Adam learning rate ``eta (L / L_0)^(alpha - 1)``
    for ``alpha > 0`` (``eta`` unscaled for ``alpha = 0``), as ``dt.models.ResMLP`` does. Adam's first
    step moves every entry of ``W_l`` by about its learning rate, aligned with the block's input,
    so block ``l`` moves the residual stream by ``m eta_l`` (width-normalised), and the blocks,
    all pulled by the same readout gradient, add up: ``delta h_L = sum_{l=1}^{L} m eta_l``
    (sympy ``summation``; :func:`stream_update`). The best learning rate keeps it of order one,
    ``eta* ~ 1 / (delta h_L / eta)``, so the slope of ``log eta*`` against ``log L`` is
    ``-lim log(delta h_L / eta) / log L`` (sympy ``limit``; :func:`lr_star_slope`):

    - no scaling (``alpha = 0``): ``delta h_L = L eta``: slope -1;
    - depth-muP (``1/sqrt(L)``, ``alpha = 1/2``) and CompleteP (``1/L``, ``alpha = 1``): with the
      learning rate scaled to match, ``delta h_L = L_0 eta`` whatever ``L``: slope 0 for both.

    What tells the two apart is each block's own change: its weights move by ``eta_l`` relative
    to their ``O(1)`` init, ``(L / L_0)^(alpha - 1)`` (:func:`block_update`): ``L^-1/2`` for
    depth-muP (the blocks become lazy, linearised about their init, as depth grows) and ``L^0``
    for CompleteP, which Dey et al. call complete feature learning. The first-step argument
    therefore predicts lr transfer for both; a difference in lr* between them is a later-training
    effect the argument does not cover.

Regime and assumptions:
    The first Adam steps from init, width fixed and large enough for the sums to concentrate,
    block updates aligned (all driven by one readout gradient). Without branch scaling the
    forward pass itself grows with depth at init (``(1 + c)^L``), which shifts ``eta*`` further.

Reference:
    N. Dey, B. C. Zhang, L. Noci, M. Li, B. Bordelon, S. Bergsma, C. Pehlevan, B. Hanin,
    J. Hestness (2025), "Don't be lazy: CompleteP enables compute-efficient deep transformers",
    arXiv 2505.01618 (Table 1, alpha = 1); G. Yang, D. Yu, C. Zhu, S. Hayou (2023), "Tensor
    Programs VI: Feature learning in infinite-depth neural networks", arXiv 2310.02244
    (alpha = 1/2); B. Bordelon et al. (2023), arXiv 2309.16620.

Example:
    >>> lr_star_slope("none"), lr_star_slope("1/sqrt(L)"), lr_star_slope("1/L")
    (-1.0, 0.0, 0.0)
"""

from __future__ import annotations

import functools

import sympy as sp

__all__ = ["ALPHA", "CITATION", "block_update", "block_update_slope", "lr_star_slope", "stream_update"]

CITATION = ("Dey, Zhang, Noci, Li, Bordelon, Bergsma, Pehlevan, Hanin, Hestness (2025), Don't be lazy: "
            "CompleteP enables compute-efficient deep transformers, arXiv:2505.01618, Table 1; Yang, Yu, "
            "Zhu, Hayou (2023), Tensor Programs VI, arXiv:2310.02244")

L, L0, eta = sp.symbols("L L_0 eta", positive=True)
l = sp.Symbol("l", integer=True, positive=True)
ALPHA = {"none": sp.Integer(0), "1/sqrt(L)": sp.Rational(1, 2), "1/L": sp.Integer(1)}


def _lr(residual: str) -> sp.Expr:
    alpha = ALPHA[residual]
    return eta if alpha == 0 else eta * (L / L0) ** (alpha - 1)


@functools.cache
def stream_update(residual: str) -> sp.Expr:
    """``delta h_L``: the residual stream's first-step update, summed over the ``L`` blocks.

    Example:
        >>> stream_update("1/L")
        L_0*eta
    """
    m = (L / L0) ** -ALPHA[residual]
    return sp.simplify(sp.summation(m * _lr(residual), (l, 1, L)))


def _exponent(expr: sp.Expr) -> float:
    return float(sp.limit(sp.log(expr) / sp.log(L), L, sp.oo)) + 0.0  # + 0.0: no -0.0


@functools.cache
def lr_star_slope(residual: str) -> float:
    """The slope of ``log lr*`` against ``log depth``: ``-lim log(delta h_L / eta) / log L``.

    Example:
        >>> lr_star_slope("none")
        -1.0
    """
    return -_exponent(stream_update(residual) / eta) + 0.0


def block_update(residual: str) -> sp.Expr:
    """One block's weights' first-step change relative to their init, per unit ``eta``.

    Example:
        >>> block_update("1/sqrt(L)")
        sqrt(L_0)/sqrt(L)
    """
    return sp.simplify(_lr(residual) / eta)


@functools.cache
def block_update_slope(residual: str) -> float:
    """Its exponent in ``L``: 0 for CompleteP and no scaling, -1/2 for depth-muP (lazy blocks).

    Example:
        >>> block_update_slope("1/sqrt(L)")
        -0.5
    """
    return _exponent(block_update(residual))
