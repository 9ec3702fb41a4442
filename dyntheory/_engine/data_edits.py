"""The rows and labels a data edit (``dt.interventions.RemoveExamples``, ``RelabelExamples``)
names in each data stream's training set, checked against the task before training.

``chosen_rows`` turns an edit's ``examples`` (row indices, or a function of the stream's
training set and task state) into a (streams, n_train) boolean mask, and a relabelling's
``labels`` into (streams, n_train, ...) arrays shaped like the training targets. Anything out of
range (a row past the set, a class past ``d_out``, labels of the wrong shape) is refused naming
the intervention, before the wave trains.
"""

from __future__ import annotations

import jax
import numpy as np

from dyntheory._config import data_edit_actions as iv
from dyntheory.tasks import Batch


def chosen_rows(where: str, action, task, train: Batch, state) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows (g, n) bool, labels (g, n, ...) or None) for ``action`` over the streams' training
    sets ``train`` (leaves (g, n, ...)) and task states ``state`` (leaves (g, ...))."""
    y = np.asarray(train.y)
    g, n = y.shape[:2]
    name = type(action).__name__
    rows = np.zeros((g, n), bool)
    for k in range(g):
        rows[k] = _mask(f"{where} ({name}.examples)", action.examples, n, _stream(train, k), _stream(state, k))
    if isinstance(action, iv.RemoveExamples):
        return rows, None
    labels = np.zeros_like(y)
    for k in range(g):
        labels[k] = _labels(f"{where} ({name}.labels)", action, task, y[k], rows[k], _stream(train, k),
                            _stream(state, k))
    return rows, labels


def _stream(tree, k: int):
    return jax.tree.map(lambda a: np.asarray(a)[k], tree)


def _mask(where: str, examples, n: int, train, state) -> np.ndarray:
    if callable(examples):
        got = np.asarray(examples(train, state))
        if got.shape != (n,) or got.dtype != bool:
            raise ValueError(f"{where} must return a boolean mask of shape ({n},) (one per training row), got "
                             f"{got.dtype} of shape {got.shape}")
        return got
    rows = np.asarray(examples)
    if rows.max() >= n:
        raise ValueError(f"{where} names row {int(rows.max())}, but the training set has {n} rows")
    out = np.zeros(n, bool)
    out[rows] = True
    return out


def _labels(where: str, action, task, y: np.ndarray, rows: np.ndarray, train, state) -> np.ndarray:
    """New labels for every row of one stream (only ``rows`` are used), shaped and typed like ``y``."""
    out = y.copy()
    row_shape = y.shape[1:]
    if callable(action.labels):
        got = np.asarray(action.labels(train, state))
        if got.shape != y.shape:
            raise ValueError(f"{where} must return labels for every training row, shape {y.shape}, got {got.shape}")
        at, new = rows, got[rows]
    else:
        given = np.asarray(action.labels, dtype=float)
        listed = not callable(action.examples)
        at = list(action.examples) if listed else rows
        k = len(at) if listed else int(rows.sum())
        if given.shape in ((), row_shape):  # one label (or target row) for every chosen row
            new = np.broadcast_to(given, (k,) + row_shape)
        elif listed and given.shape == (k,) + row_shape:
            new = given
        elif listed and given.shape == (k,) and row_shape == (1,):
            new = given.reshape(k, 1)
        else:
            per = f" or one per listed row, {(k,) + row_shape}" if listed else ""
            raise ValueError(f"{where}: labels of shape {given.shape} fit neither one target {row_shape} for every "
                             f"chosen row{per}")
    if task.kind == "classification":
        d_out = task.spec().d_out
        bad = (new != np.round(new)) | (new < 0) | (new >= d_out)
        if np.any(bad):
            raise ValueError(f"{where}: class labels must be integers in [0, {d_out}), got {new[bad].flat[0]!r}")
    if not np.all(np.isfinite(new)):
        raise ValueError(f"{where}: labels must be finite")
    out[at] = new.astype(y.dtype)
    return out
