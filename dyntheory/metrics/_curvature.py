"""Curvature: Hessian-vector products, top Hessian eigenvalue (sharpness), top NTK eigenvalue.

Pure JAX functions of one member's parameters, written so that the engine can ``jax.vmap`` them
over a population: no Python control flow on traced values, loops are ``lax.fori_loop``. The two
metric objects, :class:`Sharpness` and :class:`NTKTopEig`, follow the engine's metric protocol
(``dyntheory._config.metric``: ``init(params, key) -> state``; ``__call__(state, ctx) -> (value, state)``
with ``ctx`` a :class:`~dyntheory._config.metric.MetricContext`) so they can be recorded at every
recording step alongside the loss.

Example:
    >>> import jax, jax.numpy as jnp
    >>> loss = lambda p, b: 0.5 * jnp.mean((b[0] @ p["w"] - b[1]) ** 2)
    >>> x = jnp.array([[2.0, 0.0], [0.0, 1.0]]); y = jnp.zeros(2)
    >>> lam, v = top_hessian_eigenvalue(loss, {"w": jnp.zeros(2)}, (x, y),
    ...                                 {"w": jnp.array([1.0, 1.0])}, iters=50)
    >>> round(float(lam), 4)   # lambda_max(X^T X / n) = 4 / 2
    2.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from dyntheory._config.metric import MetricContext

__all__ = [
    "NTKTopEig",
    "Sharpness",
    "hvp",
    "ntk_top_eigenvalue",
    "psd_top_eigenvalue",
    "random_unit_like",
    "top_hessian_eigenvalue",
]

PyTree = Any
LossFn = Callable[[PyTree, Any], jax.Array]
ApplyFn = Callable[[PyTree, jax.Array], jax.Array]


def _vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Euclidean inner product of two pytrees with the same structure (all leaves together)."""
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda x, y: jnp.vdot(x, y), a, b))
    return sum(leaves, jnp.zeros((), jnp.result_type(*leaves)))


def _scale(c: jax.Array, a: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x: (c * x).astype(x.dtype), a)


def _normalise(v: PyTree, fallback: PyTree) -> PyTree:
    """``v / |v|`` over the whole pytree; ``fallback`` where ``v`` is exactly zero.

    A zero Hessian-vector product (``v`` in the null space, or a loss that is locally flat) would
    otherwise turn the power-iteration vector into NaN and poison every later warm start.
    """
    norm = jnp.sqrt(_vdot(v, v))
    safe = jnp.where(norm > 0, norm, 1.0)
    return jax.tree_util.tree_map(lambda x, f: jnp.where(norm > 0, x / safe, f), v, fallback)


def hvp(loss_fn: LossFn, params: PyTree, batch: Any, v: PyTree) -> PyTree:
    """Hessian-vector product ``H v`` of ``loss_fn(params, batch)`` with respect to ``params``.

    Forward-over-reverse (``jax.jvp`` of ``jax.grad``): about one gradient's cost, no dense Hessian.

    Args:
        loss_fn: ``loss_fn(params, batch) -> scalar``.
        params: parameter pytree of one member.
        batch: anything ``loss_fn`` accepts as its second argument.
        v: pytree with the structure, shapes and dtypes of ``params``.

    Returns:
        ``H v`` as a pytree like ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> hvp(lambda p, b: jnp.sum(p ** 3), jnp.array([1.0, 2.0]), None, jnp.ones(2))
        Array([ 6., 12.], dtype=float32)
    """
    return jax.jvp(lambda p: jax.grad(loss_fn)(p, batch), (params,), (v,))[1]


def top_hessian_eigenvalue(loss_fn: LossFn, params: PyTree, batch: Any, v0: PyTree, *,
                           iters: int = 20) -> tuple[jax.Array, PyTree]:
    """Top Hessian eigenvalue by power iteration, with the final vector for warm starts.

    ``v0`` is normalised over the whole pytree, then each of the ``iters`` iterations computes
    ``h = H v``, the Rayleigh quotient ``lam = <v, h>`` and ``v <- h / |h|``. The returned
    eigenvalue is the Rayleigh quotient of the last vector before its final multiplication, the
    returned vector is one step further along; pass it back as ``v0`` at the next call (the
    :class:`Sharpness` metric does) so that the iteration count accumulates across recording steps.

    Power iteration converges to the eigenvalue of largest *magnitude*: if the most negative
    eigenvalue is larger in magnitude than the most positive one, the result is that negative
    number. Near a minimum of a training loss the two coincide. The Rayleigh-quotient error after
    ``k`` steps is at most ``(lam_1 - lam_min) * tan^2(theta_0) * (|lam_2| / |lam_1|)^(2k)``, so
    a warm start (small ``theta_0``) matters more than ``iters``.

    Args:
        loss_fn: ``loss_fn(params, batch) -> scalar``.
        params: parameter pytree of one member.
        batch: second argument of ``loss_fn``.
        v0: starting vector, a pytree like ``params``; it must not be orthogonal to the top
            eigenvector (a random draw is not, with probability one), nor exactly zero.
        iters: number of Hessian-vector products (static), at least 1.

    Returns:
        ``(eigenvalue, v)``: a scalar and a unit-norm pytree like ``params``.

    Raises:
        ValueError: if ``iters`` is not a positive integer.

    Example:
        >>> import jax.numpy as jnp
        >>> lam, v = top_hessian_eigenvalue(lambda p, b: 0.5 * p @ b @ p, jnp.ones(2),
        ...                                 jnp.diag(jnp.array([3.0, 1.0])), jnp.ones(2), iters=40)
        >>> round(float(lam), 5)
        3.0
    """
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"top_hessian_eigenvalue: iters must be a positive int, got {iters!r}")
    v = _normalise(v0, v0)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(v))

    def body(_, carry):
        v, _ = carry
        h = hvp(loss_fn, params, batch, v)
        return _normalise(h, v), _vdot(v, h).astype(dtype)

    v, lam = jax.lax.fori_loop(0, iters, body, (v, jnp.zeros((), dtype)))
    return lam, v


def ntk_top_eigenvalue(apply_fn: ApplyFn, params: PyTree, x: jax.Array) -> jax.Array:
    """Top eigenvalue of the empirical NTK ``Theta = J J^T`` on the batch ``x``.

    ``J`` is the Jacobian of the flattened outputs ``apply_fn(params, x).reshape(-1)`` (examples
    times output units) with respect to all parameters. No ``1/n`` factor is included: for a loss
    ``sum_i (f_i - y_i)^2 / (2 m)`` the relevant kernel is ``Theta / m``. The dense ``Theta`` is
    formed and squared (:func:`psd_top_eigenvalue`), so this is for small batches and models only.

    Args:
        apply_fn: ``apply_fn(params, x) -> predictions``.
        params: parameter pytree of one member.
        x: input batch.

    Returns:
        The largest eigenvalue of ``Theta``, a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
        >>> float(ntk_top_eigenvalue(lambda w, x: x @ w, jnp.zeros(2), x))   # eig(X X^T)
        4.0
    """
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda p: jnp.reshape(apply_fn(unravel(p), x), (-1,)))(flat)
    return psd_top_eigenvalue(jac @ jac.T)


def psd_top_eigenvalue(a: jax.Array, max_squarings: int = 40) -> jax.Array:
    """Largest eigenvalue of a symmetric positive semi-definite matrix, by repeated squaring.

    ``B <- B^2 / |B^2|_F`` from ``B = A / |A|_F`` until ``B`` stops changing (at most
    ``max_squarings`` times, an effective power of up to ``2^40``): ``B`` becomes the projector on
    the top eigenspace, and the Rayleigh quotient of ``A`` at its largest column is the top
    eigenvalue. The error is second order in the leftover of the other eigenvectors, whose weight
    is ``(lambda_j / lambda_1)^(2^k)`` after ``k`` squarings, so a small or zero gap costs more
    squarings, not accuracy: a degenerate top eigenvalue gives a projector onto its whole
    eigenspace, any column of which has the same quotient.

    Only matrix products, no LAPACK: jaxlib's batched CPU LAPACK kernels (``eigvalsh``, ``svd``,
    triangular solves) deadlocked when several CPU devices of one process ran them at once, and a
    metric runs inside the sharded training step.

    Args:
        a: symmetric PSD matrix ``(n, n)``. Rounding-level negative eigenvalues are harmless.
        max_squarings: cap on the squarings.

    Returns:
        The top eigenvalue, a scalar (0 for the zero matrix).

    Example:
        >>> import jax.numpy as jnp
        >>> float(psd_top_eigenvalue(jnp.array([[2.0, 1.0], [1.0, 2.0]])))
        3.0
    """
    def unit(m):
        norm = jnp.sqrt(jnp.sum(m * m))
        return m / jnp.where(norm > 0, norm, 1), norm

    tol = 4 * jnp.finfo(a.dtype).eps

    def body(carry):
        b, _, k = carry
        nxt, _ = unit(b @ b)
        return nxt, jnp.sqrt(jnp.sum((nxt - b) ** 2)), k + 1

    b, _, _ = jax.lax.while_loop(lambda c: (c[1] > tol) & (c[2] < max_squarings), body,
                                 (unit(a)[0], jnp.ones((), a.dtype), 0))
    v = b[:, jnp.argmax(jnp.sum(b * b, axis=0))]
    vv = v @ v
    return jnp.where(vv > 0, v @ a @ v / jnp.where(vv > 0, vv, 1), 0).astype(a.dtype)


def random_unit_like(params: PyTree, key: jax.Array) -> PyTree:
    """A Gaussian direction with the structure of ``params``, unit norm over the whole pytree.

    One draw of the flattened size (one compiled sampler, not one per leaf shape), cut back into
    leaves with ``ravel_pytree``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> v = random_unit_like({"a": jnp.zeros(3), "b": jnp.zeros(2)}, jax.random.key(0))
        >>> round(float(jnp.sum(v["a"] ** 2) + jnp.sum(v["b"] ** 2)), 5)
        1.0
    """
    flat, unravel = ravel_pytree(params)
    v = unravel(jax.random.normal(key, flat.shape, flat.dtype))
    return _normalise(v, v)


@dataclasses.dataclass(frozen=True)
class Sharpness:
    """Top eigenvalue of the training-loss Hessian, warm-started power iteration.

    The state is the unit power-iteration vector; each call runs ``iters`` Hessian-vector
    products from the previous call's vector, so in a run recorded every few steps the estimate
    tracks the slowly moving top eigenvector at the cost of ``iters`` gradients per recording.
    The value is the largest-*magnitude* eigenvalue (see :func:`top_hessian_eigenvalue`).

    Attributes:
        iters: Hessian-vector products per call (at least 1).
        name: the variable name under which the engine records the value.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([[2.0, 0.0], [0.0, 1.0]]); params = jnp.zeros(2)
        >>> from dyntheory._config.metric import MetricContext
        >>> ctx = MetricContext(params=params, apply=lambda w, x: x @ w,
        ...     loss=lambda w, b: 0.5 * jnp.mean((b[0] @ w - b[1]) ** 2), batch=(x, jnp.zeros(2)),
        ...     hp=None, task_state=None, step=0)
        >>> metric = Sharpness(iters=50)
        >>> value, state = metric(metric.init(params, jax.random.key(0)), ctx)
        >>> round(float(value), 4)
        2.0
    """

    iters: int = 20
    name: str = "sharpness"

    def __post_init__(self):
        if not isinstance(self.iters, int) or self.iters < 1:
            raise ValueError(f"Sharpness: iters must be a positive int, got {self.iters!r}")

    def init(self, params: PyTree, key: jax.Array) -> PyTree:
        return random_unit_like(params, key)

    def __call__(self, state: PyTree, ctx: MetricContext) -> tuple[jax.Array, PyTree]:
        return top_hessian_eigenvalue(ctx.loss, ctx.params, ctx.batch, state, iters=self.iters)


@dataclasses.dataclass(frozen=True)
class NTKTopEig:
    """Top eigenvalue of the empirical NTK ``J J^T`` on the evaluation inputs ``ctx.batch[0]``.

    Stateless (the state is an empty tuple). Forms the dense kernel: small models and batches only.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]]); params = jnp.zeros(2)
        >>> from dyntheory._config.metric import MetricContext
        >>> ctx = MetricContext(params=params, apply=lambda w, x: x @ w, loss=lambda w, b: 0.0,
        ...     batch=(x, jnp.zeros(2)), hp=None, task_state=None, step=0)
        >>> float(NTKTopEig()((), ctx)[0])
        4.0
    """

    name: str = "ntk_top_eig"

    def init(self, params: PyTree, key: jax.Array) -> tuple[()]:
        del params, key
        return ()

    def __call__(self, state: tuple[()], ctx: MetricContext) -> tuple[jax.Array, tuple[()]]:
        return ntk_top_eigenvalue(ctx.apply, ctx.params, ctx.batch[0]), state
