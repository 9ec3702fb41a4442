"""The shape every sim shares: a frozen config with named sizes, stamped into the run's Dataset.

A sim module (``sims/<stem>.py``) is found by ``dyntheory run <stem>`` through its ``run`` and
``check``, and reads the same way everywhere::

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Config(dt.SimConfig):          # the sizes of one run
        width: int
        steps: int

    SIZES = {"small": Config(width=64, steps=500), "paper": Config(width=512, steps=5000)}
    KNOWN = ()                           # documented disagreements, dt.Known(...)

    def run(size="small", *, key=0, store=None) -> xr.Dataset:
        cfg = dt.pick_size(SIZES, size)
        ds = dt.train(sweep(cfg), key=key, store=store).metrics   # + theory, side by side
        return cfg.stamp(ds, sim="stem", size=size, key=key, citation=theory.CITATION)

    def check(ds) -> list[dt.Verdict]:
        cfg = Config.from_attrs(ds)
        out = [dt.equivalence(...), dt.slope_verdict(...)]
        return dt.mark_known(out, KNOWN, size=ds.attrs["size"])

The sim calls :func:`dyntheory.train` itself; nothing here trains. :func:`dyntheory.aggregate`
then gives the one-line outcome that ``dyntheory run`` and the figure scripts print last.

Example:
    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class Toy(SimConfig):
    ...     widths: tuple[int, ...]
    ...     steps: int
    >>> cfg = pick_size({"small": Toy(widths=(8, 16), steps=10)}, "small")
    >>> Toy.from_json(cfg.to_json()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import xarray as xr

__all__ = ["SimConfig", "pick_size"]

C = TypeVar("C", bound="SimConfig")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Base of a sim's ``Config``: the sizes of one run, round-tripped through a Dataset's attrs.

    Subclass it as a frozen keyword-only dataclass whose fields are numbers, strings, tuples of
    them, or nested frozen dataclasses (and tuples of those); validate in ``__post_init__``.
    JSON turns tuples into lists and dataclasses into dicts; :meth:`from_json` turns them back,
    following the field annotations.

    Example:
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Toy(SimConfig):
        ...     lrs: tuple[float, ...]
        >>> ds = Toy(lrs=(0.1, 0.2)).stamp(xr.Dataset(), sim="toy", size="small", key=0, citation="")
        >>> Toy.from_attrs(ds).lrs, ds.attrs["sim"]
        ((0.1, 0.2), 'toy')
    """

    def to_json(self) -> str:
        """The config as a JSON object (what :meth:`stamp` stores as ``sim_config``)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        """Rebuild a config from :meth:`to_json`'s text (lists back to tuples, dicts to dataclasses)."""
        return _build(cls, json.loads(text))

    @classmethod
    def from_attrs(cls: type[C], ds: xr.Dataset) -> C:
        """The config a Dataset was stamped with (:meth:`stamp`)."""
        if "sim_config" not in ds.attrs:
            raise ValueError(f"{cls.__name__}.from_attrs: the Dataset has no 'sim_config' attr; "
                             f"pass the Dataset returned by the sim's run()")
        return cls.from_json(ds.attrs["sim_config"])

    def stamp(self, ds: xr.Dataset, *, sim: str, size: str | SimConfig, key: Any, citation: str,
              **attrs: Any) -> xr.Dataset:
        """Record in ``ds.attrs`` which sim, size, key and config made it, and its reference.

        Args:
            ds: the run's Dataset (its attrs are updated in place).
            sim: the sim's stem, e.g. ``"saxe_deep_linear"``.
            size: the size name passed to ``run`` (a config passed directly is ``"custom"``).
            key: the run's key (an int; anything else is stored as its ``str``).
            citation: the theory module's reference.
            **attrs: further attrs (e.g. ``theory="theory.saxe_deep_linear"``).

        Returns:
            ``ds``, for ``return cfg.stamp(ds, ...)``.
        """
        ds.attrs.update(sim=sim, size=size if isinstance(size, str) else "custom",
                        key=key if isinstance(key, int) else str(key), sim_config=self.to_json(),
                        citation=citation, **attrs)
        return ds


def pick_size(sizes: Mapping[str, C], size: str | C) -> C:
    """``sizes[size]``, or ``size`` itself when it already is a config.

    Raises:
        ValueError: ``size`` names no size; the message lists them.

    Example:
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Toy(SimConfig):
        ...     steps: int
        >>> pick_size({"small": Toy(steps=10)}, "small").steps
        10
    """
    if isinstance(size, SimConfig):
        return size
    if not isinstance(size, str) or size not in sizes:
        raise ValueError(f"size must be one of {sorted(sizes)} or a config, got {size!r}")
    return sizes[size]


def _build(cls: type[C], data: Mapping[str, Any]) -> C:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {unknown} in the stored config")
    return cls(**{k: _restore(hints.get(k), v) for k, v in data.items()})


def _restore(hint: Any, value: Any) -> Any:
    """Undo JSON on ``value`` following the annotation ``hint`` (lists -> tuples, dicts -> dataclasses)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = arms[0] if len(arms) == 1 else None
    if isinstance(value, dict) and isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if isinstance(value, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(args) == len(value) and len(args) > 1:  # tuple[float, float]
            return tuple(_restore(a, v) for a, v in zip(args, value))
        return tuple(_restore(args[0] if args else None, v) for v in value)
    return value
