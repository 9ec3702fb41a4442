"""Training one compiled group wave by wave between recordings, writing to the store as it goes.

``run_group`` takes a group's waves of parts (``Parts``) in turn; ``_run_wave`` advances one wave
through the segment steps (records and checkpoints), flushes metrics, writes checkpoints, and
every ``resume_every`` seconds writes a resume slot (hashed) and then the progress marker, so a
kill at any moment leaves a store whose marker names finished work (``dyntheory._engine.store``).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dyntheory._config.sweep import Sweep
from dyntheory._engine.intervene import Interventions
from dyntheory._engine.member import MemberState
from dyntheory._engine.parts import Parts
from dyntheory._engine.store import Store, leaf_name, path_entries, state_hashes
from dyntheory._platform.hosts import agree


def resumed_parts(st: Store, gid: int, parts: Parts) -> Parts:
    """The parts as cut by the run that left ``st``'s progress marker for group ``gid``, if any:
    a killed run's waves cover other members when the free memory, hence the cut, has changed."""
    prog = st.progress(gid)
    plan = None if prog is None else prog.get("parts")
    return parts if plan is None or plan == parts.plan() else parts.with_plan(plan)


def flatten_state(members: MemberState) -> tuple[dict[str, np.ndarray], list]:
    flat, _ = jax.tree_util.tree_flatten_with_path(members)
    leaves = {leaf_name(p): np.asarray(v) for p, v in flat}
    paths = [[leaf_name(p), path_entries(p)] for p, _ in flat]
    return leaves, paths


def unflatten_state(template: MemberState, leaves: dict[str, np.ndarray]) -> MemberState:
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(leaves[leaf_name(p)]) for p, _ in flat])


def static_index(sweep: Sweep, coords: dict[str, Any]) -> tuple:
    axes = sweep.axes_dict
    return tuple(axes[d].index(coords[d]) if d in coords else slice(None) for d in sweep.dims)


def run_group(sweep, st: Store, gid, coords, layout, fns, parts: Parts, make_wave, bar, resume_every,
              start: int = 0) -> None:
    """Train one compiled group wave by wave (``Parts``); ``make_wave(ids)`` builds the
    (group states, member states, hyperparameters) of parts ``ids`` at step ``start``.

    The progress marker names the wave in progress; the waves before it are finished and written.
    """
    prog = st.progress(gid)
    first = 0 if prog is None else prog.get("wave", 0)
    if prog is not None and prog.get("done"):
        bar.update(sweep.steps - start)
        return
    bar.update((sweep.steps - start) * first / parts.n_waves)
    for w in range(first, parts.n_waves):
        resume = prog if w == first and prog is not None and prog.get("slot") else None
        _run_wave(sweep, st, gid, coords, layout, fns, parts, w, make_wave, bar, resume_every, start, resume)


def _run_wave(sweep, st: Store, gid, coords, layout, fns, parts: Parts, w: int, make_wave, bar,
              resume_every, start: int, prog: dict | None) -> None:
    """Advance one wave's parts in lockstep through the segment steps, writing as it goes."""
    ids = parts.wave(w)
    last_wave = w == parts.n_waves - 1
    region = parts.region(ids)
    full = (layout.G, layout.M)
    # A group's first wave compiles its init, step and measurement: seconds with no steps to show.
    bar.set_postfix_str(f"group {gid + 1}: compiling" if w == 0 else f"group {gid + 1}", refresh=True)
    gs, members, hps = make_wave(ids)
    sidx = static_index(sweep, coords)
    record, ckpts = list(sweep.record), list(sweep.checkpoints)
    n_rec = len(record)
    t, slot, last = start, None, None
    tick = 1 / parts.n_waves
    found = None if prog is None else st.read_resume(gid, prog, region)
    if found is None:
        prog = None  # a fresh wave, or one whose resume slots both fail their hashes: from the start
    else:
        t, slot = found["step"], found["slot"]
        last = {k: found[k] for k in ("step", "slot", "hashes")}  # the slot a fallback returns to
        members = parts.split(unflatten_state(parts.merge(members, ids), found["leaves"]), ids=ids, local=True)
    bar.update((t - start) * tick)
    full_shape = tuple(sweep.shape) + (n_rec,)
    chunks = tuple(1 if isinstance(i, int) else s for i, s in zip(sidx, sweep.shape)) + (min(n_rec, 32),)
    dims = tuple(sweep.dims) + ("step",)
    pending: dict[str, list] = {}  # metrics measured since the last flush, in record order

    def write_user(name, block, steps_at=None):
        """Write a (g, m[, k, *extra]) block of the wave into a user-dims array."""
        if not region:
            index = sidx if steps_at is None else sidx + (slice(steps_at, steps_at + block.shape[2]),)
            st.write(name, index, layout.to_user(block))
            return
        if steps_at is None:
            st.write_block(name, layout.block_index(sidx, region), block)
            return
        tail = block.shape[3:]  # an array metric's own axes
        sel = layout.block_index(sidx, region, extra=1 + len(tail))
        axes = (block.shape[2],) + tail
        starts = (steps_at,) + (0,) * len(tail)
        for i, (n, a) in enumerate(zip(axes, starts)):
            shape = [1] * (2 + len(axes))
            shape[2 + i] = n
            sel += (np.arange(a, a + n).reshape(shape),)
        st.write_block(name, sel, block)

    metric_dims = st.meta.get("metric_dims", {})

    def flush():
        for name, items in pending.items():
            block = np.stack([v for _, v in items], axis=2)  # (g, m, k, *metric dims)
            extra = [d for d, _, _ in metric_dims.get(name, ())]
            sizes = tuple(n for _, n, _ in metric_dims.get(name, ()))
            st.ensure(f"metrics/{name}", full_shape + sizes, block.dtype, dims + tuple(extra),
                      chunks=chunks + sizes, fill=np.nan)
            write_user(f"metrics/{name}", block, steps_at=items[0][0])
        pending.clear()

    # Metrics are flushed every ``resume_every`` seconds. The resume state is written with them on
    # disk only (a memory store cannot be resumed), by default never so often that copying the
    # population's state out and writing it takes over a tenth of the run.
    adaptive = resume_every is None
    resume_every = 5.0 if adaptive else resume_every
    last_save = last_flush = time.monotonic()
    save_cost = 0.0
    # Interventions keep host-side state (windows, recent states) that a resume slot does not
    # hold: a killed run with interventions restarts its wave from the start (same numbers).
    resumable = st.path is not None and not sweep.interventions
    ivs = Interventions(sweep, layout, coords, region)
    if "train_set" in fns:  # the sweep edits training sets: choose each edit's rows for this wave
        ivs.prepare(next(task for c, task, _ in sweep.static_groups() if c == coords), fns, gs, parts, ids)
    segments = [s for s in sweep.segment_steps if s >= start]
    for s in segments:
        if s < t or (s == t and prog is not None):
            continue
        members = [fns["advance"](g, m, h, t, s) for g, m, h in zip(gs, members, hps)]
        bar.set_postfix_str(f"group {gid + 1}", refresh=False)
        bar.update((s - t) * tick)
        t = s
        out = None
        if s in record:
            outs = [fns["measure"](g, m, h, s) for g, m, h in zip(gs, members, hps)]
            members = [m for _, m in outs]
            out = parts.merge([o for o, _ in outs], ids)
            for name, value in out.items():
                pending.setdefault(name, []).append((record.index(s), value))
        final = s == segments[-1]
        began = time.monotonic()
        save = final or agree(resumable and began - last_save >= max(resume_every, 9 * save_cost * adaptive))
        if not save and began - last_flush >= resume_every:
            flush()
            last_flush = began
        if s in ckpts or save:
            leaves, paths = flatten_state(parts.merge(members, ids))
        if s in ckpts:
            st.write_state(f"ckpt/g{gid}", leaves, index=ckpts.index(s), n_lead=len(ckpts),
                           region=region, full=full)
        if save:
            # Data first, progress marker last: a kill in between leaves the old marker valid.
            flush()
            div = leaves[leaf_name((jax.tree_util.GetAttrKey("diverged_at"),))]
            st.ensure("diverged_at", tuple(sweep.shape), np.int32, tuple(sweep.dims),
                      chunks=chunks[:-1], fill=-1)
            write_user("diverged_at", div)
            if final and ivs:
                for i, fired in enumerate(ivs.fired):  # the step each member's intervention fired
                    st.ensure(f"intervened/{i}", tuple(sweep.shape), np.int32, tuple(sweep.dims),
                              chunks=chunks[:-1], fill=-1)
                    write_user(f"intervened/{i}", fired)
            if final and last_wave:
                st.commit_progress(gid, step=s, done=True, slot=None, paths=paths, wave=w, parts=parts.plan())
            elif final:  # the next wave starts from its initial state
                st.commit_progress(gid, step=start, done=False, slot=None, paths=paths, wave=w + 1, parts=parts.plan())
            else:
                slot = "b" if slot == "a" else "a"
                st.write_state(f"resume/{slot}/g{gid}", leaves, region=region, full=full)
                hashes = state_hashes(leaves)  # checked when resumed (Store.read_resume)
                st.commit_progress(gid, step=s, done=False, slot=slot, paths=paths, wave=w, parts=parts.plan(),
                                   hashes=hashes, previous=last)
                last = {"step": s, "slot": slot, "hashes": hashes}
            last_save = time.monotonic()
            save_cost = last_save - began
        if ivs and not final:
            members, hps = ivs.step(s, members, hps, out, parts, ids)
