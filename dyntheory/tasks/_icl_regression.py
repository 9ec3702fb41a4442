"""In-context linear regression: each sequence is a regression problem with its own weights.

Garg, Tsipras, Liang, Valiant (2022), "What can transformers learn in-context? A case study of
simple function classes", arXiv 2208.01066; Raventós, Paul, Chen, Ganguli (2023), "Pretraining
task diversity and the emergence of non-Bayesian in-context learning for regression", arXiv
2306.15063 (the finite pool of ``M`` pretraining tasks).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import integer, positive_int, real_field
from dyntheory.tasks._base import Batch, Spec
from dyntheory.tasks._sequence import SequenceTask


@dataclasses.dataclass(frozen=True, kw_only=True)
class InContextRegression(SequenceTask):
    """Sequences of ``context`` pairs ``(x_k, y_k)``, ``y_k = w . x_k + noise * eps_k``.

    ``x_k ~ N(0, I_d)``, ``eps_k ~ N(0, 1)``. During training ``w`` is drawn uniformly from a pool
    of ``n_tasks`` weight vectors ``w_m ~ N(0, I_d)`` (drawn once per data stream from the task
    key), or fresh ``N(0, I_d)`` for every sequence when ``n_tasks = math.inf``. The recorded
    ``test_loss`` is on fresh weights (unseen tasks); ``state["pool_test"]`` holds sequences from
    the pool (read it with ``PositionLoss``-like metrics, or ``pool_loss``).

    The pool size is traced: the pool holds ``max_tasks`` rows (a shape) and a member with
    ``n_tasks = M`` draws from its first ``M``, so members with different ``M`` (``inf``
    included) share one compiled group. Row ``m`` of the pool does not depend on ``max_tasks``
    (JAX's partitionable threefry draws element by element), so a member's pool, batches and
    test sets are those of a task built with ``n_tasks = M`` alone.

    Format: position ``k`` (``1..context``) holds the vector ``[x_k, x_{k-1}, y_{k-1}]`` (zeros
    for ``k = 1``), of width ``2 d + 1``, and its target is ``y_k``: under causal attention the
    output at ``k`` sees ``x_k`` and the ``k - 1`` labelled pairs before it, the information
    of Garg et al.'s interleaved ``x_1, y_1, x_2, ...`` in half the positions, and every
    position is a prediction (no mask). Inputs ``(n, context, 2 d + 1)``, targets
    ``(n, context, 1)``: half the squared error per position, the engine's regression loss,
    averages over positions and sequences.

    Args:
        d: dimension of ``x`` and ``w``.
        context: pairs per sequence (``K``).
        n_tasks: pool size ``M`` (a positive integer, at most ``max_tasks``), or ``math.inf``
            for a fresh ``w`` per sequence. Traced: sweeping it does not recompile.
        max_tasks: rows of the pool (its shape). ``None`` (the default) takes ``n_tasks``
            (``0`` for ``inf``: no pool). To sweep ``n_tasks``, give the largest finite value
            swept: the sweep checks each value against it.
        noise: label noise ``sigma`` (traced: sweeping it does not recompile).
        n_train: a finite training set of this many sequences, or ``None`` to stream.
        n_test: sequences in each evaluation set.

    Example:
        >>> task = InContextRegression(d=4, context=16, n_tasks=64, noise=0.5)
        >>> task.spec(), task.max_tasks
        (Spec(d_in=9, d_out=1, vocab=None), 64)
        >>> import dyntheory as dt
        >>> sweep = dt.Sweep(task=InContextRegression(d=4, context=16, max_tasks=64),
        ...                  model=dt.models.Transformer(layers=1, heads=1, d_model=8, max_len=16),
        ...                  steps=10, batch_size=8, axes={"n_tasks": [1, 16, 64, math.inf]})
        >>> sweep.axis_kind("n_tasks"), len(sweep.static_groups())
        ('task_traced', 1)
    """

    kind: ClassVar[str] = "regression"
    traced_fields: ClassVar[tuple[str, ...]] = ("noise", "n_tasks")

    d: int
    context: int
    n_tasks: float = math.inf
    max_tasks: int | None = None
    noise: float = 0.5
    n_train: int | None = None
    n_test: int = 512

    def check(self) -> None:
        positive_int(self, "d")
        positive_int(self, "context")
        positive_int(self, "n_train", allow_none=True)
        positive_int(self, "n_test")
        real_field(self, "noise", minimum=0.0)
        if self.n_tasks != math.inf:
            object.__setattr__(self, "n_tasks", integer("InContextRegression.n_tasks", self.n_tasks,
                                                        minimum=1))
        if self.max_tasks is None:  # the pool's rows: this task's own M (none for inf)
            object.__setattr__(self, "max_tasks", 0 if self.n_tasks == math.inf else self.n_tasks)
        object.__setattr__(self, "max_tasks", integer("InContextRegression.max_tasks", self.max_tasks,
                                                      minimum=0))
        if self.n_tasks != math.inf and self.n_tasks > self.max_tasks:
            raise ValueError(f"InContextRegression.n_tasks={self.n_tasks} exceeds max_tasks={self.max_tasks}, "
                             "the pool's rows; to sweep n_tasks, build the task with max_tasks set to the "
                             "largest finite value swept")

    def spec(self) -> Spec:
        return Spec(d_in=2 * self.d + 1, d_out=1)

    def fixed(self, key, tp):
        """The pool, ``max_tasks`` rows, and this stream's traced ``M`` (``{}`` without a pool)."""
        if self.max_tasks == 0:
            return {}
        return {"pool": jax.random.normal(key, (self.max_tasks, self.d)), "m": tp["n_tasks"]}

    def weights(self, fixed, key, n: int, source: str = "train") -> jax.Array:
        """``(n, d)`` weights: from the pool's first ``M`` rows (``source="train"`` or
        ``"pool"`` with a finite ``M``) or fresh (``"fresh"``, or ``M = inf``)."""
        fresh = jax.random.normal(key, (n, self.d))
        if source == "fresh" or "pool" not in fixed:
            return fresh
        m = fixed["m"]
        finite = jnp.isfinite(m)
        # The same key as the fresh draw: exactly one of the two is kept, and each equals what a
        # task with this M alone draws (randint with a traced bound draws as with a constant one).
        idx = jax.random.randint(key, (n,), 0, jnp.where(finite, m, 1).astype(jnp.int32))
        return jnp.where(finite, fixed["pool"][idx], fresh)

    def sequences(self, w, key, noise_key, noise) -> Batch:
        """Input vectors and targets for weights ``w`` ``(n, d)``."""
        n = w.shape[0]
        x = jax.random.normal(key, (n, self.context, self.d))
        y = jnp.einsum("nkd,nd->nk", x, w) + noise * jax.random.normal(noise_key, (n, self.context))
        return Batch(self.tokens(x, y), y[..., None])

    @staticmethod
    def tokens(x, y) -> jax.Array:
        """``[x_k, x_{k-1}, y_{k-1}]`` per position, from ``x`` ``(n, K, d)`` and ``y`` ``(n, K)``."""
        prev_x = jnp.pad(x[:, :-1], ((0, 0), (1, 0), (0, 0)))
        prev_y = jnp.pad(y[:, :-1], ((0, 0), (1, 0)))[..., None]
        return jnp.concatenate([x, prev_x, prev_y], axis=-1)

    def sample(self, fixed, key, n, tp, noise_key=None, source="train"):
        k_w, k_x = jax.random.split(key)
        noise_key = jax.random.fold_in(key, 1) if noise_key is None else noise_key
        return self.sequences(self.weights(fixed, k_w, n, source), k_x, noise_key, tp["noise"])

    def setup(self, task_key, noise_key, tp):
        state = super().setup(task_key, noise_key, tp)
        k_test, k_pool = jax.random.split(jax.random.fold_in(task_key, 7))
        n_test, n_pool = jax.random.split(jax.random.fold_in(noise_key, 7))
        state["test"] = self.sample(state["fixed"], k_test, self.n_test, tp, n_test, source="fresh")
        state["pool_test"] = self.sample(state["fixed"], k_pool, self.n_test, tp, n_pool,
                                         source="pool")
        return state


@dataclasses.dataclass(frozen=True)
class PoolLoss:
    """A metric: the loss on sequences from the training pool (``task_state["pool_test"]``).

    With ``n_tasks = inf`` the "pool" is fresh weights, so it equals ``test_loss`` in law.

    Example:
        >>> m = PoolLoss()
    """

    name: str = "pool_loss"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x, y = ctx.task_state["pool_test"]
        pred = ctx.apply(ctx.params, x)
        return 0.5 * jnp.mean(jnp.sum(jnp.square(pred - y), axis=-1)), state
