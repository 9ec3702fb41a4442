"""Interventions that edit a finite task's training set for the members they act on:
``RemoveExamples`` and ``RelabelExamples`` (actions like those of
``dyntheory._config.interventions``, placed with ``.at`` or ``.when``). The engine applies them
in ``dyntheory._engine.data_edits`` (which rows, checked) and ``Member.edited_loss``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dyntheory._config.checks import is_integer
from dyntheory._config.interventions import Action, function_config


def _examples(where: str, v):
    """Chosen training examples: a tuple of distinct row indices, or a function."""
    if callable(v):
        return v
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise ValueError(f"{where} must be row indices of the training set or a function "
                         f"(train, task_state) -> boolean mask, got {v!r}")
    rows = tuple(v.tolist() if hasattr(v, "tolist") else v)
    if not rows or any(isinstance(r, bool) or not is_integer(r) or r < 0 for r in rows):
        raise ValueError(f"{where} must be a non-empty list of row indices >= 0, got {v!r}")
    if len(set(rows)) != len(rows):
        raise ValueError(f"{where} names a row more than once: {sorted(rows)}")
    return tuple(int(r) for r in rows)


class DataEdit(Action):
    """An edit of a finite task's training set, from the step it fires on, for that member only.

    ``examples`` chooses rows of the training set (``task.eval_sets(state, tp)["train"]``, the
    set ``dt.tasks.finite_minibatch`` draws batches from): a list of row indices, or a function
    ``fn(train, task_state) -> boolean mask of shape (n_train,)`` called with each data stream's
    training set and task state as numpy arrays (to choose, say, the examples whose labels the
    task flipped). The member's batches keep their rows; the edit changes what it trains on.
    Recorded metrics still measure the task's own sets.
    """

    def config(self) -> dict[str, Any]:
        return {"action": type(self).__name__,
                **{f.name: function_config(getattr(self, f.name)) for f in dataclasses.fields(self)}}


@dataclasses.dataclass(frozen=True)
class RemoveExamples(DataEdit):
    """From now on the member trains without the chosen examples: a batch's loss is the mean over
    its remaining rows (a batch with none left makes no update)."""

    examples: Any

    def __post_init__(self):
        object.__setattr__(self, "examples", _examples("RemoveExamples.examples", self.examples))


@dataclasses.dataclass(frozen=True)
class RelabelExamples(DataEdit):
    """From now on the member trains on ``labels`` for the chosen examples: one label for all of
    them, a sequence with one label (a class, or a target row) per chosen index, or a function
    ``fn(train, task_state) -> labels for every row`` (only the chosen rows are used)."""

    examples: Any
    labels: Any

    def __post_init__(self):
        object.__setattr__(self, "examples", _examples("RelabelExamples.examples", self.examples))
        labels = self.labels
        if not callable(labels):
            try:
                arr = None if isinstance(labels, str) else np.asarray(labels, dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or not np.all(np.isfinite(arr)):
                raise ValueError(f"RelabelExamples.labels must be finite numbers or a function, got {labels!r}")
            labels = _frozen(arr)
        object.__setattr__(self, "labels", labels)


def _frozen(a: np.ndarray):
    return a.item() if a.ndim == 0 else tuple(_frozen(r) for r in a)


def data_edits(items: tuple) -> bool:
    """Whether the sweep's interventions edit training sets (``RemoveExamples``,
    ``RelabelExamples``): then every member carries its own edits (static, so a sweep without
    them compiles exactly as before)."""
    return any(isinstance(it.action, DataEdit) for it in items)
