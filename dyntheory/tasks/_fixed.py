"""A user-given dataset held in the sweep itself (small: it is part of the sweep's identity)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np

from dyntheory._config.checks import integer
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch

KINDS = ("regression", "classification")


def _frozen(a: np.ndarray) -> tuple:
    return tuple(map(tuple, a.tolist()))


def _array(name: str, value) -> np.ndarray:
    """A non-empty finite float array with one row per example, or ValueError naming ``name``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"FixedData.{name} must be a rectangular array of numbers, got {value!r}") from None
    if arr.ndim == 0 or arr.shape[0] == 0 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"FixedData.{name} must be a non-empty finite array with one row per example, "
                         f"got shape {arr.shape}")
    return arr


@dataclasses.dataclass(frozen=True, kw_only=True)
class FixedData(Task):
    """Train on given arrays: ``x`` (n, d_in) and ``y`` (n, d_out) (regression) or (n,) labels.

    The test set defaults to the training set. Arrays are stored as tuples so the sweep stays
    hashable; use it for small hand-built problems such as the catapult uv model's single point.

    Example:
        >>> task = FixedData(x=[[1.0]], y=[[0.0]])
    """

    x: Any
    y: Any
    x_test: Any = None
    y_test: Any = None
    task_kind: str = "regression"
    n_classes: int | None = None

    def __post_init__(self):
        if self.task_kind not in KINDS:
            raise ValueError(f"FixedData.task_kind must be one of {KINDS}, got {self.task_kind!r}")
        if self.task_kind == "classification":
            object.__setattr__(self, "n_classes", integer("FixedData.n_classes", self.n_classes, minimum=2))
        elif self.n_classes is not None:
            raise ValueError(f"FixedData.n_classes is only for task_kind='classification', got "
                             f"n_classes={self.n_classes!r} with task_kind={self.task_kind!r}")
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("FixedData.x_test and y_test must be given together")
        x = _array("x", self.x)
        x = x.reshape(len(x), -1)
        object.__setattr__(self, "x", _frozen(x))
        object.__setattr__(self, "y", self._targets("y", self.y, len(x), None))
        if self.x_test is not None:
            x_test = _array("x_test", self.x_test)
            x_test = x_test.reshape(len(x_test), -1)
            if x_test.shape[1] != x.shape[1]:
                raise ValueError(f"FixedData.x_test must have rows of width d_in={x.shape[1]} like x, "
                                 f"got shape {np.shape(self.x_test)}")
            object.__setattr__(self, "x_test", _frozen(x_test))
            object.__setattr__(self, "y_test", self._targets("y_test", self.y_test, len(x_test), self.y))

    def _targets(self, name: str, value, n: int, like) -> tuple:
        """Regression targets as (n, d_out) rows, or class labels as n integers in [0, n_classes)."""
        arr = _array(name, value)
        rows = "len(x)" if name == "y" else "len(x_test)"
        if len(arr) != n:
            raise ValueError(f"FixedData.{name} must have {rows}={n} rows, got {len(arr)}")
        if self.task_kind == "classification":
            if arr.ndim > 2 or arr.ndim == 2 and arr.shape[1] != 1:
                raise ValueError(f"FixedData.{name} must hold one class label per example, shape ({n},), "
                                 f"got shape {arr.shape}")
            arr = arr.reshape(-1)
            bad = (arr != np.round(arr)) | (arr < 0) | (arr >= self.n_classes)
            if bad.any():
                raise ValueError(f"FixedData.{name} labels must be integers in [0, n_classes={self.n_classes}), "
                                 f"got {arr[bad][0]:g} at row {int(np.flatnonzero(bad)[0])}")
            return tuple(int(v) for v in arr)
        if arr.ndim > 2:
            raise ValueError(f"FixedData.{name} must have shape ({n},) or ({n}, d_out), got shape {arr.shape}")
        arr = arr.reshape(n, -1)
        if like is not None and arr.shape[1] != len(like[0]):
            raise ValueError(f"FixedData.{name} must have rows of width d_out={len(like[0])} like y, "
                             f"got shape {np.shape(value)}")
        return _frozen(arr)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.task_kind

    finite: ClassVar[bool] = True

    @property
    def n_train(self) -> int:
        return len(self.x)

    def spec(self) -> Spec:
        d_out = self.n_classes if self.task_kind == "classification" else len(self.y[0])
        return Spec(d_in=len(self.x[0]), d_out=int(d_out))

    def _arrays(self, x, y) -> Batch:
        if self.task_kind == "classification":
            return Batch(jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32).reshape(-1))
        return Batch(jnp.asarray(x), jnp.asarray(y))

    def setup(self, task_key, noise_key, tp):
        train = self._arrays(self.x, self.y)
        test = train if self.x_test is None else self._arrays(self.x_test, self.y_test)
        return {"train": train, "test": test}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        return finite_minibatch(state["train"], data_key, step, batch_size)

    def eval_sets(self, state, tp):
        return {"train": state["train"], "test": state["test"]}
