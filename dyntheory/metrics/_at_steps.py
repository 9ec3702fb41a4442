"""A metric measured only at chosen steps: expensive metrics riding along a densely recorded run.

:class:`AtSteps` wraps any metric (``dyntheory._config.metric`` protocol) and evaluates it only when the
recording step is one of ``steps``, returning NaN at every other record. The step is the same for
every member of a population, so the ``lax.cond`` stays a real branch under the population's
``vmap`` and the skipped records cost nothing (a dense NTK eigenvalue at the first and last step
of a run recorded at every step, say).

Example:
    >>> import jax, jax.numpy as jnp
    >>> import dyntheory as dt
    >>> norm = dt.FnMetric("norm", lambda params, batch: jnp.sqrt(sum(
    ...     jnp.vdot(w, w) for w in jax.tree.leaves(params))))
    >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(), steps=4,
    ...                  batch_size=8, seeds=1, record=1, metrics={"norm": AtSteps(norm, (0, 4))})
    >>> m = dt.train(sweep, key=0).metrics["norm"].isel(seed=0)
    >>> [bool(jnp.isfinite(v)) for v in m.values]
    [True, False, False, False, True]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dyntheory._config.metric import MetricContext

__all__ = ["AtSteps"]


@dataclasses.dataclass(frozen=True)
class AtSteps:
    """Evaluate ``inner`` only at the listed steps (NaN elsewhere).

    Attributes:
        inner: the wrapped metric (``init(params, key)`` and ``__call__(state, ctx)``); its state
            is carried unchanged through the records where it is not evaluated.
        steps: the recording steps at which ``inner`` is evaluated.
        name: the metric's name.
    """

    inner: object
    steps: tuple[int, ...]
    name: str = "at_steps"

    def init(self, params, key):
        return self.inner.init(params, key)

    def __call__(self, state, ctx: MetricContext):
        dtype = jax.tree_util.tree_leaves(ctx.params)[0].dtype
        hit = jnp.any(jnp.asarray(self.steps) == ctx.step)

        def measure(s):
            value, s = self.inner(s, ctx)
            return jnp.asarray(value, dtype), s

        shape = jax.eval_shape(measure, state)[0].shape  # an array metric's NaNs keep its shape
        return jax.lax.cond(hit, measure, lambda s: (jnp.full(shape, jnp.nan, dtype), s), state)

    @property
    def dims(self):  # an array-valued inner metric's named dims (``dt.metrics.labelled``)
        return getattr(self.inner, "dims", None)

    @property
    def coords(self):
        return getattr(self.inner, "coords", ())
