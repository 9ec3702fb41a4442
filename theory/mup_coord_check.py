"""The coordinate check: how the first updates of features and output scale with width under Adam.

Statement:
    Write each layer of a width-``n`` MLP in the abc-form of Yang & Hu (2021): effective weight
    ``w = n^-a theta``, ``theta`` drawn with entries of size ``n^-b``, Adam learning rate
    ``eta n^-c``. Adam's first step moves every entry of ``theta`` by about its learning rate, in
    a direction aligned with the layer's input (Yang et al. 2022, section 5, "Adam"). So after
    a step the last hidden features move by ``|delta h| ~ n * n^-(a + c)`` (a sum of ``n`` aligned
    terms), and the output by ``|delta f| ~ n * n^-(a_o + c_o) + n * n^-(a_o + b_o) |delta h|``
    (the readout's own update, plus the old readout reading the moved features; these are
    aligned too, since the features moved along the readout's gradient). The exponent of each
    is ``lim log(size) / log(n)``, taken by sympy's ``limit``; :func:`predicted_slopes` gives them
    for the parametrizations of ``sims/mup_coord_check.py``:

    - standard (SP): hidden and readout ``a = c = 0``, readout ``b = 1/2``: ``|delta h|`` slope
      1, ``|delta f|`` slope 3/2.
    - muP (Table 3 of Yang et al. 2022): hidden ``c = 1``, readout ``b = c = 1``: both 0.
    - muP with the readout left as in SP (a mutant): ``|delta h|`` 0, ``|delta f|`` 1.
    - muP with Adam's ``eps`` unscaled (a mutant), once ``eps`` dominates the hidden gradients
      (of size ``n^-1``): Adam becomes SGD with step ``eta n^-c / eps``, so hidden entries move by
      ``n^-(c + 1)``: ``|delta h|`` slope -1, ``|delta f|`` slope 0 (the readout's own update).

Regime and assumptions:
    The first steps from a Gaussian init (before the alignment of weights and features changes;
    Kosson et al. 2025, arXiv 2510.19093, find it holds only early), widths large enough for the
    sums to concentrate, a fixed input dimension and output dimension. The eps mutant's slope is
    its large-width limit: between the widths where ``eps`` is negligible (slope 0) and where it
    dominates (slope -1) the measured slope lies in between.

Reference:
    G. Yang, E. J. Hu, I. Babuschkin, S. Sidor, X. Liu, D. Farhi, N. Ryder, J. Pachocki, W. Chen,
    J. Gao (2022), "Tensor Programs V: Tuning large neural networks via zero-shot hyperparameter
    transfer", arXiv 2203.03466 (Table 3; coordinate check, Appendix D.1); G. Yang, E. J. Hu (2021),
    "Feature learning in infinite-width neural networks", arXiv 2011.14522 (abc-parametrizations).

Example:
    >>> predicted_slopes("sp")
    {'dh': 1.0, 'df': 1.5}
"""

from __future__ import annotations

import functools

import sympy as sp

__all__ = ["CITATION", "EXPONENTS", "predicted_slopes", "update_sizes"]

CITATION = ("Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao (2022), Tensor "
            "Programs V, arXiv:2203.03466, Table 3 and Appendix D.1 (coordinate check)")

n = sp.Symbol("n", positive=True)

# (a, b, c) of the hidden layer and of the readout, and whether eps dominates the hidden update.
EXPONENTS = {
    "sp": {"hidden": (0, 0, 0), "readout": (0, sp.Rational(1, 2), 0), "eps_bound": False},
    "mup": {"hidden": (0, 0, 1), "readout": (0, 1, 1), "eps_bound": False},
    "mutant_readout": {"hidden": (0, 0, 1), "readout": (0, sp.Rational(1, 2), 0), "eps_bound": False},
    "mutant_eps": {"hidden": (0, 0, 1), "readout": (0, 1, 1), "eps_bound": True},
}


def update_sizes(variant: str) -> dict[str, sp.Expr]:
    """``|delta h|`` and ``|delta f|`` after one Adam step, as powers of ``n``."""
    e = EXPONENTS[variant]
    a, _, c = e["hidden"]
    ao, bo, co = e["readout"]
    entry = n ** -(a + c) * (n ** -1 if e["eps_bound"] else 1)  # eps-bound: SGD on an n^-1 gradient
    dh = n * entry
    df = n * n ** -(ao + co) + n * n ** -(ao + bo) * dh
    return {"dh": sp.simplify(dh), "df": sp.simplify(df)}


@functools.cache
def predicted_slopes(variant: str) -> dict[str, float]:
    """The log-log slopes of ``|delta h|`` and ``|delta f|`` against width (sympy ``limit``)."""
    return {k: float(sp.limit(sp.log(v) / sp.log(n), n, sp.oo)) for k, v in update_sizes(variant).items()}
