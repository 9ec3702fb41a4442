"""A finite dataset drawn from each data stream's task key by a user's sampling function."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import integer, positive_int
from dyntheory._config.fingerprint import plain_repr
from dyntheory.tasks._base import KINDS, Batch, Spec, Task, finite_minibatch


@dataclasses.dataclass(frozen=True, kw_only=True)
class SampledData(Task):
    """Train on ``n_train`` examples drawn by ``sample(key, n) -> (x, y)`` from the task stream.

    Unlike ``FixedData``, whose arrays are the same for every member, the dataset here is a
    function of the member's task key: each ``seed`` (and each ``task_seed``, if swept) trains on
    its own draw, and members of one data stream share it. The training and test sets are
    independent draws, ``sample(k_train, n_train)`` and ``sample(k_test, n_test)`` with
    ``k_train, k_test = split(task_key)``; minibatches visit the training set in replayable epochs
    (``finite_minibatch``). ``sample`` is traced (pure JAX) and fingerprinted into the sweep's
    config, so changing its body is another sweep.

    Args:
        sample: ``sample(key, n)`` returning ``x`` of shape ``(n, d_in)`` and ``y`` of shape
            ``(n, d_out)`` (``task_kind="regression"`` or ``"multilabel"``, labels in {0, 1}) or
            ``(n,)`` integer classes (``"classification"``).
        n_train, n_test: sizes of the training and test sets.
        task_kind: the task's ``kind`` (see ``dt.tasks.Task``).
        n_classes: the number of classes, for ``task_kind="classification"`` only.

    Example:
        >>> import jax
        >>> def sample(key, n):
        ...     x = jax.random.normal(key, (n, 2))
        ...     return x, x[:, :1] ** 2
        >>> SampledData(sample=sample, n_train=32).spec()
        Spec(d_in=2, d_out=1, vocab=None)
    """

    sample: Callable
    n_train: int
    n_test: int = 1024
    task_kind: str = "regression"
    n_classes: int | None = None

    finite: ClassVar[bool] = True

    def check(self) -> None:
        if not callable(self.sample):
            raise ValueError(f"SampledData.sample must be a function (key, n) -> (x, y), got {self.sample!r}")
        positive_int(self, "n_train")
        positive_int(self, "n_test")
        if self.task_kind not in KINDS:
            raise ValueError(f"SampledData.task_kind must be one of {KINDS}, got {self.task_kind!r}")
        if self.task_kind == "classification":
            object.__setattr__(self, "n_classes", integer("SampledData.n_classes", self.n_classes, minimum=2))
        elif self.n_classes is not None:
            raise ValueError(f"SampledData.n_classes is only for task_kind='classification', got "
                             f"n_classes={self.n_classes!r} with task_kind={self.task_kind!r}")
        self.spec()  # traces sample once, naming what is wrong with its shapes

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.task_kind

    def spec(self) -> Spec:
        return _spec(self.sample, self.task_kind, self.n_classes)

    def _draw(self, key, n) -> Batch:
        x, y = self.sample(key, n)
        return Batch(jnp.asarray(x), jnp.asarray(y))

    def setup(self, task_key, noise_key, tp):
        k_train, k_test = jax.random.split(task_key)
        return {"train": self._draw(k_train, self.n_train), "test": self._draw(k_test, self.n_test)}

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        return finite_minibatch(state["train"], data_key, step, batch_size)

    def eval_sets(self, state, tp):
        return {"train": state["train"], "test": state["test"]}


@functools.lru_cache(maxsize=64)
def _spec(sample: Callable, kind: str, n_classes: int | None) -> Spec:
    """The shapes of ``sample``'s draws (traced abstractly, n = 3), or ValueError naming them."""
    where = f"SampledData.sample ({plain_repr(sample)})"
    try:
        out = jax.eval_shape(lambda: sample(jax.random.key(0), 3))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must be sample(key, n) -> (x, y); calling it failed: {e}") from None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise ValueError(f"{where} must return a pair (x, y), got {out!r:.120}")
    x, y = out
    want_y = "(n,) integer classes" if kind == "classification" else "(n, d_out)"
    y_ok = (len(y.shape) == 1 and jnp.issubdtype(y.dtype, jnp.integer) if kind == "classification"
            else len(y.shape) == 2)
    if len(x.shape) != 2 or x.shape[0] != 3 or y.shape[:1] != (3,) or not y_ok:
        raise ValueError(f"{where} must return x of shape (n, d_in) and y of shape {want_y} for "
                         f"task_kind={kind!r}; for n=3 it returned x {x.shape} and y {y.shape} {y.dtype}")
    return Spec(d_in=x.shape[1], d_out=n_classes if kind == "classification" else y.shape[1])
