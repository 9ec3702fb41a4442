"""Axes beyond a plain grid: hyperparameters that vary together, and ones derived per member.

- ``zipped(lr=[...], weight_decay=[...])``: one axis whose i-th value sets every named
  hyperparameter to its i-th entry (paired, not crossed). Its coordinate reads
  ``"0.1,0.0001"``; each component is also a coordinate along it (``ds.lr``).
- ``derived("lr", [0.5, 1, 2], measure=fn, rule=lambda c, q: c / q)``: one axis of
  coordinates ``c``; each member's ``lr`` is ``rule(c, q)`` with ``q = measure(params, batch)``
  measured on that member's own initial state (for example ``q`` its NTK top eigenvalue, so
  ``lr = c / lambda_0`` per member: Lewkowycz et al. 2020, arXiv 2003.02218). The values used are
  recorded per member (``run.metrics[target]``).

Both are traced: members of every value share one compiled program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from dyntheory._config.checks import is_real
from dyntheory._config.fingerprint import fingerprint, plain_repr
from dyntheory._config.hparams import HPARAMS


@dataclasses.dataclass(frozen=True)
class Zipped:
    """Hyperparameters that vary together along one axis (``zipped``)."""

    fields: tuple[tuple[str, tuple], ...]

    def __len__(self) -> int:
        return len(self.fields[0][1])

    def __iter__(self):
        return iter(zip(*(v for _, v in self.fields)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.fields)

    def values_of(self, name: str) -> tuple:
        return dict(self.fields)[name]

    def config(self) -> dict[str, Any]:
        return {"zipped": {n: list(v) for n, v in self.fields}}


def zipped(**fields) -> Zipped:
    """One axis along which several hyperparameters vary together.

    Example:
        >>> z = zipped(lr=[0.1, 0.2], weight_decay=[1e-4, 1e-3])
        >>> list(z), z.names
        ([(0.1, 0.0001), (0.2, 0.001)], ('lr', 'weight_decay'))
    """
    if len(fields) < 2:
        raise ValueError(f"zipped: give at least two hyperparameters, got {sorted(fields)}")
    lengths = {n: len(tuple(v)) for n, v in fields.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"zipped: every hyperparameter needs the same number of values (>= 1), got {lengths}")
    return Zipped(tuple((n, tuple(v)) for n, v in fields.items()))


@dataclasses.dataclass(frozen=True)
class Derived:
    """A hyperparameter set per member from its initial state (``derived``)."""

    target: str
    values: tuple
    measure: Callable
    rule: Callable

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def config(self) -> dict[str, Any]:
        return {"derived": self.target, "values": list(self.values),
                "measure": plain_repr(self.measure), "measure_fingerprint": fingerprint(self.measure),
                "rule_fingerprint": fingerprint(self.rule)}


def derived(target: str, values, *, measure: Callable, rule: Callable) -> Derived:
    """An axis of coordinates ``c`` setting hyperparameter ``target`` per member to
    ``rule(c, q)``, ``q = measure(params, batch)`` on the member's initial state (a scalar;
    ``batch`` the training evaluation batch at step 0). ``rule`` uses jax.numpy operations.

    Example:
        >>> import jax.numpy as jnp
        >>> d = derived("lr", [0.5, 1.0], measure=lambda p, b: jnp.sum(b.x ** 2), rule=lambda c, q: c / q)
        >>> d.target, list(d)
        ('lr', [0.5, 1.0])
    """
    if target not in HPARAMS or target == "init_scale":
        allowed = tuple(h for h in HPARAMS if h != "init_scale")
        raise ValueError(f"derived: target must be a hyperparameter set after init {allowed}, got {target!r}")
    values = tuple(values)
    if not values or not all(is_real(v) for v in values):
        raise ValueError(f"derived: values must be a non-empty sequence of numbers, got {values!r}")
    if not callable(measure) or not callable(rule):
        raise ValueError(f"derived: measure and rule must be functions, got {measure!r}, {rule!r}")
    return Derived(target, tuple(float(v) for v in values), measure, rule)


def check_zipped(where: str, name: str, z: Zipped, check_hparam, others: set[str]) -> Zipped:
    """A zipped axis's components: hyperparameters, not swept elsewhere, each value valid."""
    out = []
    for comp, vals in z.fields:
        if comp not in HPARAMS:
            raise ValueError(f"{where} zips {comp!r}, which is not a hyperparameter {HPARAMS}")
        if comp in others:
            raise ValueError(f"{where} zips {comp!r}, which is also swept elsewhere")
        out.append((comp, tuple(check_hparam(comp, v, f"{where}[{comp!r}][{i}]") for i, v in enumerate(vals))))
    if name in HPARAMS:
        raise ValueError(f"{where}: a zipped axis needs a name of its own, not the hyperparameter {name!r}")
    return Zipped(tuple(out))


def check_derived(where: str, name: str, d: Derived, others: set[str]) -> Derived:
    if d.target in others:
        raise ValueError(f"{where} derives {d.target!r}, which is also swept elsewhere")
    if name in HPARAMS:
        raise ValueError(f"{where}: a derived axis needs a name of its own (its coordinate is c, not "
                         f"{d.target}), not the hyperparameter {name!r}")
    return d
