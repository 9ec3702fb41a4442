"""Interventions during training: what is done to a member, when, and to which members.

An intervention is a value (frozen, hashable, recorded in the sweep's config) made of an
*action* and a *when*:

- actions: ``ScaleLR(factor, steps)``, ``WeightDecayPulse(value, steps)`` (a hyperparameter
  changed for a window), ``Rewind(steps)`` (back to the member's own state at least ``steps``
  earlier), ``SkipBatches(steps)`` (the data stream advances ``steps`` batches without updates),
  ``ResetOptimizer()``, ``AverageWeights(last)`` (the mean of its last ``last`` recorded states),
  ``Penalty(fn, weight, steps)`` (the gradient of a penalty added for a window),
  ``ClipUpdates(max_norm)`` and ``Grokfast(alpha, lamb)`` (Lee et al. 2024, arXiv 2405.20233:
  an EMA gradient filter), switched on from then to the end; ``RemoveExamples(examples)`` and
  ``RelabelExamples(examples, labels)`` (a finite task's chosen training rows, for that member,
  from then on: ``dyntheory._config.data_edit_actions``);
- when: ``.at(step, where=...)`` (members chosen by coordinates or a boolean mask over the
  run's dims, as for ``dt.branch``), or ``.when(trigger, where=...)``, a trigger evaluated on the
  member's own recorded metrics at each record step: ``Spike(metric, ratio)`` (the value jumps
  past ``ratio`` times the previous record), ``AboveMedian(metric, c)`` (past ``c`` times the
  running median of its own history, e.g. the update norm), ``Threshold(metric, value,
  direction)``. A trigger fires once per member; the step it fired is recorded.

Actions take effect at the segment boundary where they fire (a record, a checkpoint or an
``at`` step), after that step is recorded and checkpointed; a window of ``steps`` ends at the
first boundary at or after the firing step plus ``steps`` (``at`` interventions add that
boundary; triggered ones end at a record step, so keep records dense enough).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dyntheory._config.checks import is_integer, is_real


def _positive_int(where: str, v) -> int:
    if isinstance(v, bool) or not is_integer(v) or v < 1:
        raise ValueError(f"{where} must be an integer >= 1, got {v!r}")
    return int(v)


def _positive_real(where: str, v, *, strict: bool = True) -> float:
    if isinstance(v, bool) or not is_real(v) or not (v > 0 if strict else v >= 0) or v != v or v == float("inf"):
        raise ValueError(f"{where} must be a finite number {'> 0' if strict else '>= 0'}, got {v!r}")
    return float(v)


class Action:
    """What an intervention does; ``at`` and ``when`` say when."""

    def at(self, step: int, where=None) -> Intervention:
        return Intervention(self, At(_nonneg("at: step", step)), where)

    def when(self, trigger: Trigger, where=None) -> Intervention:
        if not isinstance(trigger, Trigger):
            raise ValueError(f"when: trigger must be Spike, AboveMedian or Threshold, got {trigger!r}")
        return Intervention(self, trigger, where)

    def config(self) -> dict[str, Any]:
        return {"action": type(self).__name__, **dataclasses.asdict(self)}

    @property
    def window(self) -> int:
        return 0


def _nonneg(where: str, v) -> int:
    if isinstance(v, bool) or not is_integer(v) or v < 0:
        raise ValueError(f"{where} must be an integer >= 0, got {v!r}")
    return int(v)


@dataclasses.dataclass(frozen=True)
class ScaleLR(Action):
    """Multiply the member's learning rate by ``factor`` for ``steps`` steps."""

    factor: float
    steps: int

    def __post_init__(self):
        object.__setattr__(self, "factor", _positive_real("ScaleLR.factor", self.factor))
        object.__setattr__(self, "steps", _positive_int("ScaleLR.steps", self.steps))

    @property
    def window(self) -> int:
        return self.steps


@dataclasses.dataclass(frozen=True)
class WeightDecayPulse(Action):
    """Set the member's weight decay to ``value`` for ``steps`` steps."""

    value: float
    steps: int

    def __post_init__(self):
        object.__setattr__(self, "value", _positive_real("WeightDecayPulse.value", self.value, strict=False))
        object.__setattr__(self, "steps", _positive_int("WeightDecayPulse.steps", self.steps))

    @property
    def window(self) -> int:
        return self.steps


@dataclasses.dataclass(frozen=True)
class Rewind(Action):
    """Restore the member's parameters and optimizer state from its own latest recorded state at
    least ``steps`` earlier (a diverged member is revived); its data stream moves on."""

    steps: int

    def __post_init__(self):
        object.__setattr__(self, "steps", _positive_int("Rewind.steps", self.steps))


@dataclasses.dataclass(frozen=True)
class SkipBatches(Action):
    """The next ``steps`` batches pass without updates: the member's state is put back at the end
    of the window as it was at its start (metrics recorded inside the window show the skipped
    training)."""

    steps: int

    def __post_init__(self):
        object.__setattr__(self, "steps", _positive_int("SkipBatches.steps", self.steps))

    @property
    def window(self) -> int:
        return self.steps


@dataclasses.dataclass(frozen=True)
class ResetOptimizer(Action):
    """Zero the member's optimizer state (moments, step count)."""


@dataclasses.dataclass(frozen=True)
class AverageWeights(Action):
    """Replace the member's parameters by the mean of its last ``last`` recorded states."""

    last: int

    def __post_init__(self):
        object.__setattr__(self, "last", _positive_int("AverageWeights.last", self.last))


@dataclasses.dataclass(frozen=True)
class ClipUpdates(Action):
    """From now on, clip the member's update to global norm ``max_norm``."""

    max_norm: float

    def __post_init__(self):
        object.__setattr__(self, "max_norm", _positive_real("ClipUpdates.max_norm", self.max_norm))


@dataclasses.dataclass(frozen=True)
class Grokfast(Action):
    """From now on, add ``lamb`` times an EMA (decay ``alpha``) of the gradients to the gradient
    (Lee et al. 2024, arXiv 2405.20233, Grokfast-EMA)."""

    alpha: float = 0.98
    lamb: float = 2.0

    def __post_init__(self):
        a = _positive_real("Grokfast.alpha", self.alpha)
        if a >= 1:
            raise ValueError(f"Grokfast.alpha must be in (0, 1), got {self.alpha!r}")
        object.__setattr__(self, "alpha", a)
        object.__setattr__(self, "lamb", _positive_real("Grokfast.lamb", self.lamb))


@dataclasses.dataclass(frozen=True)
class Penalty(Action):
    """Add ``weight`` times the gradient of ``fn(params)`` (a scalar penalty) to the member's
    gradient for ``steps`` steps. The recorded losses stay the task's loss."""

    fn: Any
    weight: float
    steps: int

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError(f"Penalty.fn must be a function params -> scalar, got {self.fn!r}")
        object.__setattr__(self, "weight", _positive_real("Penalty.weight", self.weight))
        object.__setattr__(self, "steps", _positive_int("Penalty.steps", self.steps))

    @property
    def window(self) -> int:
        return self.steps

    def config(self) -> dict[str, Any]:
        fn = function_config(self.fn)
        return {"action": "Penalty", "fn": fn["function"], "fn_fingerprint": fn["fingerprint"],
                "weight": self.weight, "steps": self.steps}


def function_config(v) -> Any:
    """A function-valued field as the config records it (its name and a fingerprint of its code
    and closed-over values); any other value as it is."""
    from dyntheory._config.fingerprint import fingerprint, plain_repr
    return {"function": plain_repr(v), "fingerprint": fingerprint(v)} if callable(v) else v


class Trigger:
    """When a member's own recorded signals call for the action."""

    def config(self) -> dict[str, Any]:
        return {"when": type(self).__name__, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class At(Trigger):
    step: int


@dataclasses.dataclass(frozen=True)
class Spike(Trigger):
    """``metric`` at a record step exceeds ``ratio`` times its value at the previous record."""

    metric: str
    ratio: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "ratio", _positive_real("Spike.ratio", self.ratio))


@dataclasses.dataclass(frozen=True)
class AboveMedian(Trigger):
    """``metric`` exceeds ``c`` times the median of its own earlier records (at least
    ``warmup`` of them)."""

    metric: str
    c: float = 3.0
    warmup: int = 3

    def __post_init__(self):
        object.__setattr__(self, "c", _positive_real("AboveMedian.c", self.c))
        object.__setattr__(self, "warmup", _positive_int("AboveMedian.warmup", self.warmup))


@dataclasses.dataclass(frozen=True)
class Threshold(Trigger):
    """``metric`` crosses ``value``: at or above it (``direction="above"``) or at or below."""

    metric: str
    value: float
    direction: str = "above"

    def __post_init__(self):
        if self.direction not in ("above", "below"):
            raise ValueError(f"Threshold.direction must be 'above' or 'below', got {self.direction!r}")
        if not is_real(self.value):
            raise ValueError(f"Threshold.value must be a number, got {self.value!r}")


@dataclasses.dataclass(frozen=True)
class Intervention:
    """An action, when to take it, and on which members (``where``: None for all)."""

    action: Action
    trigger: Trigger
    where: Any = None

    def __hash__(self):  # ``where`` may be a DataArray mask: hash what identifies it
        return hash((self.action, self.trigger, repr(self.config()["where"])))

    def __eq__(self, other):
        return isinstance(other, Intervention) and self.config() == other.config()

    def config(self) -> dict[str, Any]:
        return {**self.action.config(), **self.trigger.config(), "where": _where_config(self.where)}


def _where_config(where) -> Any:
    if where is None:
        return None
    if hasattr(where, "dims") and hasattr(where, "values"):
        return {"mask_dims": list(where.dims), "mask": [int(v) for v in where.values.ravel()]}
    return {str(k): (list(v) if isinstance(v, (list, tuple, set)) else v) for k, v in dict(where).items()}


def check_interventions(items, dims: tuple[str, ...], metric_names: tuple[str, ...], steps: int) -> tuple:
    """The sweep's interventions, checked before compute (field and value named)."""
    if isinstance(items, Intervention):
        items = (items,)
    items = tuple(items)
    clips = set()
    for i, it in enumerate(items):
        where = f"Sweep.interventions[{i}]"
        if not isinstance(it, Intervention):
            raise ValueError(f"{where} must be an action with .at(step) or .when(trigger) "
                             f"(e.g. dt.interventions.ScaleLR(0.1, 50).at(500)), got {it!r}")
        if isinstance(it.trigger, At) and it.trigger.step >= steps:
            raise ValueError(f"{where}: at step {it.trigger.step}, but the run has {steps} steps")
        metric = getattr(it.trigger, "metric", None)
        if metric is not None and metric not in metric_names:
            raise ValueError(f"{where}: trigger metric {metric!r} is not recorded; recorded: {list(metric_names)}")
        if it.where is not None and not (hasattr(it.where, "dims") or isinstance(it.where, dict)):
            raise ValueError(f"{where}: where must be a mapping of axis -> values or a boolean DataArray, "
                             f"got {it.where!r}")
        if isinstance(it.where, dict):
            unknown = [k for k in it.where if k not in dims]
            if unknown:
                raise ValueError(f"{where}: where names unknown axes {unknown}; axes: {list(dims)}")
        if isinstance(it.action, ClipUpdates):
            clips.add(it.action.max_norm)
    if len(clips) > 1:
        raise ValueError(f"Sweep.interventions clip updates to several norms {sorted(clips)}; use one")
    return items


def filters(items: tuple) -> tuple:
    """The switchable optimizer filters the sweep's interventions need (static, so a sweep
    without them compiles exactly as before): ``("clip", max_norm)``, ``("grokfast", a, l)``."""
    out = []
    for it in items:
        a = it.action
        if isinstance(a, ClipUpdates) and ("clip", a.max_norm) not in out:
            out.append(("clip", a.max_norm))
        if isinstance(a, Grokfast) and ("grokfast", a.alpha, a.lamb) not in out:
            out.append(("grokfast", a.alpha, a.lamb))
        if isinstance(a, Penalty) and ("penalty", a.fn, a.weight) not in out:
            out.append(("penalty", a.fn, a.weight))
    return tuple(out)

