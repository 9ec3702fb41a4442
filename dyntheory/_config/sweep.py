"""The sweep: a frozen, validated, hashable description of a whole population.

Every invalid value fails here, at construction, with an error that names the field and the value,
before any compute.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dyntheory._config.axes import Derived, Zipped, check_derived, check_zipped
from dyntheory._config.checks import integer, is_integer
from dyntheory._config.fingerprint import fingerprint, plain_repr
from dyntheory._config.hparams import HPARAMS
from dyntheory._config.interventions import At, check_interventions
from dyntheory._config.metric import BUILTIN_METRICS, Metric, as_metric, describe, metric_fingerprint
from dyntheory._config.random import STREAM_SEED_AXES
from dyntheory._config.schedule import every, log_checkpoints, pythia_schedule
from dyntheory._config.size import SEED_LIMIT, check_population
from dyntheory._config.sweep_values import (_INERT, _MODEL_METHODS, _USED_BY, _as_dict, _check_hparam, _check_steps,
                                           _describe, _jsonable, _refuse_repeats, _swept_hparams)
from dyntheory.tasks._base import KIND_METRICS, check_batches, check_task

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear", "warmup_cosine", "wsd")
DTYPES = ("float32", "float64")
@dataclasses.dataclass(frozen=True, kw_only=True)
class Sweep:
    """A population: a task, a model, an optimizer and a cartesian grid of named axes x seeds.

    Args:
        task: a task from ``dyntheory.tasks``.
        model: a model from ``dyntheory.models``.
        optimizer: ``sgd``, ``momentum`` (heavy ball), ``adam`` (L2 added to the gradient) or
            ``adamw`` (decoupled weight decay).
        steps: optimizer steps per member.
        batch_size: minibatch size; ``None`` is full batch (finite tasks only).
        lr, momentum, weight_decay, init_scale, b1, b2, eps: default hyperparameters; any of them
            may be swept in ``axes`` and then varies per member without recompiling.
        schedule: learning-rate schedule over ``steps`` (``warmup`` steps of linear warm-up for
            ``warmup_cosine`` and ``wsd``; ``wsd`` is warmup-stable-decay: constant, then a
            linear decay to 0 over the last 20% of the steps).
        axes: name -> values. Names are hyperparameters above, stream seeds (``task_seed``,
            ``init_seed``, ``data_seed``, ``noise_seed``), or fields of the task or model. Task
            fields that only change values (e.g. ``noise``) are traced; fields that change shapes
            (``widths``, ``depth``, ``train_frac``, ``n_bits``...) become compiled groups, as
            does ``batch_size`` (one group per value; ``None`` is full batch for finite tasks).
        seeds: number of replicate seeds (0..seeds-1) or an explicit sequence of distinct seed
            values in ``[0, 2**32)``. A population whose recorded metrics and inputs alone would
            pass half this machine's memory is refused here (``dyntheory._config.size``).
        record: metric steps: ``None`` for a Pythia-like schedule, an int ``k`` in ``[1, steps]``
            for every k steps, or a sequence of steps.
        checkpoints: steps at which every member's full training state is stored. ``None``: step
            0, the powers of two and the last step, each the nearest record step in log (at most
            ``DEFAULT_CHECKPOINTS`` = 32; ``log_checkpoints``), or the whole record schedule if
            it is that short: a checkpoint holds every member's parameters and optimizer state,
            so the dense record schedule stays for metrics only.
        metrics: extra metrics, name -> ``fn(params, batch) -> scalar`` or a ``Metric`` object.
        loss: the per-example loss ``loss(prediction, target) -> scalar`` trained on and recorded
            (``train_loss``, ``test_loss``), averaged over the batch; ``dt.losses`` holds the
            built-ins. ``None``: the task kind's default (``dt.losses.for_kind``). A loss is
            fingerprinted into the config like a metric, so changing its body is another sweep.
        dtype: ``float32`` or ``float64`` (x64 is enabled for the run).
        interventions: actions taken during training on chosen members, at a step or when the
            member's own recorded signals trigger them (``dt.interventions``), recorded in the
            config; each member's firing step is returned as ``intervened_<i>``.

    Example:
        >>> import dyntheory as dt
        >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(),
        ...                  steps=10, batch_size=8, axes={"lr": [0.1, 0.2]}, seeds=2)
        >>> sweep.n_members
        4
    """

    task: Any
    model: Any
    optimizer: str = "sgd"
    steps: int
    batch_size: int | None = None
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    init_scale: float = 1.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    schedule: str = "constant"
    warmup: int = 0
    axes: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    seeds: int | Sequence[int] = 1
    record: int | Sequence[int] | None = None
    checkpoints: Sequence[int] | None = None
    metrics: Mapping[str, Callable | Metric] = dataclasses.field(default_factory=dict)
    dtype: str = "float32"
    loss: Callable | None = None
    interventions: tuple = ()

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Sweep.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Sweep.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"Sweep.dtype must be one of {DTYPES}, got {self.dtype!r}")
        check_task(self.task)
        if not dataclasses.is_dataclass(self.model) or not all(callable(getattr(self.model, m, None))
                                                               for m in _MODEL_METHODS):
            raise ValueError(f"Sweep.model must be a model from dyntheory.models (a dataclass with "
                             f"{', '.join(_MODEL_METHODS)}), got {self.model!r}")
        if self.loss is not None and not callable(self.loss):
            raise ValueError(f"Sweep.loss must be a function (prediction, target) -> scalar per example "
                             f"(see dt.losses) or None for the task's default, got {self.loss!r}")
        _as_dict("axes", self.axes)  # a mapping, or the (name, value) pairs a built sweep keeps
        _as_dict("metrics", self.metrics)
        set_("steps", integer("Sweep.steps", self.steps, minimum=1))
        set_("warmup", integer("Sweep.warmup", self.warmup, minimum=0, maximum=self.steps))
        for name in HPARAMS:
            set_(name, _check_hparam(name, getattr(self, name), f"Sweep.{name}"))
        swept_batch = isinstance(self.axes, Mapping) and "batch_size" in self.axes or \
            not isinstance(self.axes, Mapping) and any(k == "batch_size" for k, _ in self.axes)
        if self.batch_size is None:
            if not self.task.finite and not swept_batch:
                raise ValueError(f"Sweep.batch_size must be an integer for a streaming task "
                                 f"({type(self.task).__name__} without n_train), got None")
        elif not is_integer(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"Sweep.batch_size must be an integer >= 1 or None, got {self.batch_size!r}")
        else:
            set_("batch_size", int(self.batch_size))
        set_("record", self._checked_record())
        seeds = self._checked_seed_count()
        set_("axes", self._checked_axes())
        metrics = {}
        for name, m in dict(self.metrics).items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"Sweep.metrics names must be identifiers, got {name!r}")
            metrics[name] = as_metric(name, m)
        set_("metrics", tuple(sorted(metrics.items())))
        set_("interventions", check_interventions(self.interventions, tuple(self.axes_names()) + ("seed",),
                                                  self.metric_names, self.steps))
        check_population({n: len(v) for n, v in self.axes} | {"seed": len(seeds)}, len(self.record),
                         len(self.metric_names),
                         8 if self.dtype == "float64" else 4)
        set_("seeds", self._checked_seeds(seeds))
        ckpt = (log_checkpoints(self.steps, self.record) if self.checkpoints is None
                else _check_steps("checkpoints", self.checkpoints, self.steps))
        set_("checkpoints", ckpt)
        for coords, task, model in self.static_groups():
            model.check(task.spec())
            n = getattr(task, "n_train", None) if task.finite else None
            batch = self.group_batch_size(coords)
            if batch is not None and n is not None and batch > n:
                at = f" at {coords}" if coords else ""
                raise ValueError(f"Sweep.batch_size={batch} is larger than the {n} training examples of "
                                 f"{type(task).__name__}{at}, which would silently train full batch; use "
                                 f"batch_size=None for full batch, or at most {n}")
            check_batches(task, batch)  # abstractly: shapes only, no compute
        self._refuse_inert()

    def _refuse_inert(self) -> None:
        """A hyperparameter the optimizer never reads, or a warm-up the schedule never does, is a
        mistake: refuse it unless it stays at its default (or, for momentum, 0: plain SGD)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        swept = set(dict(self.axes)) | {c for v in dict(self.axes).values() for c in _swept_hparams(v)}
        for name, users in _USED_BY.items():
            if self.optimizer in users:
                continue
            value = getattr(self, name)
            if name in swept or value not in (defaults[name], *_INERT.get(name, ())):
                what = f"Sweep.axes[{name!r}]" if name in swept else f"Sweep.{name}={value!r}"
                only = " or ".join(f"optimizer={u!r}" for u in users)
                raise ValueError(f"{what} has no effect with optimizer={self.optimizer!r}: only {only} "
                                 f"reads {name}; leave it at its default {defaults[name]!r}, or use {only}")
        if self.warmup and self.schedule not in ("warmup_cosine", "wsd"):
            raise ValueError(f"Sweep.warmup={self.warmup} has no effect with schedule={self.schedule!r}; "
                             "only 'warmup_cosine' and 'wsd' warm up")

    def _checked_record(self) -> tuple[int, ...]:
        if self.record is None:
            return pythia_schedule(self.steps)
        if is_integer(self.record):
            # An interval past the run would record steps 0 and steps only, silently.
            if not 1 <= self.record <= self.steps:
                raise ValueError(f"Sweep.record as an interval must be in [1, steps={self.steps}], got {self.record!r}")
            return every(int(self.record), self.steps)
        return _check_steps("record", self.record, self.steps)

    def _checked_seed_count(self) -> Sequence[int]:
        """The seeds as a sequence, not yet materialised for a count (``seeds=10**9`` is a range)."""
        seeds = self.seeds
        if is_integer(seeds):
            if seeds < 1:
                raise ValueError(f"Sweep.seeds must be >= 1, got {seeds!r}")
            if seeds > SEED_LIMIT:
                raise ValueError(f"Sweep.seeds must be <= 2**32 (seeds become uint32 key data), got {seeds!r}")
            return range(int(seeds))
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
            raise ValueError(f"Sweep.seeds must be a count >= 1 or a sequence of distinct integers >= 0, "
                             f"got {seeds!r}")
        return seeds if isinstance(seeds, range) else tuple(seeds)

    def _checked_seeds(self, seeds: Sequence[int]) -> tuple[int, ...]:
        if isinstance(self.seeds, range) or not isinstance(seeds, range):
            if not seeds or any(not is_integer(s) or not 0 <= s < SEED_LIMIT for s in seeds) \
                    or len(set(seeds)) != len(seeds):
                raise ValueError(f"Sweep.seeds must be a count >= 1 or distinct integers in [0, 2**32), "
                                 f"got {self.seeds!r}")
        return tuple(int(s) for s in seeds)

    def _checked_axes(self) -> tuple[tuple[str, tuple], ...]:
        out = []
        raw = dict(self.axes)
        for name, values in raw.items():
            where = f"Sweep.axes[{name!r}]"
            kind = self.axis_kind(name)
            if kind in ("zipped", "derived"):
                others = {n for n in raw if n != name} | {c for n, v in raw.items() if n != name
                                                          for c in _swept_hparams(v)}
                values = (check_zipped(where, name, values, _check_hparam, others) if kind == "zipped"
                          else check_derived(where, name, values, others))
                _refuse_repeats(where, name, tuple(values), list(values))
                out.append((name, values))
                continue
            if isinstance(values, (str, bytes)):
                values = (values,)
            elif not isinstance(values, Iterable):
                raise ValueError(f"{where} must be a sequence of values, got {values!r}")
            values = tuple(values)
            if not values:
                raise ValueError(f"{where} must not be empty")
            checked = []
            for i, v in enumerate(values):
                if kind == "hparam":
                    checked.append(_check_hparam(name, v, f"{where}[{i}]"))
                elif kind == "stream":
                    checked.append(integer(f"{where}[{i}]", v, minimum=0, maximum=SEED_LIMIT - 1))
                elif kind == "run_static":  # batch_size: a compiled group per value
                    if v is None and not self.task.finite:
                        raise ValueError(f"{where}[{i}] = None (full batch) needs a finite task")
                    checked.append(None if v is None else integer(f"{where}[{i}]", v, minimum=1))
                else:
                    owner = self.task if kind.startswith("task") else self.model
                    if isinstance(v, list):
                        v = tuple(v)
                    try:
                        # The value as the task or model keeps it: 64 and (64,) are both widths=(64,).
                        checked.append(getattr(dataclasses.replace(owner, **{name: v}), name))
                    except (ValueError, TypeError) as e:
                        raise ValueError(f"{where}[{i}] = {v!r} is invalid: {e}") from None
            _refuse_repeats(where, name, values, checked)
            out.append((name, tuple(checked)))
        return tuple(out)

    def axis_kind(self, name: str) -> str:
        """``hparam``, ``stream``, ``task_traced``, ``task_static``, ``model_static``,
        ``run_static`` (``batch_size``: each value its own compiled group), ``zipped`` or
        ``derived`` (``dt.zipped``, ``dt.derived``: traced, like hyperparameters)."""
        value = dict(self.axes).get(name) if isinstance(self.axes, (Mapping, tuple)) else None
        if isinstance(value, Zipped):
            return "zipped"
        if isinstance(value, Derived):
            return "derived"
        if name in HPARAMS:
            return "hparam"
        if name == "batch_size":
            return "run_static"
        if name in STREAM_SEED_AXES:
            return "stream"
        if name == "seed":
            raise ValueError("Sweep.axes may not contain 'seed'; use Sweep.seeds")
        task_fields = {f.name for f in dataclasses.fields(self.task)}
        if name in task_fields:
            return "task_traced" if name in type(self.task).traced_fields else "task_static"
        if dataclasses.is_dataclass(self.model) and name in {f.name for f in dataclasses.fields(self.model)}:
            return "model_static"
        allowed = sorted(set(HPARAMS) | set(STREAM_SEED_AXES) | task_fields | {"batch_size"}
                         | ({f.name for f in dataclasses.fields(self.model)} if dataclasses.is_dataclass(self.model) else set()))
        raise ValueError(f"Sweep.axes has unknown axis {name!r}; allowed: {allowed}")

    # ---- derived structure -------------------------------------------------------------------
    def axes_names(self) -> list[str]:
        return [n for n, _ in self.axes] if not isinstance(self.axes, Mapping) else list(self.axes)

    @property
    def axes_dict(self) -> dict[str, tuple]:
        return dict(self.axes)

    def names(self, *kinds: str) -> tuple[str, ...]:
        return tuple(n for n, _ in self.axes if self.axis_kind(n) in kinds)

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimensions of every per-member result, in user order: the axes then ``seed``."""
        return tuple(n for n, _ in self.axes) + ("seed",)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.axes) + (len(self.seeds),)

    @property
    def n_members(self) -> int:
        return int(np.prod(self.shape))

    STATIC_KINDS = ("task_static", "model_static", "run_static")

    def group_batch_size(self, coords: dict[str, Any]) -> int | None:
        """The batch size of the compiled group at static ``coords`` (``batch_size`` may be an axis)."""
        return coords.get("batch_size", self.batch_size)

    def static_groups(self) -> list[tuple[dict[str, Any], Any, Any]]:
        """(static coordinates, task, model) per compiled group, in grid order; the group's batch
        size is ``group_batch_size(coords)``."""
        names = self.names(*self.STATIC_KINDS)
        axes = self.axes_dict
        out = []
        for combo in itertools.product(*(axes[n] for n in names)):
            coords = dict(zip(names, combo))
            task = dataclasses.replace(self.task, **{k: v for k, v in coords.items()
                                                     if self.axis_kind(k) == "task_static"})
            model = dataclasses.replace(self.model, **{k: v for k, v in coords.items()
                                                       if self.axis_kind(k) == "model_static"})
            out.append((coords, task, model))
        return out

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric a member records: the built-in ones, then the sweep's own, by name."""
        own = tuple(name for name, _ in self.metrics)
        return BUILTIN_METRICS + KIND_METRICS[self.task.kind] + own

    @property
    def segment_steps(self) -> tuple[int, ...]:
        """Where training pauses: records, checkpoints, and the steps where an ``at`` intervention
        acts or its window ends."""
        acts = {s for it in self.interventions if isinstance(it.trigger, At)
                for s in (it.trigger.step, min(it.trigger.step + it.action.window, self.steps))}
        return tuple(sorted(set(self.record) | set(self.checkpoints) | acts))

    def config(self) -> dict[str, Any]:
        """A JSON-serialisable description; two sweeps with equal configs produce equal runs."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "loss":
                if v is None:  # the kind's default: left out, so older stores' configs still match
                    continue
                v = {"loss": plain_repr(v), "fingerprint": fingerprint(v)}
            elif f.name == "task":
                v = v.config()
            elif f.name == "model":
                v = _describe(v)
            elif f.name == "interventions":
                if not v:  # none: left out, so older stores' configs still match
                    continue
                v = [it.config() for it in v]
            elif f.name == "metrics":
                # The fingerprint makes a changed body, or closed-over constant, another sweep.
                v = {k: {"metric": describe(m), "fingerprint": metric_fingerprint(m)} for k, m in v}
            elif f.name == "axes":
                v = [[k, vals.config() if isinstance(vals, (Zipped, Derived)) else [_jsonable(x) for x in vals]]
                     for k, vals in v]
            out[f.name] = _jsonable(v)
        return out
