"""The population functions of one static group, built from one member's math (``member``).

The population is laid out as ``(groups, members)``: members of a group share a data stream (same
seed, data/noise/task seeds and traced task parameters), so the group's batch is computed once and
broadcast to its members (``vmap(..., in_axes=None)``), which turns the first layer of every member
into one large matmul.

The compiled ``advance`` keeps the host out of the step loop (one ``fori_loop`` between
recordings, the state donated) and walks the population in cache-sized chunks (``ChunkPlan``;
sizes from ``dyntheory._platform.chunks``), each chunk taking every step of the segment while its
state is in cache, so the per-member cost stays flat as the population grows past the cache;
sampled batches are made one step ahead and carried through the loop, so XLA cannot fuse their
sampling into every member. ``reference`` is the readable version this is tested against
(``tests/engine/test_reference.py``: one SGD step bitwise; whole runs to rounding, since XLA
fuses and contracts the two differently).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from dyntheory._config.hparams import HParams
from dyntheory._config.optim import OptSpec
from dyntheory._engine.chunks import ChunkPlan
from dyntheory._engine.member import GroupState, Member, MemberState
from dyntheory._platform.chunks import chunk_cap, jaxpr_bytes
from dyntheory._platform.compile import jit
from dyntheory.tasks import Batch


class Population(Member):
    """The compiled functions of one static group (fixed task and model shapes)."""

    def __init__(self, *, task, model, opt: OptSpec, batch_size: int | None, metrics: tuple, loss=None,
                 edits: bool = False, chunk_members: int | None = None, chunk_bytes: int | None = None):
        super().__init__(task=task, model=model, opt=opt, batch_size=batch_size, metrics=metrics, loss=loss,
                         edits=edits)
        self.chunk_members, self.chunk_bytes = chunk_members, chunk_bytes

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

        fns = {"setup": setup, "init": init,
               "advance": jit(advance, donate_argnums=(1,)),
               "measure": jit(measure, donate_argnums=(1,))}
        if self.train_shape is not None:  # the sweep edits training sets (``dt.interventions``)
            fns["train_set"] = jit(jax.vmap(self.group_train_set))
        return fns
