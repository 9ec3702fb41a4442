"""Edge of stability: gradient descent cannot stay where the sharpness exceeds ``2 / eta``.

Statement. On a quadratic ``L = a x^2 / 2`` (any direction of curvature ``a > 0`` of a locally
quadratic loss), GD with step ``eta`` is the recurrence ``x_{t+1} = (1 - eta a) x_t``, solved by
sympy's ``rsolve`` as ``x_t = x_0 (1 - eta a)^t``; it diverges iff ``|1 - eta a| > 1``, i.e.
``a > 2 / eta`` (derived by ``solve_univariate_inequality``). So a convergent GD run has
sharpness (top Hessian eigenvalue, :class:`dyntheory.metrics._curvature.Sharpness`) at most ``2 / eta``:
:func:`stability_threshold` returns ``sharpness_max = 2 / eta``.

The edge-of-stability prediction for full-batch GD on neural networks (Cohen et al. 2021):
sharpness first rises (progressive sharpening) until it reaches ``2 / eta``, then hovers at or just
above ``2 / eta`` while the loss keeps decreasing non-monotonically over long times. Only the
threshold is derived here. That the sharpness *stops at and hovers around* ``2 / eta`` instead of
diverging is an empirical regularity with partial theory: Damian, Nichani, Lee (2022)
"Self-stabilization: the implicit bias of gradient descent at the edge of stability",
arXiv:2209.15594, explain it by a cubic term of the loss that pushes the sharpness back down
(a third-order Taylor argument under their assumptions, not a theorem for all networks). The
regularity is for full-batch GD with MSE or cross-entropy; for cross-entropy the sharpness may
later fall below ``2 / eta`` as the loss goes to zero, and SGD or adaptive optimisers have
different (smaller or preconditioned) thresholds.

Regime and assumptions: deterministic GD with a constant step; the quadratic threshold is exact
for quadratics and local (linearisation around a minimum) otherwise.

Reference: J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar (2021), "Gradient descent on neural
networks typically occurs at the edge of stability", arXiv:2103.00065.

Example:
    >>> float(stability_threshold()(eta=0.01)["sharpness_max"])
    200.0
"""

from __future__ import annotations

import functools

import sympy as sp

from dyntheory import TheoryResult

__all__ = ["gd_quadratic_solution", "stability_threshold"]

CITATION = ("Cohen, Kaur, Li, Kolter, Talwalkar (2021), Gradient descent on neural networks "
            "typically occurs at the edge of stability, arXiv:2103.00065; hovering: Damian, "
            "Nichani, Lee (2022), Self-stabilization, arXiv:2209.15594")

eta, a = sp.symbols("eta a", positive=True)
x0 = sp.Symbol("x_0", real=True)
t = sp.Symbol("t", integer=True, nonnegative=True)
_x = sp.Function("x")


def gd_recurrence() -> sp.Expr:
    """GD on ``L = a x^2 / 2`` as ``x(t + 1) - (x(t) - eta dL/dx) = 0`` (the gradient by sympy)."""
    xs = sp.Symbol("x", real=True)
    grad = sp.diff(a * xs ** 2 / 2, xs)
    return _x(t + 1) - (xs - eta * grad).subs(xs, _x(t))


@functools.cache
def gd_quadratic_solution() -> sp.Expr:
    """``x_t`` for GD on ``a x^2 / 2`` from ``x_0``, solved by ``rsolve``.

    Example:
        >>> gd_quadratic_solution()
        x_0*(-a*eta + 1)**t
    """
    sol = sp.rsolve(gd_recurrence(), _x(t), {_x(0): x0})
    if sol is None:
        raise AssertionError("rsolve found no solution of the GD recurrence")
    return sp.simplify(sol)


@functools.cache
def _threshold() -> sp.Expr:
    """Smallest curvature at which GD diverges, from the growth factor of the rsolve solution."""
    sol = gd_quadratic_solution()
    factor = sp.simplify(sol.subs(t, t + 1) / sol)             # x_{t+1} / x_t
    y = sp.Symbol("y", positive=True)                           # y = eta a, dimensionless
    grows = sp.solve_univariate_inequality(factor.subs(a, y / eta) ** 2 > 1, y, relational=False)
    grows = sp.Intersection(grows, sp.Interval.open(0, sp.oo))   # curvature a > 0
    if not isinstance(grows, sp.Interval) or grows.right is not sp.oo or grows.left_open is False:
        raise AssertionError(f"unexpected divergence set of eta*a: {grows}")
    return sp.solve(sp.Eq(eta * a, grows.left), a)[0]


@functools.cache
def stability_threshold() -> TheoryResult:
    """Largest sharpness at which GD with step ``eta`` is stable: ``sharpness_max = 2 / eta``.

    Returns:
        TheoryResult with input ``eta`` and output ``sharpness_max``.

    Example:
        >>> sorted(stability_threshold().outputs)
        ['sharpness_max']
    """
    return TheoryResult(
        name="edge_of_stability_threshold",
        outputs={"sharpness_max": _threshold()},
        symbols={"eta": (eta, "learning rate (constant, full-batch GD)")},
        validity=(eta > 0,),
        citation=CITATION,
        assumptions=("exact for quadratics, local otherwise; that the sharpness then hovers at "
                     "2/eta is empirical (partial theory: self-stabilization)"),
        domain={"eta": (1e-3, 2.0)},
    )
