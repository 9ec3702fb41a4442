"""Metrics recorded on the population's schedule: the protocol, and plain-function metrics.

A metric is measured for every member at every recording step, inside ``jit(vmap(...))``. It may
carry state between recordings (e.g. a power-iteration vector for warm starts)::

    class Metric(Protocol):
        name: str
        def init(self, params, key) -> state
        def __call__(self, state, ctx: MetricContext) -> tuple[scalar, state]

A plain function ``fn(params, batch) -> scalar`` is wrapped as a stateless metric; ``batch`` is
the training evaluation batch (the full training set for finite tasks, the current minibatch for
streaming ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax

from dyntheory._config.fingerprint import fingerprint, plain_repr

# What every member records whatever the sweep asks (the engine's Member.member_measure).
BUILTIN_METRICS = ("train_loss", "test_loss", "param_norm", "grad_norm", "update_norm")
CLASSIFICATION_METRICS = ("train_acc", "test_acc")


class MetricContext(NamedTuple):
    """What a metric sees for one member at one recording step."""

    params: Any
    apply: Callable  # apply(params, x) -> predictions
    loss: Callable  # loss(params, batch) -> scalar training loss
    batch: Any  # (x, y) training evaluation batch
    hp: Any  # the member's HParams
    task_state: Any  # teacher, datasets, teacher_modes, relevant bits...
    step: jax.Array


@runtime_checkable
class Metric(Protocol):
    name: str

    def init(self, params, key): ...

    def __call__(self, state, ctx: MetricContext): ...


@dataclasses.dataclass(frozen=True)
class FnMetric:
    """A stateless metric from ``fn(params, batch) -> scalar``."""

    name: str
    fn: Callable

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx: MetricContext):
        return self.fn(ctx.params, ctx.batch), state

    def describe(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', repr(self.fn))}"


def as_metric(name: str, m) -> Any:
    if hasattr(m, "init") and hasattr(m, "name") and callable(m):
        return m
    if callable(m):
        return FnMetric(name, m)
    raise ValueError(f"Sweep.metrics[{name!r}] must be a function (params, batch) -> scalar or a "
                     f"Metric, got {m!r}")


def describe(m) -> str:
    """A readable label of a metric (its name in code; addresses removed, so it is stable)."""
    return m.describe() if hasattr(m, "describe") else plain_repr(m)


def metric_fingerprint(m) -> str:
    """What identifies a metric's values: a digest of its code and of what it closes over
    (``dyntheory._config.fingerprint``); a plain function's own, not its wrapper's."""
    return fingerprint(m.fn if isinstance(m, FnMetric) else m)
