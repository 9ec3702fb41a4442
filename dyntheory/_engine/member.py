"""One member's training step and measurement: losses, init, step, update and measure for ONE member.

A member whose loss or update becomes non-finite (an update whose squared norm overflows counts;
its parameters then can never become non-finite) is frozen at its last finite state and its
``diverged_at`` step is recorded; every metric recorded after that step is NaN; the rest of the
population carries on. The population wiring
(vmaps over groups and members, chunks, parts, devices) lives in ``population``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dyntheory._config.hparams import HParams
from dyntheory._config.metric import MetricContext
from dyntheory._config.optim import OptSpec, make_optimizer
from dyntheory.losses import batch_mean, for_kind
from dyntheory.tasks import Batch
from dyntheory.tasks._base import as_batch, as_sets, finite_indices


class MemberState(NamedTuple):
    params: Any
    opt_state: Any
    metric_state: Any
    diverged_at: jax.Array  # int32, -1 while finite
    update_norm: jax.Array  # norm of the last applied update
    data: Any = None  # the member's own edits of its training set (``DataEdits``), if the sweep makes any


class DataEdits(NamedTuple):
    """A member's edits of its data stream's finite training set (``dt.interventions``)."""

    keep: jax.Array  # bool (n_train,): False once the row is removed
    relabel: jax.Array  # bool (n_train,): True once the row is relabelled
    label: jax.Array  # (n_train, ...) the new labels, where ``relabel``


class GroupState(NamedTuple):
    task_state: Any
    tp: dict
    data_key: jax.Array
    noise_key: jax.Array


def kind_scores(kind: str, pred, y, prefix: str) -> dict:
    """What a task's kind records besides its loss (``dyntheory.tasks._base.KIND_METRICS``):
    accuracy for classes; mean per-label accuracy and exact match for labels (score above 0)."""
    if kind == "classification":
        return {f"{prefix}_acc": jnp.mean(jnp.argmax(pred, axis=-1) == y)}
    if kind == "multilabel":
        right = (pred > 0) == (y > 0)
        return {f"{prefix}_acc": jnp.mean(right), f"{prefix}_exact_match": jnp.mean(jnp.all(right, axis=-1))}
    return {}


def _tree_sum(tree) -> jax.Array:
    leaves = [jnp.sum(x) for x in jax.tree.leaves(tree)]
    return sum(leaves[1:], leaves[0]) if leaves else jnp.array(0.0)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


class Member:
    """One member's training math for one static group (fixed task and model shapes).

    Every method here sees ONE member (and its data stream's ``GroupState``); nothing knows of
    populations, chunks or devices. ``Population`` vmaps these methods; ``reference`` scans them.
    """

    def __init__(self, *, task, model, opt: OptSpec, batch_size: int | None, metrics: tuple,
                 loss=None, edits: bool = False):
        self.task, self.model, self.opt = task, model, opt
        self.batch_size, self.metrics = batch_size, metrics
        self.spec = task.spec()
        self.lr_scales = model.lr_scales(self.spec, opt.name)
        # ``loss``: the sweep's per-example loss (``Sweep.loss``); None is the task kind's default.
        self.example_loss = for_kind(task.kind) if loss is None else loss
        # ``edits``: members carry their own edits of the training set (``data_edits``).
        self.train_shape = train_set_shape(task) if edits else None

    # ---- one member -------------------------------------------------------------------------
    def loss_of(self, pred, y):
        """The batch's mean per-example loss."""
        return batch_mean(self.example_loss, pred, y)

    def loss(self, params, batch: Batch):
        return self.loss_of(self.model.apply(params, batch.x), batch.y)

    def optimizer(self, hp: HParams):
        return make_optimizer(self.opt, hp, self.lr_scales)

    def member_init(self, init_key, hp: HParams) -> MemberState:
        params = self.model.init(jax.random.fold_in(init_key, 0), hp, self.spec)
        opt_state = self.optimizer(hp).init(params)
        mstate = tuple(m.init(params, jax.random.fold_in(init_key, 1 + i))
                       for i, (_, m) in enumerate(self.metrics))
        data = None
        if self.train_shape is not None:
            n, y = self.train_shape.x.shape[0], self.train_shape.y
            data = DataEdits(jnp.ones(n, bool), jnp.zeros(n, bool), jnp.zeros(y.shape, y.dtype))
        return MemberState(params, opt_state, mstate, jnp.int32(-1), jnp.zeros((), _float(params)), data)

    def member_step(self, ms: MemberState, hp: HParams, batch: Batch, t) -> MemberState:
        if self.train_shape is None:
            loss, grads = jax.value_and_grad(self.loss)(ms.params, batch)
        else:
            batch, rows = batch
            loss, grads = jax.value_and_grad(self.edited_loss)(ms.params, batch, ms.data, rows)
        return self.member_update(ms, hp, loss, grads, t)

    def edited_loss(self, params, batch: Batch, data: DataEdits, rows):
        """The loss of a batch (the training set's ``rows``; None: all of it) after the member's
        edits: relabelled rows take their new labels, removed rows drop out of the mean. A member
        with no edit in the batch gets exactly ``loss``'s value and gradient."""
        take = (lambda a: a) if rows is None else (lambda a: jnp.take(a, rows, axis=0))
        keep, relabel, label = take(data.keep), take(data.relabel), take(data.label)
        y = jnp.where(relabel.reshape(relabel.shape + (1,) * (batch.y.ndim - 1)), label.astype(batch.y.dtype),
                      batch.y)
        pred = self.model.apply(params, batch.x)
        per_example = jax.vmap(self.example_loss)(pred, y)
        weighted = jnp.sum(jnp.where(keep, per_example, 0)) / jnp.maximum(jnp.sum(keep), 1)
        return jnp.where(jnp.all(keep), self.loss_of(pred, y), weighted.astype(per_example.dtype))

    def member_update(self, ms: MemberState, hp: HParams, loss, grads, t) -> MemberState:
        updates, opt_state = self.optimizer(hp).update(grads, ms.opt_state, ms.params)
        params = optax.apply_updates(ms.params, updates)
        # The update's squared norm, finite, also proves the new parameters finite, so they need no
        # reduction of their own (measured: W1 step 1.1x): every |u| < sqrt(max) then, and a finite
        # p plus such a u cannot round past max (half an ulp at max is 2^103 in float32, 2^970 in
        # float64, against sqrt(max) = 2^64, 2^512). An update whose squared norm overflows counts
        # as divergence.
        sq = _tree_sum(jax.tree.map(jnp.square, updates))
        alive = ms.diverged_at < 0
        finite = jnp.isfinite(loss) & jnp.isfinite(sq)
        ok = alive & finite
        return MemberState(
            params=_select(ok, params, ms.params),
            opt_state=_select(ok, opt_state, ms.opt_state),
            metric_state=ms.metric_state,
            diverged_at=jnp.where(alive & ~finite, jnp.int32(t), ms.diverged_at),
            update_norm=jnp.where(ok, jnp.sqrt(sq), ms.update_norm).astype(ms.update_norm.dtype),
            data=ms.data,
        )

    def member_core(self, params, train: Batch, test: Batch) -> dict:
        """Losses, accuracies and the training gradient of one member."""
        def loss_and_out(p, batch):  # the forward pass once, for the loss and the accuracy
            pred = self.model.apply(p, batch.x)
            return self.loss_of(pred, batch.y), pred

        (train_loss, train_pred), grads = jax.value_and_grad(loss_and_out, has_aux=True)(params, train)
        test_loss, test_pred = loss_and_out(params, test)
        return {"train_loss": train_loss, "test_loss": test_loss, "grads": grads,
                **kind_scores(self.task.kind, train_pred, train.y, "train"),
                **kind_scores(self.task.kind, test_pred, test.y, "test")}

    def member_measure(self, ms: MemberState, hp: HParams, gs: GroupState, train: Batch,
                       test: Batch, t) -> tuple[dict, Any]:
        core = self.member_core(ms.params, train, test)
        grads = core.pop("grads")
        out = {"train_loss": core.pop("train_loss"), "test_loss": core.pop("test_loss"),
               "param_norm": optax.tree.norm(ms.params), "grad_norm": optax.tree.norm(grads),
               "update_norm": ms.update_norm, **core}
        ctx = MetricContext(ms.params, self.model.apply, self.loss, train, hp, gs.task_state, t, test)
        new_states = []
        for (name, metric), state in zip(self.metrics, ms.metric_state):
            value, state = metric(state, ctx)
            out[name] = jnp.asarray(value)
            new_states.append(state)
        # A diverged member's frozen state is finite, but its loss on a new batch can still
        # overflow (1e26, inf): every record after ``diverged_at`` is NaN, so no summary mixes
        # them in. At a record step ``t`` a member flagged at update ``d`` has ``d < t``.
        gone = ms.diverged_at >= 0
        out = {k: jnp.where(gone, jnp.nan, v) if jnp.issubdtype(v.dtype, jnp.inexact) else v
               for k, v in out.items()}
        return out, tuple(new_states)

    # ---- one member's data stream --------------------------------------------------------------
    def group_setup(self, task_key, noise_key, data_key, tp) -> GroupState:
        return GroupState(self.task.setup(task_key, noise_key, tp), tp, data_key, noise_key)

    def group_batch(self, gs: GroupState, t) -> Batch:
        # Checked as it is traced, before any compute: a batch of another size trained silently.
        batch = as_batch(self.task, self.task.batch(gs.task_state, gs.tp, gs.data_key, gs.noise_key, t,
                                                    self.batch_size), self.batch_size)
        if self.train_shape is None:
            return batch
        return batch, finite_indices(self.train_shape.x.shape[0], gs.data_key, t, self.batch_size)

    def group_train_set(self, gs: GroupState):
        """The stream's training set and task state, for choosing rows to edit on the host, and
        whether the task's batches of steps 0 and 1 are the rows ``finite_indices`` names (the
        engine applies a member's edits by those rows)."""
        train = as_sets(self.task, self.task.eval_sets(gs.task_state, gs.tp))["train"]
        ok = jnp.array(True)
        for t in (0, 1):
            batch, rows = self.group_batch(gs, t)
            want = train if rows is None else Batch(*(jnp.take(a, rows, axis=0) for a in train))
            ok &= jnp.array_equal(batch.x, want.x) & jnp.array_equal(batch.y, want.y)
        return train, gs.task_state, ok

    def group_sets(self, gs: GroupState, t) -> tuple[Batch, Batch]:
        sets = as_sets(self.task, self.task.eval_sets(gs.task_state, gs.tp))
        train = sets["train"] if sets["train"] is not None else self.group_batch(gs, t)
        return train, sets["test"]

def train_set_shape(task) -> Batch:
    """Shapes of ``task``'s finite training set, or ValueError if the task has none to edit."""
    name = type(task).__name__
    if not task.finite:
        raise ValueError(f"Sweep.interventions: RemoveExamples and RelabelExamples edit a finite training set, "
                         f"but {name} streams fresh samples (finite=False)")
    tp = {f: jax.ShapeDtypeStruct((), jnp.float32) for f in type(task).traced_fields}

    def train(tp):
        key = jax.random.key(0)
        return as_sets(task, task.eval_sets(task.setup(key, key, tp), tp))["train"]

    shape = jax.eval_shape(train, tp)
    if shape is None:
        raise ValueError(f"Sweep.interventions: RemoveExamples and RelabelExamples need {name}.eval_sets to "
                         'return its training set as "train", got None')
    return Batch(*shape)


def _float(params):
    leaves = jax.tree.leaves(params)
    return leaves[0].dtype if leaves else jnp.float32
