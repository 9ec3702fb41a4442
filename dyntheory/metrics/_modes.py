"""Teacher-mode metrics: how strongly a student's end-to-end linear map carries each teacher mode.

A linear teacher ``y = x @ M`` with ``M = sum_i s_i a_i b_i^T`` (``TeacherStudent`` exposes
``task_state["teacher_modes"] = (a, s, b)``, ``a`` of shape ``(d_in, r)``, ``b`` of ``(d_out, r)``)
defines one *mode strength* per singular value: ``u_i = a_i^T A b_i``, where ``A`` is the student's
end-to-end map. Deep-linear-network theory (Saxe, McClelland, Ganguli 2014, arXiv:1312.6120) predicts
each ``u_i(t)``; these metrics record them for every member at every recording step.

The end-to-end map is read off the network itself, ``A = f(I) - f(0)``, so any model that is affine
in its input works (``Linear``, ``DeepLinear``, an ``MLP`` with linear activation) and biases drop out.

Both metrics are stateless and follow the engine's metric protocol (``dyntheory._config.metric``).

Example:
    >>> import dyntheory as dt
    >>> from dyntheory.metrics._modes import mode_strength
    >>> task = dt.tasks.TeacherStudent(d_in=4, d_out=4, singular_values=(2.0, 1.0), n_train=8,
    ...                                whiten=True)
    >>> sweep = dt.Sweep(task=task, model=dt.models.DeepLinear(depth=2, width=4, balanced=True),
    ...                  steps=4, batch_size=None, lr=0.1, init_scale=0.1, record=2,
    ...                  metrics={"mode_0": mode_strength(0)})
    >>> dt.train(sweep, key=0).metrics["mode_0"].dims
    ('seed', 'step')
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dyntheory._config.metric import MetricContext

__all__ = ["ModeStrength", "ModeSeed", "end_to_end", "mode_seed", "mode_strength", "mode_strengths"]


def end_to_end(apply, params, d_in: int) -> jax.Array:
    """The map ``A = f(I) - f(0)`` of a network affine in its input, shape ``(d_in, d_out)``."""
    eye = jnp.eye(d_in, dtype=jax.tree.leaves(params)[0].dtype)
    return apply(params, eye) - apply(params, jnp.zeros((1, d_in), eye.dtype))


def _modes(ctx: MetricContext, index: int, owner: str):
    modes = ctx.task_state.get("teacher_modes") if isinstance(ctx.task_state, dict) else None
    if modes is None:
        raise ValueError(f"{owner}: the task exposes no teacher_modes; use TeacherStudent with "
                         "teacher='linear'")
    a, s, b = modes
    if not 0 <= index < a.shape[1]:
        raise ValueError(f"{owner}: index={index} out of range for a teacher with {a.shape[1]} modes")
    return a, s, b


@dataclasses.dataclass(frozen=True)
class ModeStrength:
    """Metric ``u_i = a_i^T A b_i``: the student's strength along teacher mode ``index``.

    Attributes:
        index: which teacher mode (modes come sorted by decreasing singular value when the task
            was built from ``singular_values`` in that order).
        name: the metric's name in the run's Dataset.
    """

    index: int
    name: str = ""

    def __post_init__(self):
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"ModeStrength.index must be an integer >= 0, got {self.index!r}")
        if not self.name:
            object.__setattr__(self, "name", f"mode_{self.index}")

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx: MetricContext):
        a, _, b = _modes(ctx, self.index, "ModeStrength")
        A = end_to_end(ctx.apply, ctx.params, a.shape[0])
        return a[:, self.index] @ A @ b[:, self.index], state

    def describe(self) -> str:
        return f"dyntheory.metrics._modes.ModeStrength(index={self.index})"


@dataclasses.dataclass(frozen=True)
class ModeSeed:
    """Metric ``|W1^T a_i + W2 b_i|^2 / 4`` of a two-layer linear net ``x @ W1 @ W2``.

    Near zero weights, gradient flow on ``0.5 ||W1 W2 - M||^2`` is linear: with ``p = W1^T a_i`` and
    ``q = W2 b_i``, ``dp/dt = s_i q`` and ``dq/dt = s_i p``, so ``(p + q)/2`` grows as
    ``e^{s_i t}`` and ``(p - q)/2`` decays. The mode strength ``u_i = p . q`` then follows
    ``|(p_0 + q_0)/2|^2 e^{2 s_i t}``: this metric, read at step 0, is the initial strength that an
    *aligned* start would need to follow the same trajectory (the effective ``u0`` of Saxe et al.'s
    closed form for a random small initialisation). Meaningful at small weights only.

    Attributes:
        index: which teacher mode.
        name: the metric's name in the run's Dataset.
    """

    index: int
    name: str = ""

    def __post_init__(self):
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"ModeSeed.index must be an integer >= 0, got {self.index!r}")
        if not self.name:
            object.__setattr__(self, "name", f"mode_{self.index}_seed")

    def init(self, params, key):
        layers = params.get("layers") if isinstance(params, dict) else None
        if layers is None or len(layers) != 2 or any(set(layer) != {"w"} for layer in layers):
            raise ValueError("ModeSeed needs a two-layer linear net without biases "
                             "(DeepLinear(depth=2, ...)); got params "
                             f"{jax.tree.map(jnp.shape, params)}")
        return ()

    def __call__(self, state, ctx: MetricContext):
        a, _, b = _modes(ctx, self.index, "ModeSeed")
        w1, w2 = (layer["w"] for layer in ctx.params["layers"])
        half = (w1.T @ a[:, self.index] + w2 @ b[:, self.index]) / 2
        return half @ half, state

    def describe(self) -> str:
        return f"dyntheory.metrics._modes.ModeSeed(index={self.index})"


def mode_strength(index: int) -> ModeStrength:
    """Metric named ``mode_{index}`` recording ``a_index^T A b_index`` (see :class:`ModeStrength`)."""
    return ModeStrength(index)


def mode_seed(index: int) -> ModeSeed:
    """Metric named ``mode_{index}_seed``: the two-layer effective initial strength (:class:`ModeSeed`)."""
    return ModeSeed(index)


def mode_strengths(n_modes: int) -> dict[str, ModeStrength]:
    """``{"mode_0": ..., "mode_{n-1}": ...}``, ready to merge into ``Sweep.metrics``.

    Example:
        >>> sorted(mode_strengths(2))
        ['mode_0', 'mode_1']
    """
    if isinstance(n_modes, bool) or not isinstance(n_modes, int) or n_modes < 1:
        raise ValueError(f"mode_strengths: n_modes must be an integer >= 1, got {n_modes!r}")
    return {f"mode_{i}": ModeStrength(i) for i in range(n_modes)}
