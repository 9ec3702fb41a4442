"""The values a sweep is made of, checked one by one: hyperparameters, steps, axis values, and
the JSON a config is written as (``dyntheory._config.sweep``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from dyntheory._config.axes import Derived, Zipped
from dyntheory._config.checks import is_integer, is_real

# Where each hyperparameter must live; (low, high, low_inclusive).
_HP_RANGE = {
    "lr": (0.0, math.inf, False), "momentum": (0.0, 1.0, True), "weight_decay": (0.0, math.inf, True),
    "init_scale": (0.0, math.inf, True), "b1": (0.0, 1.0, True), "b2": (0.0, 1.0, True),
    "eps": (0.0, math.inf, False),
}


def _check_hparam(name: str, value: Any, where: str) -> float:
    lo, hi, lo_incl = _HP_RANGE[name]
    if not is_real(value):
        raise ValueError(f"{where} must be a number, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) and (v >= lo if lo_incl else v > lo) and v < hi
    if not ok:
        rng = f"{'[' if lo_incl else '('}{lo}, {hi})"
        raise ValueError(f"{where} must be finite and in {rng}, got {value!r}")
    return v


def _as_dict(field: str, value) -> dict:
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise ValueError(f"Sweep.{field} must be a mapping of names to values, got {value!r}") from None


_MODEL_METHODS = ("init", "apply", "check", "lr_scales")
# Which optimizers read each optional hyperparameter, and the values that mean "unused" anyway.
_USED_BY = {"momentum": ("momentum",), "b1": ("adam", "adamw"), "b2": ("adam", "adamw"), "eps": ("adam", "adamw")}
_INERT = {"momentum": (0.0,)}


def _identity(value):
    # What makes two axis values the same: equality where hashable (0 and 0.0 are one noise
    # level), else the repr.
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return ("value", value)


def _swept_hparams(value) -> tuple[str, ...]:
    """Hyperparameters an axis value sets besides its own name: a zipped axis's components, a
    derived axis's target."""
    if isinstance(value, Zipped):
        return value.names
    if isinstance(value, Derived):
        return (value.target,)
    return ()


def _refuse_repeats(where: str, name: str, values: tuple, checked: list) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(checked):
        j = seen.setdefault(_identity(v), i)
        if j != i:
            raise ValueError(f"{where} has repeated values: [{j}]={values[j]!r} and [{i}]={values[i]!r} "
                             f"are both {name}={v!r}")


def _check_steps(name: str, values, steps: int) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"Sweep.{name} must be a sequence of steps in [0, steps={steps}], got {values!r}")
    out = []
    for v in values:
        if not is_integer(v) or not 0 <= v <= steps:
            raise ValueError(f"Sweep.{name} steps must be integers in [0, steps={steps}], got {v!r}")
        out.append(int(v))
    if not out:
        raise ValueError(f"Sweep.{name} must not be empty")
    return tuple(sorted(set(out)))


def _describe(obj) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj):
        d = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            d[f.name] = repr(v) if f.name == "module" else v
        return d
    return {"type": type(obj).__name__, "repr": repr(obj)}


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v
