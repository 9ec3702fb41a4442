"""Compute-optimal allocation of a fitted Chinchilla law, derived with sympy.

:func:`compute_optimal` minimises ``L(N, D) = E + A N^-alpha + B D^-beta`` (Hoffmann et al. 2022,
arXiv 2203.15556, eq. 2) under the budget ``C = k N D`` symbolically: it substitutes the
constraint, solves ``dL/dN = 0``, checks that the one positive root is a minimum (the loss is
convex in ``log N``), and returns the allocation ``N_opt(C) ~ C^(beta/(alpha+beta))`` with numeric
evaluators and, for a :class:`~dyntheory._analysis.fits.ScalingLawFit`, bootstrap intervals of the
exponents.

Example:
    >>> opt = compute_optimal({"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28})
    >>> opt.exponents["D"]
    alpha/(alpha + beta)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from dyntheory._analysis.fits import ScalingLawFit

__all__ = ["ComputeOptimal", "compute_optimal"]


@functools.cache
def _chinchilla_optimum() -> tuple[dict[str, sp.Expr], dict[str, sp.Expr], dict[str, sp.Symbol]]:
    """Minimise L(N, D) = E + A N^-alpha + B D^-beta subject to C = k N D, symbolically."""
    names = ("N", "D", "C", "k", "E", "A", "B", "alpha", "beta")
    sym = dict(zip(names, sp.symbols(" ".join(names), positive=True)))
    N, D, C, k = (sym[n] for n in "NDCk")
    loss = sym["E"] + sym["A"] * N ** -sym["alpha"] + sym["B"] * D ** -sym["beta"]
    on_budget = loss.subs(D, C / (k * N))          # substitute the constraint D = C / (k N)
    slope = sp.diff(on_budget, N)
    # check=False is ~10x faster; the root is verified below instead (and 0 is not positive).
    roots = [r for r in sp.solve(slope, N, check=False, simplify=False) if r.is_positive]
    if len(roots) != 1 or sp.simplify(sp.powdenest(sp.expand(N * slope).subs(N, roots[0]),
                                                   force=True)) != 0:
        raise RuntimeError(f"compute_optimal: expected one stationary point, sympy gave {roots}")
    u = sp.Symbol("u", real=True)  # convex in u = log N: the stationary point is the minimum
    if not sp.diff(on_budget.subs(N, sp.exp(u)), u, 2).is_positive:
        raise RuntimeError("compute_optimal: could not show the stationary point is a minimum")
    n_opt = sp.simplify(roots[0])
    d_opt = sp.simplify(C / (k * n_opt))
    optimum = {"N": n_opt, "D": d_opt, "loss": sp.simplify(loss.subs({N: n_opt, D: d_opt}))}
    exponents = {key: sp.simplify(C * sp.diff(optimum[key], C) / optimum[key]) for key in "ND"}
    return optimum, exponents, sym


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ComputeOptimal:
    """Compute-optimal allocation of a fitted Chinchilla law, symbolic and numeric.

    Attributes:
        optimum: ``{"N": N_opt(C), "D": D_opt(C), "loss": L at the optimum}``, sympy expressions
            in ``C`` and the law's symbols.
        exponents: ``{"N": d log N_opt / d log C, "D": ...}`` as sympy expressions.
        symbols: name -> sympy symbol (``N, D, C, k, E, A, B, alpha, beta``).
        values: the fitted numbers (and ``k``) that :meth:`at` substitutes.
        exponent_intervals: bootstrap intervals of the exponents when the fit carried draws.
    """

    optimum: dict[str, sp.Expr]
    exponents: dict[str, sp.Expr]
    symbols: dict[str, sp.Symbol]
    values: dict[str, float]
    exponent_intervals: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def at(self, C: Any) -> dict[str, np.ndarray]:
        """Optimal ``N``, ``D`` and the fitted ``loss`` there, at compute ``C`` (numpy)."""
        subs = {self.symbols[k]: v for k, v in self.values.items()}
        C = np.asarray(C, dtype=float)
        return {key: np.asarray(sp.lambdify(self.symbols["C"], e.subs(subs), "numpy")(C), float)
                for key, e in self.optimum.items()}

    def exponent_values(self) -> dict[str, float]:
        """The allocation exponents at the fitted ``alpha, beta``."""
        subs = {self.symbols[k]: v for k, v in self.values.items()}
        return {k: float(e.subs(subs)) for k, e in self.exponents.items()}


def compute_optimal(fit: ScalingLawFit | Mapping[str, float], *,
                    flops_per_param_token: float = 6.0) -> ComputeOptimal:
    """Derive the compute-optimal ``N_opt(C)``, ``D_opt(C)`` of a Chinchilla law with sympy.

    Minimises ``L(N, D)`` under ``C = k N D`` (``k = flops_per_param_token``, 6 for a dense
    transformer's forward+backward) by substituting the constraint and solving ``dL/dN = 0``;
    the allocation exponents come out as ``beta/(alpha+beta)`` and ``alpha/(alpha+beta)``.

    Args:
        fit: a :class:`ScalingLawFit`, or a mapping with ``E, A, alpha, B, beta``.
        flops_per_param_token: ``k`` in ``C = k N D``.

    Returns:
        A :class:`ComputeOptimal`.

    Example:
        >>> opt = compute_optimal({"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28})
        >>> opt.exponents["N"]
        beta/(alpha + beta)
        >>> round(opt.exponent_values()["N"], 3)
        0.452
    """
    params = fit.params if isinstance(fit, ScalingLawFit) else dict(fit)
    for key in ("E", "A", "alpha", "B", "beta"):
        if key not in params:
            raise ValueError(f"compute_optimal: fit lacks parameter {key!r} (has {sorted(params)})")
        v = params[key]
        if not np.isfinite(v) or v < 0 or (v == 0 and key != "E"):
            raise ValueError(f"compute_optimal: {key} must be finite and > 0 for an optimum to "
                             f"exist, got {key}={v!r}")
    if not (np.isfinite(flops_per_param_token) and flops_per_param_token > 0):
        raise ValueError(f"compute_optimal: flops_per_param_token must be > 0, got "
                         f"{flops_per_param_token!r}")
    optimum, exponents, sym = _chinchilla_optimum()
    values = {k: float(params[k]) for k in ("E", "A", "alpha", "B", "beta")}
    values["k"] = float(flops_per_param_token)
    intervals = {}
    if isinstance(fit, ScalingLawFit) and fit.boot["alpha"].size:
        a, b = fit.boot["alpha"], fit.boot["beta"]
        q = [(1 - fit.level) / 2, (1 + fit.level) / 2]
        for key, expr in exponents.items():
            draws = sp.lambdify((sym["alpha"], sym["beta"]), expr, "numpy")(a, b)[(a > 0) & (b > 0)]
            if draws.size:
                intervals[key] = tuple(map(float, np.quantile(draws, q)))
    return ComputeOptimal(optimum=dict(optimum), exponents=dict(exponents), symbols=dict(sym),
                          values=values, exponent_intervals=intervals)
