"""Learning-rate transfer: how the best Adam learning rate moves with width in each parametrization.

Statement:
    Take the abc-exponents of ``theory/mup_coord_check.py`` (effective weight ``n^-a theta``,
    entries of size ``n^-b``, Adam learning rate ``eta n^-c``). Per unit of ``eta``, Adam's
    first step moves the last hidden features by ``u_h(n) = n * n^-(a + c)`` (``n`` aligned
    terms; ``n^-(a + c + 1)`` per entry once an unscaled ``eps`` dominates a hidden gradient of
    size ``n^-1``), and the output by ``u_f(n) = n * n^-(a_o + c_o) + n * n^-(a_o + b_o) u_h``:
    the readout's own update plus the old readout reading the moved features (aligned, since
    the features moved along the readout's gradient): the coordinate check's ``|delta f|``.
    The best learning rate scales as ``eta* ~ 1 / max(u_h, u_f)``: every way the loss at a fixed
    budget depends on ``eta`` (how far the first steps go, where they become unstable, how much
    Adam's steps jitter about the fit) goes through the size of the steps, and the fastest-moving
    quantity sets it. So the slope of ``log eta*`` against ``log n`` is
    ``-lim log(u_h + u_f) / log n`` (sympy ``limit``; the sum has the larger one's exponent;
    :func:`lr_star_slope`):

    - standard (SP) with Adam: -3/2. The features move by ``n eta`` and the old readout (entries
      ``n^-1/2``) reads them as ``n^(3/2) eta``; the readout's own update is ``n eta``. An
      argument that keeps only the features or the readout's own update gives -1, the slope
      usually quoted; the first step's output update is the larger.
    - muP (Yang et al. 2022, Table 3): 0, the transfer muP exists for;
    - muP with the readout left as in SP (a mutant): -1 (the readout's own ``n eta`` update;
      the features, of order one, are read by the SP readout as ``n^(1/2) eta``);
    - muP with ``eps`` unscaled (a mutant): 0 (the readout's own update is still of order one),
      but the hidden features now move by ``n^-1 eta``: the mutant stops learning features at
      large width without moving the readout's bound. A loss that needs the features pulls
      ``eta*`` above that bound's slope, by an amount the argument does not fix; so this mutant
      is caught by the coordinate check (``|delta h|``) and, at finite width, by an ``eta*``
      that rises while its input and hidden layers' share of the output update dies out.

    At finite width each update is a sum of terms with different exponents and constants, and
    the measured first-step update (``sims/mup_lr_transfer.py``, ``first_step``) gives the slope
    at the widths run (measured at 64-2048: SP -1.37, muP +0.04, readout mutant -0.83, eps
    mutant +0.30); it approaches these limits as the leading term takes over.

Regime and assumptions:
    Adam's first steps from a Gaussian init (the update of every entry about its learning rate,
    aligned with the layer's input; Yang et al. 2022, section 5), a fixed input and output
    dimension, widths large enough for sums to concentrate, and a training budget where the
    loss still falls with every step up to ``eta*`` (a short run, not one that converges at every
    learning rate, where ``eta*`` is not identified). The argument takes the largest update to
    bind, with a constant of order one for each; measured at 64-2048 (``sims/mup_lr_transfer.py``)
    the readout mutant's ``eta*`` follows its features' ``n^(1/2)`` term, not its readout's own
    ``n`` (slope -0.51 against the first step's -0.83): the readout's own step is tolerated up to
    a larger size, and the limit -1 holds only once that term reaches its own bound.

Reference:
    G. Yang et al. (2022), "Tensor Programs V: Tuning large neural networks via zero-shot
    hyperparameter transfer", arXiv 2203.03466, Table 3 and Figure 1 (SP's optimum shifts,
    muP's stays); K. Everett et al. (2024), "Scaling exponents across parameterizations and
    optimizers", arXiv 2407.05872 (Adam's per-layer learning-rate exponents, and the role of eps).

Example:
    >>> lr_star_slope("sp"), lr_star_slope("mup"), lr_star_slope("mutant_readout")
    (-1.5, 0.0, -1.0)
"""

from __future__ import annotations

import functools

import sympy as sp

from theory.mup_coord_check import n, update_sizes

__all__ = ["CITATION", "lr_star_slope", "update_per_lr"]

CITATION = ("Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao (2022), Tensor "
            "Programs V, arXiv:2203.03466, Table 3 and Figure 1; Everett et al. (2024), "
            "arXiv:2407.05872")


def update_per_lr(variant: str) -> dict[str, sp.Expr]:
    """``u_h``: the hidden features' first Adam update per unit lr; ``u_f``: the output's (the
    readout's own update plus the old readout reading the moved features); both powers of ``n``
    (``theory.mup_coord_check.update_sizes``).

    Example:
        >>> update_per_lr("mutant_readout")
        {'u_h': 1, 'u_f': sqrt(n) + n}
    """
    sizes = update_sizes(variant)
    return {"u_h": sizes["dh"], "u_f": sizes["df"]}


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
