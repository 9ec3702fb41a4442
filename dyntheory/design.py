"""Design: claims about training procedures, stated as values and checked with statistics.

A rule states what a procedure should do over a sweep (the best learning rate does not move with
width; ``|delta h|`` does not grow with width; warmup-stable-decay beats cosine) and
:func:`check_rule` judges it on a run with a bootstrap interval over seeds: ``PASS``, ``FAIL``, or
``INCONCLUSIVE`` with roughly how many seeds would settle it. :func:`measure` trains a rule's own
sweep. See ``docs/design.md``.

Example:
    >>> import numpy as np, xarray as xr
    >>> from dyntheory import design
    >>> ds = xr.Dataset({"loss": (("schedule", "seed"), [[1.0, 1.1, 1.2], [0.9, 1.0, 1.0]])},
    ...                 coords={"schedule": ["cosine", "wsd"]})
    >>> rule = design.Ordering(name="wsd", metric="loss", axis="schedule", better="wsd",
    ...                        worse="cosine", n_boot=200)
    >>> design.check_rule(rule, ds).status
    'PASS'
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from dyntheory._analysis.rule_kinds import Exponent as Exponent
from dyntheory._analysis.rule_kinds import Invariance as Invariance
from dyntheory._analysis.rule_kinds import Monotone as Monotone
from dyntheory._analysis.rule_kinds import Ordering as Ordering
from dyntheory._analysis.rules import Rule as Rule
from dyntheory._analysis.rules import check_rule as check_rule
from dyntheory._analysis.rules import seeds_to_settle as seeds_to_settle
from dyntheory._engine.train import train as _train

__all__ = ["Exponent", "Invariance", "Monotone", "Ordering", "Rule", "check_rule", "measure",
           "seeds_to_settle"]


def measure(rule: Rule, *, key: Any = 0, store: str | None = None) -> xr.Dataset:
    """Train ``rule.sweep()`` and return its metrics, ready for :func:`check_rule`.

    Raises:
        ValueError: the rule has no sweep of its own.

    Example:
        >>> import dyntheory as dt
        >>> rule = Monotone(name="lr_helps", metric="train_loss", along="lr", direction="decreasing",
        ...                 sweep=lambda: dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4),
        ...                     model=dt.models.Linear(), steps=20, batch_size=8,
        ...                     axes={"lr": [0.01, 0.03, 0.1]}, seeds=4))
        >>> check_rule(rule, measure(rule)).status
        'PASS'
    """
    if rule.sweep is None:
        raise ValueError(f"measure: rule {rule.name!r} has no sweep of its own; pass a run to check_rule")
    return _train(rule.sweep(), key=key, store=store).metrics
