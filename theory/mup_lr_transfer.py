"""Learning-rate transfer: how the best Adam learning rate moves with width in each parametrization.

Statement:
    Take the abc-exponents of ``theory/mup_coord_check.py`` (effective weight ``n^-a theta``,
    entries of size ``n^-b``, Adam learning rate ``eta n^-c``). Per unit of ``eta``, Adam's
    first step moves the last hidden features by ``u_h(n) = n * n^-(a + c)`` (``n`` aligned
    terms; ``n^-(a + c + 1)`` per entry once an unscaled ``eps`` dominates a hidden gradient of
    size ``n^-1``), and the output by its readout's own update ``u_f(n) = n * n^-(a_o + c_o)``.
    The best learning rate is the largest that keeps the fastest-moving of these of order one:
    ``eta* ~ 1 / max(u_h, u_f)``, so the slope of ``log eta*`` against ``log n`` is
    ``-lim log(u_h + u_f) / log n`` (sympy ``limit``; the sum has the larger one's exponent;
    :func:`lr_star_slope`):

    - standard (SP) with Adam: -1 (the hidden layers' and readout's ``n eta`` updates);
    - muP (Yang et al. 2022, Table 3): 0, the transfer muP exists for;
    - muP with the readout left as in SP (a mutant): -1 (the readout's own ``n eta`` update);
    - muP with ``eps`` unscaled (a mutant): 0 from stability (the readout's update is still of
      order one), but the hidden features now move by ``n^-1 eta``: the mutant stops learning
      features at large width without moving its stability bound. A loss that needs the features
      pulls ``eta*`` above that bound's slope, by an amount the argument does not fix; so this
      mutant is caught by the coordinate check (``|delta h|``), and its ``eta*`` slope is only
      reported.

Regime and assumptions:
    Adam's first steps from a Gaussian init (the update of every entry about its learning rate,
    aligned with the layer's input; Yang et al. 2022, section 5), a fixed input and output
    dimension, widths large enough for sums to concentrate, and a training budget where the
    best learning rate is set by the largest stable update (a short run, not one that converges
    at every learning rate). At small widths the SP slope is shallower than -1: the update's
    width-independent part still competes with its ``n eta`` part (as in the coordinate check).

Reference:
    G. Yang et al. (2022), "Tensor Programs V: Tuning large neural networks via zero-shot
    hyperparameter transfer", arXiv 2203.03466, Table 3 and Figure 1 (SP's optimum shifts,
    muP's stays); K. Everett et al. (2024), "Scaling exponents across parameterizations and
    optimizers", arXiv 2407.05872 (Adam's per-layer learning-rate exponents, and the role of eps).

Example:
    >>> lr_star_slope("sp"), lr_star_slope("mup")
    (-1.0, 0.0)
"""

from __future__ import annotations

import functools

import sympy as sp

from theory.mup_coord_check import EXPONENTS, n

__all__ = ["CITATION", "lr_star_slope", "update_per_lr"]

CITATION = ("Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao (2022), Tensor "
            "Programs V, arXiv:2203.03466, Table 3 and Figure 1; Everett et al. (2024), "
            "arXiv:2407.05872")


def update_per_lr(variant: str) -> dict[str, sp.Expr]:
    """``u_h``: the hidden features' first Adam update per unit lr; ``u_f``: the readout's own
    update of the output per unit lr; both powers of ``n``.

    Example:
        >>> update_per_lr("mutant_readout")
        {'u_h': 1, 'u_f': n}
    """
    e = EXPONENTS[variant]
    a, _, c = e["hidden"]
    ao, _, co = e["readout"]
    entry = n ** -(a + c) * (n ** -1 if e["eps_bound"] else 1)
    return {"u_h": sp.simplify(n * entry), "u_f": sp.simplify(n * n ** -(ao + co))}


def _exponent(expr: sp.Expr) -> float:
    return float(sp.limit(sp.log(expr) / sp.log(n), n, sp.oo)) + 0.0  # + 0.0: no -0.0


@functools.cache
def lr_star_slope(variant: str) -> float:
    """The slope of ``log lr*`` against ``log width`` set by stability: ``-lim log max(u_h, u_f)
    / log n``.

    Example:
        >>> lr_star_slope("mutant_readout")
        -1.0
    """
    u = update_per_lr(variant)
    # log(u_h + u_f) / log n tends to the larger exponent (sympy's limit does not expand Max).
    return -_exponent(u["u_h"] + u["u_f"]) + 0.0
