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
    """What a metric sees for one member at one recording step (a stateful ``Metric``'s
    ``__call__(state, ctx)``); everything is one member's, inside ``jit(vmap(...))``.

    Fields:
        params: the member's parameters.
        apply: the model, ``apply(params, x) -> predictions``.
        loss: the training loss, ``loss(params, batch) -> scalar`` (the sweep's loss).
        batch: the training evaluation batch ``(x, y)``: the whole training set of a finite
            task, the current minibatch of a streaming one.
        hp: the member's ``HParams`` (``lr``, ``weight_decay``, ...).
        task_state: the member's task state (what its task's ``setup`` returned: a teacher, a
            dataset, ...); ``ctx.teacher`` reads its ``"teacher"`` entry.
        step: the recording step.
        test: the test evaluation batch (``None`` where the task has none).

    Accessors: ``ctx.predict(x)`` (the model on this member's parameters), ``ctx.eval_set(name)``
    (``"train"`` or ``"test"``), ``ctx.teacher``.
    """

    params: Any
    apply: Callable  # apply(params, x) -> predictions
    loss: Callable  # loss(params, batch) -> scalar training loss
    batch: Any  # (x, y) training evaluation batch
    hp: Any  # the member's HParams
    task_state: Any  # teacher, datasets, teacher_modes, relevant bits...
    step: jax.Array
    test: Any = None  # (x, y) test evaluation batch

    def predict(self, x):
        """The member's predictions on inputs ``x``."""
        return self.apply(self.params, x)

    def eval_set(self, name: str):
        """The ``"train"`` or ``"test"`` evaluation batch."""
        sets = {"train": self.batch, "test": self.test}
        if name not in sets:
            raise ValueError(f"MetricContext.eval_set: name must be 'train' or 'test', got {name!r}")
        if sets[name] is None:
            raise ValueError(f"MetricContext.eval_set: this task has no {name!r} evaluation set")
        return sets[name]

    @property
    def teacher(self):
        """The task state's ``"teacher"`` entry (teacher-student tasks)."""
        if not isinstance(self.task_state, dict) or "teacher" not in self.task_state:
            keys = sorted(self.task_state) if isinstance(self.task_state, dict) else type(self.task_state).__name__
            raise ValueError(f"MetricContext.teacher: this task's state has no 'teacher' (it has {keys})")
        return self.task_state["teacher"]


@runtime_checkable
class Metric(Protocol):
    name: str

    def init(self, params, key): ...

    def __call__(self, state, ctx: MetricContext): ...


@dataclasses.dataclass(frozen=True)
class FnMetric:
    """A stateless metric from ``fn(params, batch) -> scalar or array``; ``dims`` names an
    array's axes (default ``<name>_0``, ``<name>_1``, ...), ``coords`` optionally labels them."""

    name: str
    fn: Callable
    dims: tuple[str, ...] | None = None
    coords: tuple[tuple[str, tuple], ...] = ()

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx: MetricContext):
        return self.fn(ctx.params, ctx.batch), state

    def describe(self) -> str:
        base = f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', repr(self.fn))}"
        return base if self.dims is None else f"{base} dims={list(self.dims)}"


def labelled(fn, dims: tuple[str, ...] | str, coords: dict[str, Any] | None = None) -> Any:
    """An array-valued metric whose axes are named ``dims`` (and labelled by ``coords``).

    ``fn`` is a function ``(params, batch) -> array`` or a ``Metric``; each recorded value gains
    these dims after ``step``. Without ``labelled`` an array metric's axes are ``<name>_0``, ...

    Example:
        >>> import jax.numpy as jnp
        >>> per_out = labelled(lambda params, batch: jnp.mean(batch.y ** 2, axis=0), dims="output")
        >>> per_out.dims
        ('output',)
    """
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    if not dims or not all(isinstance(d, str) and d.isidentifier() for d in dims) or len(set(dims)) != len(dims):
        raise ValueError(f"labelled: dims must be distinct identifiers, got {dims!r}")
    coords = dict(coords or {})
    unknown = sorted(set(coords) - set(dims))
    if unknown:
        raise ValueError(f"labelled: coords name {unknown}, which are not among dims {list(dims)}")
    frozen = tuple((d, tuple(coords[d])) for d in dims if d in coords)
    if callable(fn) and not hasattr(fn, "init"):
        return FnMetric("", fn, dims, frozen)
    if hasattr(fn, "init") and callable(fn):
        return dataclasses.replace(fn, dims=dims, coords=frozen) if _has_fields(fn, "dims", "coords") else \
            _Relabelled(fn, dims, frozen)
    raise ValueError(f"labelled: fn must be a function (params, batch) -> array or a Metric, got {fn!r}")


def _has_fields(obj, *names) -> bool:
    return dataclasses.is_dataclass(obj) and all(n in {f.name for f in dataclasses.fields(obj)} for n in names)


@dataclasses.dataclass(frozen=True)
class _Relabelled:
    """A stateful ``Metric`` with its array's axes named."""

    metric: Any
    dims: tuple[str, ...]
    coords: tuple[tuple[str, tuple], ...] = ()

    @property
    def name(self) -> str:
        return self.metric.name

    def init(self, params, key):
        return self.metric.init(params, key)

    def __call__(self, state, ctx: MetricContext):
        return self.metric(state, ctx)

    def describe(self) -> str:
        return f"{describe(self.metric)} dims={list(self.dims)}"


def as_metric(name: str, m) -> Any:
    if isinstance(m, FnMetric) and m.name == "":  # from ``labelled``: takes the sweep's name
        return dataclasses.replace(m, name=name)
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
    if isinstance(m, FnMetric):
        return fingerprint(m.fn) if m.dims is None else fingerprint((m.fn, m.dims, m.coords))
    return fingerprint(m)
