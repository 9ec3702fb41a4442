"""Value checks shared by the sweep, the tasks and the models.

Each check names where the value sits (``Sweep.steps``, ``MLP.bias``...) and the bad value, and
returns the value in its plain Python form, so that a numpy integer, float or bool given by the
user becomes an ``int``, ``float`` or ``bool`` in the frozen configuration (hashable, JSON-able,
equal to the same value typed by hand). A ``bool`` is never an integer or a number here:
``steps=True`` is a mistake, not ``steps=1``.

Example:
    >>> integer("Sweep.steps", np.int64(10), minimum=1)
    10
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def is_integer(value) -> bool:
    """An ``int`` or numpy integer, not a ``bool``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """An ``int``, ``float`` or numpy number, not a ``bool`` (nor a complex)."""
    return is_integer(value) or isinstance(value, (float, np.floating))


def integer(where: str, value, *, minimum: int | None = None, maximum: int | None = None,
            allow_none: bool = False) -> int | None:
    """``value`` as an ``int`` in ``[minimum, maximum]``, or ValueError naming ``where``."""
    if value is None and allow_none:
        return None
    ok = is_integer(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            rule = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            rule = f"an integer >= {minimum}"
        else:
            rule = "an integer"
        raise ValueError(f"{where} must be {rule}{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def flag(where: str, value) -> bool:
    """``value`` as a ``bool``: only ``True``/``False`` (or numpy's), never ``'yes'``, ``1`` or ``None``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where} must be True or False, got {value!r}")
    return bool(value)


def real(where: str, value, *, minimum: float | None = None, open_low: bool = False) -> float:
    """``value`` as a finite ``float`` (``> minimum`` if ``open_low``, else ``>= minimum``)."""
    ok = is_real(value) and math.isfinite(float(value))
    if ok and minimum is not None:
        ok = float(value) > minimum if open_low else float(value) >= minimum
    if not ok:
        rule = "" if minimum is None else f" {'>' if open_low else '>='} {minimum:g}"
        raise ValueError(f"{where} must be a finite number{rule}, got {value!r}")
    return float(value)


# ---- fields of a frozen task or model, checked and stored in their plain form --------------------

def positive_int(obj, name: str, *, allow_none: bool = False, minimum: int = 1) -> None:
    """Check the integer field ``name`` of the frozen ``obj`` and store it as a plain ``int``."""
    value = integer(f"{type(obj).__name__}.{name}", getattr(obj, name), minimum=minimum, allow_none=allow_none)
    object.__setattr__(obj, name, value)


def real_field(obj, name: str, *, minimum: float | None = None, open_low: bool = False) -> None:
    """Check the number field ``name`` of the frozen ``obj`` and store it as a plain ``float``."""
    object.__setattr__(obj, name, real(f"{type(obj).__name__}.{name}", getattr(obj, name),
                                       minimum=minimum, open_low=open_low))


def flag_field(obj, name: str) -> None:
    """Check the boolean field ``name`` of the frozen ``obj`` (``True``/``False`` only)."""
    object.__setattr__(obj, name, flag(f"{type(obj).__name__}.{name}", getattr(obj, name)))


def real_tuple(obj, name: str) -> None:
    """Store the optional sequence field ``name`` as a tuple of floats (``None`` stays ``None``)."""
    value = getattr(obj, name)
    if value is None:
        return
    where = f"{type(obj).__name__}.{name}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{where} must be a sequence of numbers or None, got {value!r}")
    value = tuple(value)
    for v in value:
        if not is_real(v):
            raise ValueError(f"{where} must hold numbers, got {value!r}")
    object.__setattr__(obj, name, tuple(float(v) for v in value))
