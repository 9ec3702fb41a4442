"""One member's training step and measurement, and the population functions built from them.

``member_step`` trains one member for one step. The population is laid out as
``(groups, members)``: members of a group share a data stream (same seed, data/noise/task seeds and
traced task parameters), so the group's batch is computed once and broadcast to its members
(``vmap(..., in_axes=None)``), which turns the first layer of every member into one large matmul.
A member whose loss or update becomes non-finite (an update whose squared norm overflows counts;
its parameters then can never become non-finite) is frozen at its last finite state and its
``diverged_at`` step is recorded; the rest of the population carries on.

The compiled ``advance`` keeps the host out of the step loop (one ``fori_loop`` between
recordings, the state donated) and walks the population in cache-sized chunks (``ChunkPlan``),
each chunk taking every step of the segment while its state is in cache, so the per-member cost
stays flat as the population grows past the cache; sampled batches are made one step ahead and
carried through the loop, so XLA cannot fuse their sampling into every member.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dyntheory._compile import jit
from dyntheory._hparams import HParams
from dyntheory._layout import ChunkPlan
from dyntheory._metrics import MetricContext
from dyntheory._optim import OptSpec, make_optimizer
from dyntheory._parts import CHUNK_RESERVE
from dyntheory.tasks import Batch


# A step (and a measurement) walks the population in chunks (see ``ChunkPlan``) of at most
# CHUNK_MEMBERS members and CHUNK_BYTES of intermediates (counted on one member's jaxpr): large
# enough that a chunk's fixed per-operation cost is small, small enough that its activations stay in
# cache instead of streaming through memory once per operation. Measured on dyntheory.bench's
# workloads: W1 and W3 steps at 10k-100k members ran 1.6-1.7x faster in chunks of 700-1400 members
# than unchunked; W1's measurement (a 1024-point test set) 2.4x faster in chunks of 64-128.
CHUNK_MEMBERS = 1024
CHUNK_BYTES = 64 << 20
# With several CPU devices each device takes its share of a chunk on one core, and there small
# chunks pay: 64 members a device. Measured 2026-12-04 on 2 devices, us per member-step in chunks
# of 128 against 1,024 members: W1 at 10,000 members 1.83 against 2.73, at 100,000 1.95 against
# 2.97; W3 at 10,000 0.80 against 1.59, at 100,000 0.81 against 1.62. On one device the size
# mattered little (64 to 1,024 members: W1 4.5-5.2 us, W3 1.8-2.5, neither best at 64 throughout).
CHUNK_MEMBERS_PER_CPU_DEVICE = 64
# There, too, a chunk's matrix product outputs fit in the L2 cache of the device's core: XLA:CPU
# writes a dot's output to memory and the next fusion reads it back (W1's measurement: the test
# set's (1,024, 32) hidden layer a member). Measured 2026-12-04 on 2 devices, W1's measurement at
# 1,000 members 17.8 -> 14.5 ms, at 10,000 193 -> 151 ms; W2, W3 and every step kept their chunks.
# On one device the same bound made W1's measurement slower (245 -> 305 ms at 10,000 members),
# so it applies only with one device per core.
# Off the CPU the cache argument does not hold: a GPU wants as many members in one kernel as fit,
# so there a chunk is bounded only by the working memory set aside for it (the parts' own
# CHUNK_RESERVE). A judgement, not a measurement: no GPU was lent to this project's sessions.
ACCELERATOR_CHUNK_BYTES = CHUNK_RESERVE


def chunk_cap(per_member_bytes: int, chunk_members: int | None = None, chunk_bytes: int | None = None,
              largest_dot_bytes: int = 0) -> int:
    """Members per chunk: ``DYNTHEORY_CHUNK_MEMBERS`` / ``DYNTHEORY_CHUNK_BYTES`` override the defaults.

    With one CPU device per core (or more devices than cores) a chunk's largest matrix product
    output (``largest_dot_bytes`` a member) also fits in the cores' L2 caches (see
    ``CHUNK_MEMBERS_PER_CPU_DEVICE``); with several cores a device, as on one device, it does not.
    """
    cpu, n_dev = jax.default_backend() == "cpu", jax.device_count()
    default = (CHUNK_MEMBERS if n_dev == 1 else CHUNK_MEMBERS_PER_CPU_DEVICE * n_dev) if cpu else 2 ** 31 - 1
    members = chunk_members or int(os.environ.get("DYNTHEORY_CHUNK_MEMBERS", 0))
    nbytes = chunk_bytes or int(os.environ.get("DYNTHEORY_CHUNK_BYTES", 0))
    chosen = bool(members or nbytes)  # the user's sizes replace the defaults, the L2 bound too
    cap = min(members or default, (nbytes or (CHUNK_BYTES if cpu else ACCELERATOR_CHUNK_BYTES))
              // max(per_member_bytes, 1))
    one_core_each = cpu and n_dev > 1 and jax.local_device_count() >= usable_cores()  # as measured
    l2 = l2_bytes() if one_core_each and not chosen else None
    if l2 and largest_dot_bytes:  # every device's share of a chunk in its cores' share of the L2
        cap = min(cap, l2 * n_dev // jax.local_device_count() // largest_dot_bytes)
    return max(1, cap)


@functools.cache
def l2_bytes(caches: str = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """This host's L2 cache over the cores this process may run on (None where sysfs does not say)."""
    for index in sorted(glob.glob(os.path.join(caches, "index*"))):
        try:
            level, kind, size, shared = (open(os.path.join(index, name)).read().strip()
                                         for name in ("level", "type", "size", "shared_cpu_list"))
        except OSError:
            continue
        if level == "2" and kind in ("Unified", "Data"):
            break
    else:
        return None
    per_cache = int(size.rstrip("KMG")) * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
    sharing = sum(int(b or a) - int(a) + 1 for a, _, b in (r.partition("-") for r in shared.split(",")))
    return per_cache * max(1, usable_cores() // sharing)


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class MemberState(NamedTuple):
    params: Any
    opt_state: Any
    metric_state: Any
    diverged_at: jax.Array  # int32, -1 while finite
    update_norm: jax.Array  # norm of the last applied update


class GroupState(NamedTuple):
    task_state: Any
    tp: dict
    data_key: jax.Array
    noise_key: jax.Array


def regression_loss(pred, y):
    """0.5 * mean over the batch of the squared error summed over outputs."""
    return 0.5 * jnp.mean(jnp.sum(jnp.square(pred - y), axis=-1))


def classification_loss(logits, y):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def accuracy(logits, y):
    return jnp.mean(jnp.argmax(logits, axis=-1) == y)


def _tree_sum(tree) -> jax.Array:
    leaves = [jnp.sum(x) for x in jax.tree.leaves(tree)]
    return sum(leaves[1:], leaves[0]) if leaves else jnp.array(0.0)


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


class Population:
    """The compiled functions of one static group (fixed task and model shapes)."""

    def __init__(self, *, task, model, opt: OptSpec, batch_size: int | None, metrics: tuple,
                 chunk_members: int | None = None, chunk_bytes: int | None = None):
        self.task, self.model, self.opt = task, model, opt
        self.chunk_members, self.chunk_bytes = chunk_members, chunk_bytes
        self.batch_size, self.metrics = batch_size, metrics
        self.spec = task.spec()
        self.lr_scales = model.lr_scales(self.spec, opt.name)
        self.classification = task.kind == "classification"
        self.loss_of = classification_loss if self.classification else regression_loss

    # ---- one member -------------------------------------------------------------------------
    def loss(self, params, batch: Batch):
        return self.loss_of(self.model.apply(params, batch.x), batch.y)

    def optimizer(self, hp: HParams):
        return make_optimizer(self.opt, hp, self.lr_scales)

    def member_init(self, init_key, hp: HParams) -> MemberState:
        params = self.model.init(jax.random.fold_in(init_key, 0), hp, self.spec)
        opt_state = self.optimizer(hp).init(params)
        mstate = tuple(m.init(params, jax.random.fold_in(init_key, 1 + i))
                       for i, (_, m) in enumerate(self.metrics))
        return MemberState(params, opt_state, mstate, jnp.int32(-1), jnp.zeros((), _float(params)))

    def member_step(self, ms: MemberState, hp: HParams, batch: Batch, t) -> MemberState:
        loss, grads = jax.value_and_grad(self.loss)(ms.params, batch)
        return self.member_update(ms, hp, loss, grads, t)

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
        )

    def member_core(self, params, train: Batch, test: Batch) -> dict:
        """Losses, accuracies and the training gradient of one member."""
        def loss_and_out(p, batch):  # the forward pass once, for the loss and the accuracy
            pred = self.model.apply(p, batch.x)
            return self.loss_of(pred, batch.y), pred

        (train_loss, train_pred), grads = jax.value_and_grad(loss_and_out, has_aux=True)(params, train)
        test_loss, test_pred = loss_and_out(params, test)
        out = {"train_loss": train_loss, "test_loss": test_loss, "grads": grads}
        if self.classification:
            out["train_acc"] = accuracy(train_pred, train.y)
            out["test_acc"] = accuracy(test_pred, test.y)
        return out

    def member_measure(self, ms: MemberState, hp: HParams, gs: GroupState, train: Batch,
                       test: Batch, t) -> tuple[dict, Any]:
        core = self.member_core(ms.params, train, test)
        grads = core.pop("grads")
        out = {"train_loss": core.pop("train_loss"), "test_loss": core.pop("test_loss"),
               "param_norm": optax.tree.norm(ms.params), "grad_norm": optax.tree.norm(grads),
               "update_norm": ms.update_norm, **core}
        ctx = MetricContext(ms.params, self.model.apply, self.loss, train, hp, gs.task_state, t)
        new_states = []
        for (name, metric), state in zip(self.metrics, ms.metric_state):
            value, state = metric(state, ctx)
            out[name] = jnp.asarray(value)
            new_states.append(state)
        return out, tuple(new_states)

    # ---- one group, then the population ------------------------------------------------------
    def group_setup(self, task_key, noise_key, data_key, tp) -> GroupState:
        return GroupState(self.task.setup(task_key, noise_key, tp), tp, data_key, noise_key)

    def group_batch(self, gs: GroupState, t) -> Batch:
        return self.task.batch(gs.task_state, gs.tp, gs.data_key, gs.noise_key, t, self.batch_size)

    def group_sets(self, gs: GroupState, t) -> tuple[Batch, Batch]:
        sets = self.task.eval_sets(gs.task_state, gs.tp)
        train = sets["train"] if sets["train"] is not None else self.group_batch(gs, t)
        return train, sets["test"]

    def chunk_step(self, batches: Batch, members: MemberState, hps: HParams, t) -> MemberState:
        """Step (gc, mc) members; each group's batch is computed once and shared by its members."""
        step = jax.vmap(self.member_step, in_axes=(0, 0, None, None))
        return jax.vmap(step, in_axes=(0, 0, 0, None))(members, hps, batches, t)

    def chunk_run(self, gs: GroupState, members: MemberState, hps: HParams, t0, t1) -> MemberState:
        """Steps ``t0 .. t1`` of one chunk: (gc, ...) group states, (gc, mc, ...) members.

        The chunk runs all its steps before the next chunk starts, so its state stays in cache
        for the whole segment instead of streaming through memory once per step (measured with
        dyntheory.bench shapes against a step loop around a walk over the chunks: W1 1.13-1.3x,
        W3 1.1x). Sampled batches are made one step ahead and carried through the loop: left
        inside the step, XLA fuses the sampling (threefry, erfinv) into the per-member consumers of
        the batch and recomputes it for every member (an optimization_barrier does not survive
        XLA:CPU's pipeline). A group larger than a chunk is cut into member chunks that each
        sample the group's batch themselves: one batch per at least half a chunk of members.
        """
        batches = jax.vmap(self.group_batch, in_axes=(0, None))
        if self.batch_size is None:  # full batch: the training set itself, nothing to sample
            return jax.lax.fori_loop(t0, t1, lambda t, ms: self.chunk_step(batches(gs, t), ms, hps, t), members)

        def body(t, carry):
            ms, b = carry
            return self.chunk_step(b, ms, hps, t), batches(gs, t + 1)

        return jax.lax.fori_loop(t0, t1, body, (members, batches(gs, t0)))[0]

    def chunk_measure(self, gs: GroupState, sets, members: MemberState, hps: HParams, t):
        measure = jax.vmap(self.member_measure, in_axes=(0, 0, None, None, None, None))
        out, mstate = jax.vmap(measure, in_axes=(0, 0, 0, 0, 0, None))(members, hps, gs, *sets, t)
        return out, members._replace(metric_state=mstate)

    def plan(self, member_fn, gs: GroupState, members: MemberState, hps: HParams, shared_fn) -> ChunkPlan:
        """The chunks of a population for ``member_fn`` (see ``chunk_cap``)."""
        G, M = jax.tree.leaves(hps)[0].shape[:2]
        one = lambda tree, k: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[k:], x.dtype), tree)  # noqa: E731
        g1 = one(gs, 1)
        shared = jax.eval_shape(shared_fn, g1, 0)
        jaxpr = jax.make_jaxpr(member_fn)(g1, shared, one(members, 2), one(hps, 2), 0).jaxpr
        cap = chunk_cap(jaxpr_bytes(jaxpr), self.chunk_members, self.chunk_bytes, jaxpr_bytes(jaxpr, largest_dot=True))
        return ChunkPlan.make(G, M, cap)

    def build(self) -> dict[str, Callable]:
        """jit-compiled population functions; population leaves are shaped (groups, members, ...)."""
        setup = jit(jax.vmap(self.group_setup))
        init = jit(jax.vmap(jax.vmap(self.member_init)))
        group_sets = jax.vmap(self.group_sets, in_axes=(0, None))

        def advance(gs, members, hps, t0, t1):
            one = lambda g, b, m, h, t: self.member_step(m, h, b, t)  # noqa: E731
            plan = self.plan(one, gs, members, hps, self.group_batch)
            run = lambda g, _, m, h: self.chunk_run(g, m, h, t0, t1)  # noqa: E731
            return plan.merge(plan.map(lambda g: None, run, plan.split_groups(gs), plan.split(members),
                                       plan.split(hps)))

        def measure(gs, members, hps, t):
            one = lambda g, sets, m, h, t: self.member_measure(m, h, g, *sets, t)  # noqa: E731
            plan = self.plan(one, gs, members, hps, self.group_sets)
            out, members = plan.map(lambda g: group_sets(g, t),
                                    lambda g, sets, m, h: self.chunk_measure(g, sets, m, h, t),
                                    plan.split_groups(gs), plan.split(members), plan.split(hps))
            return plan.merge(out), plan.merge(members)

        return {"setup": setup, "init": init,
                "advance": jit(advance, donate_argnums=(1,)),
                "measure": jit(measure, donate_argnums=(1,))}


def jaxpr_bytes(jaxpr, largest_dot: bool = False) -> int:
    """Bytes of every intermediate a jaxpr writes (sub-jaxprs included, loop bodies once), or
    with ``largest_dot`` those of its largest matrix product's output."""
    total = 0
    for eqn in jaxpr.eqns:
        sizes = [int(np.prod(v.aval.shape)) * v.aval.dtype.itemsize for v in eqn.outvars
                 if hasattr(v.aval, "shape") and not jax.dtypes.issubdtype(v.aval.dtype, jax.dtypes.prng_key)]
        subs = [jaxpr_bytes(sub, largest_dot) for p in eqn.params.values()
                for sub in (getattr(x, "jaxpr", x) for x in (p if isinstance(p, (tuple, list)) else (p,)))
                if hasattr(sub, "eqns")]
        if largest_dot:
            total = max([total, *subs, *(sizes if eqn.primitive.name == "dot_general" else [])])
        else:
            total += sum(sizes) + sum(subs)
    return total


def _float(params):
    leaves = jax.tree.leaves(params)
    return leaves[0].dtype if leaves else jnp.float32
