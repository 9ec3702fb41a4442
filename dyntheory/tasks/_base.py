"""The task protocol (``Task``), its checks, and the minibatch order shared by all finite tasks."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dyntheory._config.fingerprint import fingerprint, plain_repr

# What a task's targets are, which loss it trains on by default (``dyntheory.losses.DEFAULT``) and
# what the engine records for it besides the losses and norms.
KINDS = ("regression", "classification", "multilabel")
KIND_METRICS = {
    "regression": (),
    "classification": ("train_acc", "test_acc"),
    "multilabel": ("train_acc", "test_acc", "train_exact_match", "test_exact_match"),
}


class Spec(NamedTuple):
    """Shapes a model must match: real inputs of width ``d_in`` or tokens from ``vocab``."""

    d_in: int
    d_out: int
    vocab: int | None = None  # set for token inputs (x is int, shape (batch, d_in))


class Batch(NamedTuple):
    x: jax.Array
    y: jax.Array


class Task:
    """What a task provides. Subclass it as a frozen keyword-only dataclass.

    A task is the data half of a sweep: everything about it that changes results is a dataclass
    field, and every random draw comes from the member's stream keys, so a task is a pure function
    of its fields and keys. ``dt.Sweep`` checks each piece when it is built and names any that is
    missing. A task provides:

    - ``kind`` (class attribute): what the targets are, one of ``KINDS``:

      - ``"regression"``: real targets ``y`` of shape ``(batch, d_out)``; default loss
        ``dt.losses.squared_error``;
      - ``"classification"``: integer classes ``y`` of shape ``(batch,)`` in ``[0, d_out)``;
        default loss ``dt.losses.softmax_cross_entropy``; also records ``train_acc`` and
        ``test_acc``;
      - ``"multilabel"``: ``d_out`` labels in ``{0, 1}`` per example, ``y`` of shape
        ``(batch, d_out)``, predicted positive where the model's score is above 0; default loss
        ``dt.losses.binary_logistic``; also records the mean per-label accuracy (``train_acc``,
        ``test_acc``) and the fraction of examples with every label right
        (``train_exact_match``, ``test_exact_match``).

    - ``spec() -> Spec``: the shapes a model must match (``d_in``, ``d_out``, ``vocab`` for token
      inputs).
    - ``traced_fields`` (class attribute, default ``()``): fields that only change values (a noise
      level, an exponent). Swept in ``Sweep.axes`` they vary per member without recompiling, and
      reach ``setup`` and ``batch`` as the dict ``tp`` of arrays (``tp["noise"]``). Every other
      field swept becomes a compiled group of its own.
    - ``setup(task_key, noise_key, tp) -> state``: a pytree of what is fixed for the data stream
      (a teacher, a finite training set, the test set), drawn from the task stream ``task_key``
      (and ``noise_key`` for label noise). Members of one data stream share it; a different
      ``seed`` or ``task_seed`` draws another, so a finite dataset drawn here is a fresh draw per
      seed (``SampledData`` does this for a user's sampling function).
    - ``batch(state, tp, data_key, noise_key, step, batch_size) -> Batch``: the training batch of
      ``step`` (traced), exactly ``batch_size`` rows (``None``: the whole training set). A
      streaming task samples it from ``fold_in(data_key, step)``; a finite one returns
      ``finite_minibatch(state["train"], data_key, step, batch_size)``.
    - ``finite`` (attribute or property): ``True`` for a fixed training set (then give
      ``n_train``, its size), ``False`` for fresh samples every step (``batch_size`` required).
      The default here is ``n_train is not None``.
    - ``eval_sets(state, tp) -> {"train": Batch | None, "test": Batch}``: what the recorded
      ``train_*`` and ``test_*`` metrics are measured on; ``"train": None`` measures on the
      current batch (streaming tasks).
    - ``config() -> dict``: what identifies the task in a store, JSON-able. The default here is
      the class name and every field; a function-valued field is recorded by name and
      fingerprint, and a task defined outside dyntheory is fingerprinted by its code too, so
      editing its ``batch`` makes another sweep, never a stale reload.
    - ``check()`` (optional): raise ``ValueError`` naming the field and value of an invalid task;
      called at construction.

    Example:
        >>> import dataclasses, jax, jax.numpy as jnp
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Line(Task):
        ...     kind = "regression"
        ...     d_in: int = 3
        ...     def spec(self): return Spec(self.d_in, 1)
        ...     def setup(self, task_key, noise_key, tp):
        ...         return {"w": jax.random.normal(task_key, (self.d_in, 1))}
        ...     def sample(self, state, key, n):
        ...         x = jax.random.normal(key, (n, self.d_in))
        ...         return Batch(x, x @ state["w"])
        ...     def batch(self, state, tp, data_key, noise_key, step, batch_size):
        ...         return self.sample(state, jax.random.fold_in(data_key, step), batch_size)
        ...     def eval_sets(self, state, tp):
        ...         return {"train": None, "test": self.sample(state, jax.random.key(1), 64)}
        >>> Line().finite
        False
    """

    kind: ClassVar[str]
    traced_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        self.check()

    @property
    def finite(self) -> bool:
        """A fixed training set (``n_train`` given) rather than fresh samples every step."""
        return getattr(self, "n_train", None) is not None

    def check(self) -> None:
        """Raise ValueError naming the field and value if the task is invalid."""

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = {"function": plain_repr(v), "fingerprint": fingerprint(v)} if callable(v) else v
        if not type(self).__module__.startswith("dyntheory."):
            # A user's task: its code is part of what it is (built-in tasks are versioned with
            # dyntheory, recorded with every run).
            out["code"] = fingerprint(type(self))
        return out


# ---- the protocol, checked when a sweep is built --------------------------------------------------

_METHODS = {
    "spec": "spec() -> Spec, the shapes a model must match",
    "setup": "setup(task_key, noise_key, tp) -> state, what is fixed for a data stream",
    "batch": "batch(state, tp, data_key, noise_key, step, batch_size) -> Batch, the training batch of a step",
    "eval_sets": 'eval_sets(state, tp) -> {"train": Batch | None, "test": Batch}, what metrics are measured on',
    "config": "config() -> dict, what identifies the task in a store",
}
_ATTRIBUTES = {
    "kind": f"kind, a class attribute, one of {KINDS}",
    "traced_fields": "traced_fields, a class attribute: the fields swept without recompiling, () if none",
    "finite": "finite, True for a fixed training set (with n_train), False for fresh samples every step",
}


def check_task(task, where: str = "Sweep.task") -> None:
    """Raise ValueError naming every piece of the ``Task`` protocol that ``task`` lacks.

    Example:
        >>> check_task(object())
        Traceback (most recent call last):
        ...
        ValueError: Sweep.task must be a task from dyntheory.tasks or your own dt.tasks.Task (a frozen keyword-only dataclass providing its protocol), got <object object>
    """
    name = type(task).__name__
    if not dataclasses.is_dataclass(task) or isinstance(task, type):
        raise ValueError(f"{where} must be a task from dyntheory.tasks or your own dt.tasks.Task (a frozen "
                         f"keyword-only dataclass providing its protocol), got {plain_repr(task)}")
    try:
        hash(task)
    except TypeError:
        raise ValueError(f"{where} ({name}) must be hashable: declare it "
                         "@dataclasses.dataclass(frozen=True, kw_only=True)") from None
    missing = [why for attr, why in _ATTRIBUTES.items() if not hasattr(task, attr)]
    missing += [why for m, why in _METHODS.items() if not callable(getattr(task, m, None))]
    if missing:
        raise ValueError(f"{where} ({name}) does not provide the dt.tasks.Task protocol; it lacks:\n  - "
                         + "\n  - ".join(missing) + "\n(subclass dt.tasks.Task: it documents each piece)")
    if task.kind not in KINDS:
        raise ValueError(f"{name}.kind must be one of {KINDS}, got {task.kind!r}")
    fields = {f.name for f in dataclasses.fields(task)}
    traced = task.traced_fields
    if isinstance(traced, str) or not isinstance(traced, (tuple, list)) or not set(traced) <= fields:
        raise ValueError(f"{name}.traced_fields must be a tuple of {name}'s field names, got {traced!r}")
    if not isinstance(task.finite, bool):
        raise ValueError(f"{name}.finite must be True or False, got {task.finite!r}")
    spec = task.spec()
    if not isinstance(spec, Spec):
        raise ValueError(f"{name}.spec() must return a dt.tasks.Spec(d_in, d_out, vocab=None), got {spec!r}")
    config = task.config()
    try:
        json.dumps(config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}.config() must return a JSON-able dict, got {config!r} ({e})") from None


def as_batch(task, batch, batch_size: int | None) -> Batch:
    """``batch`` as a ``Batch``, or ValueError if ``task.batch`` returned another number of rows
    than ``batch_size`` (the engine would train on them all, silently)."""
    name = type(task).__name__
    if not (isinstance(batch, tuple) and len(batch) == 2):
        raise ValueError(f"{name}.batch must return a dt.tasks.Batch(x, y), got {type(batch).__name__}")
    batch = Batch(*batch)
    rows = (_shape(batch.x)[:1], _shape(batch.y)[:1])
    if rows[0] != rows[1]:
        raise ValueError(f"{name}.batch returned x with {rows[0][0]} rows but y with {rows[1][0]}")
    if batch_size is not None and rows[0] != (batch_size,):
        raise ValueError(f"{name}.batch returned {rows[0][0] if rows[0] else 'no'} rows, but "
                         f"Sweep.batch_size={batch_size}: a batch has exactly batch_size rows (give "
                         "extra draws, such as gradient noise, their own stream or state instead)")
    return batch


def as_sets(task, sets) -> dict:
    """``task.eval_sets``'s answer, or ValueError saying what it must be."""
    ok = isinstance(sets, dict) and set(sets) >= {"train", "test"} and sets["test"] is not None
    if not ok:
        raise ValueError(f'{type(task).__name__}.eval_sets must return {{"train": Batch | None, "test": Batch}}, '
                         f"got {sets!r:.200}")
    return sets


def _shape(a) -> tuple:
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


@functools.lru_cache(maxsize=256)
def check_batches(task, batch_size: int | None) -> None:
    """Trace ``task``'s setup, batch and evaluation sets abstractly (no compute): ValueError if a
    batch has another number of rows than ``batch_size`` or the sets are malformed."""
    tp = {f: jax.ShapeDtypeStruct((), jnp.float32) for f in type(task).traced_fields}

    def draw(tp):
        key = jax.random.key(0)
        state = task.setup(key, key, tp)
        return task.batch(state, tp, key, key, jnp.int32(0), batch_size), task.eval_sets(state, tp)

    batch, sets = jax.eval_shape(draw, tp)
    as_batch(task, batch, batch_size)  # checked out here, so the error carries no JAX trace note
    as_sets(task, sets)


def finite_minibatch(data: Batch, data_key: jax.Array, step, batch_size: int | None) -> Batch:
    """The batch at ``step`` of replayable epochs over a finite set.

    Full batch when ``batch_size`` is None. Otherwise epoch ``e = step // steps_per_epoch`` visits
    the examples in the order ``permutation(fold_in(data_key, e))``, dropping the remainder, so the
    order of any step can be replayed without replaying the run.
    """
    idx = finite_indices(data.x.shape[0], data_key, step, batch_size)
    if idx is None:
        return data
    return Batch(jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0))


def finite_indices(n: int, data_key: jax.Array, step, batch_size: int | None) -> jax.Array | None:
    """The rows of a finite set of ``n`` examples that ``finite_minibatch`` takes at ``step``;
    None for the whole set (full batch). The engine uses them to apply per-member edits of the
    training set (``dt.interventions.RemoveExamples``, ``RelabelExamples``)."""
    if batch_size is None or batch_size >= n:
        return None
    per_epoch = n // batch_size
    epoch, pos = jnp.divmod(step, per_epoch)
    perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n)
    return jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))


def orthonormal_columns(z: jax.Array) -> jax.Array:
    """Gram-Schmidt of the columns of ``z`` (n, m), n >= m, twice per column (CGS2).

    For Gaussian ``z`` this is the Haar-distributed frame of a QR with positive diagonal. Plain
    XLA (a scan over columns) rather than ``jnp.linalg.qr``: LAPACK calls inside a vmapped setup
    were seen to deadlock intermittently on CPU (jaxlib's LAPACK runs on scipy's threaded
    OpenBLAS), and this costs only ``O(n m^2)``.

    Example:
        >>> q = orthonormal_columns(jax.random.normal(jax.random.key(0), (6, 3)))
        >>> bool(jnp.allclose(q.T @ q, jnp.eye(3), atol=1e-5))
        True
    """
    n, m = z.shape

    def step(q, j):
        v = z[:, j]
        for _ in range(2):  # a second pass restores orthogonality lost to rounding
            v = v - q @ (q.T @ v)
        return q.at[:, j].set(v / jnp.linalg.norm(v)), None

    q, _ = jax.lax.scan(step, jnp.zeros_like(z), jnp.arange(m))
    return q
