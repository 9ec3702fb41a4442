"""What every task provides, and the minibatch order shared by all finite tasks."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp



class Spec(NamedTuple):
    """Shapes a model must match: real inputs of width ``d_in`` or tokens from ``vocab``."""

    d_in: int
    d_out: int
    vocab: int | None = None  # set for token inputs (x is int, shape (batch, d_in))


class Batch(NamedTuple):
    x: jax.Array
    y: jax.Array


class TaskBase:
    """Mixin with the shared contract; concrete tasks are frozen keyword-only dataclasses.

    A task implements:
        spec() -> Spec
        setup(task_key, noise_key, tp) -> state      # teacher, finite data (pytree)
        batch(state, tp, data_key, noise_key, step, batch_size) -> Batch
        eval_sets(state, tp) -> {"train": Batch | None, "test": Batch}
    ``tp`` is a dict of traced task parameters (names in ``traced_fields``).
    """

    kind: ClassVar[str] = "regression"  # or "classification"
    traced_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        self.check()

    @property
    def finite(self) -> bool:
        """A fixed training set (``n_train`` given) rather than fresh samples every step."""
        return getattr(self, "n_train", None) is not None

    def check(self) -> None:
        """Raise ValueError naming the field and value if the task is invalid."""

    def config(self) -> dict[str, Any]:
        out = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


def finite_minibatch(data: Batch, data_key: jax.Array, step, batch_size: int | None) -> Batch:
    """The batch at ``step`` of replayable epochs over a finite set.

    Full batch when ``batch_size`` is None. Otherwise epoch ``e = step // steps_per_epoch`` visits
    the examples in the order ``permutation(fold_in(data_key, e))``, dropping the remainder, so the
    order of any step can be replayed without replaying the run.
    """
    n = data.x.shape[0]
    if batch_size is None or batch_size >= n:
        return data
    per_epoch = n // batch_size
    epoch, pos = jnp.divmod(step, per_epoch)
    perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n)
    idx = jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))
    return Batch(jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0))


def orthonormal_columns(z: jax.Array) -> jax.Array:
    """Gram-Schmidt of the columns of ``z`` (n, m), n >= m, twice per column (CGS2).

    For Gaussian ``z`` this is the Haar-distributed frame of a QR with positive diagonal. Plain
    XLA (a scan over columns) rather than ``jnp.linalg.qr``: LAPACK calls inside a vmapped setup
    were seen to deadlock intermittently on CPU (jaxlib's LAPACK runs on scipy's threaded
    OpenBLAS), and this costs only ``O(n m^2)``.

    Example:
        >>> q = orthonormal_columns(jax.random.normal(jax.random.key(0), (6, 3)))
        >>> bool(jnp.allclose(q.T @ q, jnp.eye(3), atol=1e-5))
        True
    """
    n, m = z.shape

    def step(q, j):
        v = z[:, j]
        for _ in range(2):  # a second pass restores orthogonality lost to rounding
            v = v - q @ (q.T @ v)
        return q.at[:, j].set(v / jnp.linalg.norm(v)), None

    q, _ = jax.lax.scan(step, jnp.zeros_like(z), jnp.arange(m))
    return q
