"""``train``: run a whole sweep, chunk by chunk between recordings, into a resumable store."""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory._config.data_edit_actions import data_edits
from dyntheory._config.interventions import filters
from dyntheory._config.optim import OptSpec
from dyntheory._config.random import as_key, key_record
from dyntheory._config.sweep import Sweep
from dyntheory._engine.derive import derive_hparams
from dyntheory._engine.footprint import Footprint, check_fits, estimate
from dyntheory._engine.layout import Layout
from dyntheory._engine.lowering import lapack_calls
from dyntheory._engine.metric_shapes import metric_dims, metric_shapes
from dyntheory._engine.parts import (Parts, default_max_members, default_resident, member_bytes, member_shapes,
                                    part_members, state_bytes)
from dyntheory._engine.population import Population
from dyntheory._engine.run import Run, coord_label
from dyntheory._engine.store import Store, store_bytes, writing
from dyntheory._engine.waves import resumed_parts, run_group, static_index
from dyntheory._platform.hosts import barrier, common, is_writer, multi
from dyntheory._platform.lapack import lapack_fallback, several_cpu_devices
from dyntheory._platform.memory import memory_budget

_VERSIONED = ("jax", "jaxlib", "flax", "optax", "numpy", "sympy", "xarray", "zarr", "dyntheory")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _meta(sweep: Sweep, key, metric_dims: dict | None = None) -> dict[str, Any]:
    return {
        "metric_dims": metric_dims or {},
        "config": sweep.config(), "key": key_record(key), "versions": versions(),
        "dims": list(sweep.dims), "shape": list(sweep.shape),
        "coords": {n: [coord_label(v) for v in vals] for n, vals in sweep.axes} | {"seed": list(sweep.seeds)},
        "record": list(sweep.record), "checkpoints": list(sweep.checkpoints),
        "static_dims": list(sweep.names(*sweep.STATIC_KINDS)),
        "metrics": list(sweep.metric_names), "dtype": sweep.dtype,
        "group_dims": list(Layout(sweep).group_dims), "member_dims": list(Layout(sweep).member_dims),
    }


def _diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _open_store(sweep: Sweep, key, store: str | None, overwrite: bool, extra: dict | None = None,
                estimate: Footprint | None = None, metric_dims: dict | None = None) -> Store:
    meta = _meta(sweep, key, metric_dims)
    meta["config"].update(extra or {})
    if estimate is not None:
        meta["estimate"] = estimate.attrs()
    reuse = Store.exists(store) and not overwrite
    if reuse:  # every process checks, so a refusal is raised on all of them
        st = Store.open(store)
        st.verify_labels()
        old = st.meta
        differs = _diff(old["config"], meta["config"])
        if old["key"] != meta["key"]:
            differs.append("key")
        if differs:
            raise ValueError(f"store {store!r} holds a different sweep (differs in: {', '.join(differs)}); "
                             "pass overwrite=True or choose another store")
    barrier("store checked")
    if reuse:
        return st
    if is_writer(store):
        st = Store.create(store, meta, overwrite=overwrite)
    barrier("store created")
    return st if is_writer(store) else Store.open(store)


def finished(st: Store) -> Store:
    """Seal the store (manifest); other processes reopen it once the writer has."""
    st.finish()
    barrier("store finished")
    return st if st.writer else Store.open(st.path)


def train(sweep: Sweep, *, key, store: str | None = None, progress: bool | None = None,
          overwrite: bool = False, resume_every: float | None = None, max_members: int | None = None,
          max_resident: int | None = None) -> Run:
    """Train every member of ``sweep`` and return the labelled results.

    Args:
        sweep: the population.
        key: an int seed or a typed key; every member's streams derive from it and the member's
            own coordinates.
        store: a directory for the Zarr store (None keeps everything in memory). If it already
            holds this sweep and key, an unfinished run resumes from its last finished chunk (and
            ends bit-identical to an uninterrupted run); a finished one is simply loaded. A store
            holding a different sweep is an error unless ``overwrite=True``.
        progress: show a tqdm bar (default: only when stderr is a terminal).
        overwrite: replace an existing store.
        resume_every: seconds between writes of the resume state. Default: every 5 seconds, but
            never so often that writing it takes more than a tenth of the run.
        max_members: members per part of a compiled group; larger populations run as equal parts
            in lockstep. Default: sized from the memory available (a quarter, at most 4 GiB, for
            the state a step handles at once; ``DYNTHEORY_STEP_BYTES`` overrides). Within a part a
            step walks the members in cache-sized chunks, so activations do not grow with it.
        max_resident: members held in memory at once. A larger population streams through in
            waves of parts: each wave is built, trained to the end and written to the store before
            the next (same numbers as all at once; with a store, a killed run resumes in the wave
            it was in). Default: what fits in 60% of the memory available
            (``DYNTHEORY_MEMORY_BYTES`` overrides the memory).

    Example:
        >>> import dyntheory as dt
        >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(),
        ...                  steps=20, batch_size=8, axes={"lr": [0.05, 0.1]}, seeds=3, record=10)
        >>> run = dt.train(sweep, key=0)
        >>> run.metrics["test_loss"].dims
        ('lr', 'seed', 'step')
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"train: sweep must be a dyntheory.Sweep, got {type(sweep).__name__}")
    check_call("train", store=store, progress=progress, overwrite=overwrite, resume_every=resume_every)
    check_sizes("train", max_members=max_members, max_resident=max_resident)
    root = as_key(key, where="train: key")
    store = None if store is None else os.fspath(store)
    groups = sweep.static_groups()
    with jax.enable_x64(sweep.dtype == "float64"):
        devices = lapack_devices("train", sweep, groups, store, overwrite)
        plans = [plan_group(sweep, task, model, max_members, max_resident, devices, coords)
                 for coords, task, model in groups]
        mdims = check_metrics("train", sweep, root, groups, plans)
    fp = footprint("train", sweep, root, plans, store, overwrite, metric_dims=mdims)
    with writing(store, "train"):
        st = _open_store(sweep, root, store, overwrite, estimate=fp, metric_dims=mdims)
        if st.meta["complete"]:
            return Run(st, sweep)
        show = sys.stderr.isatty() if progress is None else progress
        with jax.enable_x64(sweep.dtype == "float64"), \
                progress_bar(sweep.steps * len(groups), show, "dyntheory", fp) as bar:
            for gid, ((coords, task, model), (layout, fns, parts)) in enumerate(zip(groups, plans)):
                parts = resumed_parts(st, gid, parts)
                make_wave = functools.partial(initial_parts, sweep, root, task, layout, fns, parts,
                                              inputs=group_inputs(sweep, root, st, coords, task, model, layout))
                run_group(sweep, st, gid, coords, layout, fns, parts, make_wave, bar, resume_every)
        return Run(finished(st), sweep)


def progress_bar(total: int, show: bool, desc: str, fp: Footprint | None = None) -> tqdm:
    """Steps of every group (a group streamed in waves counts its steps once, in fractions),
    after a line with the run's estimated store size and peak memory."""
    if show and fp is not None:
        tqdm.write(f"{desc}: {fp.line()}", file=sys.stderr)
    return tqdm(total=total, disable=not show, desc=desc, unit="step",
                bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} steps [{elapsed}<{remaining}{postfix}]")


def footprint(where: str, sweep: Sweep, root, plans, store: str | None, overwrite: bool,
              extra: dict | None = None, metric_dims: dict | None = None) -> Footprint:
    """The run's estimated size and memory (``dyntheory._engine.footprint``), checked against the
    free disk and memory before any compute."""
    meta = _meta(sweep, root, metric_dims)
    meta["config"].update(extra or {})
    fp = estimate(sweep, plans, meta, in_memory=store is None)
    if store is None:
        check_memory_store(where, sweep, [parts for _, _, parts in plans])
    check_fits(where, fp, store, plans, reused=store_bytes(store) if store is not None else 0)
    return fp


def check_call(where: str, *, store, progress, overwrite, resume_every=None) -> None:
    """The call's own arguments, checked before any compute, each error naming field and value."""
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"{where}: store must be a directory path or None, got {store!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"{where}: progress must be True, False or None, got {progress!r}")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"{where}: overwrite must be True or False, got {overwrite!r}")
    number = isinstance(resume_every, (int, float, np.number)) and not isinstance(resume_every, bool)
    if resume_every is not None and (not number or not np.isfinite(resume_every) or resume_every < 0):
        raise ValueError(f"{where}: resume_every must be a number of seconds >= 0 (0: at every record step) or "
                         f"None, got {resume_every!r}")


def check_sizes(where: str, **sizes) -> None:
    for name, value in sizes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{where}: {name} must be a positive integer or None, got {value!r}")


def check_memory_store(where: str, sweep: Sweep, parts: list[Parts]) -> None:
    """A memory store holds every checkpoint and metric: refuse, before any compute, one that
    cannot fit."""
    members = sum(p.G * p.M for p in parts)
    metrics = members * len(sweep.record) * len(sweep.metric_names) * (8 if sweep.dtype == "float64" else 4)
    need = len(sweep.checkpoints) * sum(p.G * p.M * p.state_bytes for p in parts) + metrics
    budget = memory_budget()
    if need > 0.5 * budget:
        raise ValueError(f"{where}: store=None keeps all {len(sweep.checkpoints)} checkpoints and the metrics of "
                         f"every member in memory (about {need / 2 ** 30:.1f} GiB, more than half the {budget / 2 ** 30:.1f} GiB "
                         "available); pass store=<a directory>, or fewer checkpoints")


def plan_group(sweep: Sweep, task, model, max_members, max_resident, devices: list | None = None,
               coords: dict | None = None) -> tuple[Layout, dict, Parts]:
    layout = Layout(sweep)
    fns = compiled(sweep, task, model, coords=coords)
    return layout, fns, make_parts(sweep, layout, fns, max_members, max_resident, devices)


def check_metrics(where: str, sweep: Sweep, root, groups, plans) -> dict[str, list]:
    """Trace the user's metrics for one member of each group before compute; refuse one that
    fails or returns anything but numbers, naming it; return the extra dims of array-valued
    ones (``metric_shapes``), which must be the same in every compiled group."""
    if not sweep.metrics:
        return {}
    found = None
    for (coords, task, model), (layout, _, _) in zip(groups, plans):
        shapes = metric_shapes(where, sweep.metrics,
                               lambda ms, task=task, model=model, c=coords: compiled(sweep, task, model, ms, coords=c),
                               population_inputs(sweep, root, task, layout))
        dims = metric_dims(where, sweep.metrics, shapes, tuple(sweep.dims))
        if found is not None and dims != found:
            raise ValueError(f"{where}: array metrics change shape across compiled groups (at {coords}: {dims}, "
                             f"first group: {found}); a metric's dims must be the same for every member")
        found = dims
    return found


def lapack_devices(where: str, sweep: Sweep, groups, store: str | None, overwrite: bool) -> list | None:
    """The devices ``sweep`` runs on: None (all) unless, on several CPU devices, a step or metric
    of any of ``groups`` (``sweep.static_groups()``) calls LAPACK; then one device per process,
    with a warning naming the call (``lapack_fallback``). A finished ``store`` is loaded, not
    run. One device opens nothing and lowers nothing."""
    if not several_cpu_devices():
        return None
    if not overwrite and Store.exists(store) and Store.open(store).meta["complete"]:
        return None
    dtype = jnp.float64 if sweep.dtype == "float64" else jnp.float32
    for coords, task, model in groups:
        devices = lapack_fallback(where, sweep.metrics, lambda metrics, task=task, model=model, c=coords:
                                  lapack_calls(compiled(sweep, task, model, metrics, coords=c), task, dtype))
        if devices is not None:
            return devices
    return None


def population(sweep: Sweep, task, model) -> Population:
    opt = OptSpec(sweep.optimizer, sweep.schedule, sweep.steps, sweep.warmup, filters(sweep.interventions))
    return Population(task=task, model=model, opt=opt, batch_size=sweep.batch_size, metrics=sweep.metrics,
                      loss=sweep.loss, edits=data_edits(sweep.interventions))


@functools.lru_cache(maxsize=32)
def _compiled(task, model, opt: OptSpec, batch_size, metrics, loss=None, edits: bool = False) -> dict:
    # Keyed on the static configuration, so repeated train calls reuse jit caches.
    return Population(task=task, model=model, opt=opt, batch_size=batch_size, metrics=metrics, loss=loss,
                      edits=edits).build()


def compiled(sweep: Sweep, task, model, metrics: tuple | None = None, coords: dict | None = None) -> dict:
    """The population functions of ``sweep``'s group at static ``coords`` (with ``metrics``
    instead of its own, if given)."""
    # A constant schedule does not depend on the run length: share executables across lengths.
    steps = 0 if sweep.schedule == "constant" else sweep.steps
    opt = OptSpec(sweep.optimizer, sweep.schedule, steps, sweep.warmup, filters(sweep.interventions))
    return _compiled(task, model, opt, sweep.group_batch_size(coords or {}),
                     sweep.metrics if metrics is None else metrics, sweep.loss, data_edits(sweep.interventions))


def group_inputs(sweep: Sweep, root, st: Store, coords, task, model, layout: Layout) -> tuple:
    """``population_inputs`` with derived hyperparameters set (``dyntheory._engine.derive``),
    their values written to the store as ``derived/<target>``."""
    dtype = jnp.float64 if sweep.dtype == "float64" else jnp.float32
    inputs = population_inputs(sweep, root, task, layout)
    hps, values = derive_hparams(sweep, task, layout, inputs,
                                 lambda ms: compiled(sweep, task, model, ms, coords=coords), dtype)
    for target, v in values.items():
        st.ensure(f"derived/{target}", tuple(sweep.shape), v.dtype, tuple(sweep.dims), fill=np.nan)
        st.write(f"derived/{target}", static_index(sweep, coords), layout.to_user(v))
    return (hps,) + inputs[1:]


def population_inputs(sweep: Sweep, root, task, layout: Layout, hps=None) -> tuple:
    """What every part is built from: the (G, M) hyperparameters, the group setup arguments and
    the members' init keys, computed once for the whole population."""
    dtype = jnp.float64 if sweep.dtype == "float64" else jnp.float32
    hps = layout.hparams(dtype) if hps is None else hps
    keys = layout.group_keys(root)
    gargs = (keys["task"], keys["noise"], keys["data"], layout.task_params(task, dtype))
    return hps, gargs, layout.init_keys(root)


def initial_parts(sweep: Sweep, root, task, layout: Layout, fns, parts: Parts, ids: range | None = None,
                  *, hps=None, inputs: tuple | None = None):
    """Group states, member states and hyperparameters of parts ``ids`` (default: all), from
    ``inputs`` (``population_inputs``; computed here if not given)."""
    hps, gargs, init_keys = inputs or population_inputs(sweep, root, task, layout, hps)
    ids = range(parts.n) if ids is None else ids
    # Several devices in one process: setup and init run on one device, a device's block at a
    # time, and each block moves to its device (``Parts.build``). Sharded, they ran jaxlib's
    # batched LAPACK kernels (a teacher's SVD, a balanced init's QR) on every device at once, and
    # each kernel held one of XLA:CPU's intra-op threads while waiting for sub-tasks queued behind
    # the others: a deadlock (seen with gdb on two CPU devices). They run once per run, so one
    # device costs little.
    later = parts.mesh is not None and not multi()
    hps_in = parts.split(hps, ids=ids, place=not later)
    hp_parts = [parts.place(h) for h in hps_in] if later else hps_in
    if parts.axis == 1:
        gs_parts = [parts.build(fns["setup"], gargs, group_level=True)] * len(ids)
    else:
        gs_parts = [parts.build(fns["setup"], g, group_level=True) if later else fns["setup"](*g)
                    for g in parts.split(gargs, group_level=True, ids=ids, place=not later)]
    m_parts = [parts.build(fns["init"], (k, h)) if later else fns["init"](k, h)
               for k, h in zip(parts.split(init_keys, ids=ids, place=not later), hps_in)]
    return gs_parts, m_parts, hp_parts


def make_parts(sweep: Sweep, layout: Layout, fns, max_members: int | None,
               max_resident: int | None = None, devices: list | None = None) -> Parts:
    """The parts and waves of one group, sharded over ``devices`` (None: all)."""
    dtype = jnp.float64 if sweep.dtype == "float64" else jnp.float32
    one = HParams(**{n: jax.ShapeDtypeStruct((1, 1), dtype) for n in HPARAMS})  # shapes, no arrays
    state = state_bytes(fns, one)
    per = member_bytes(state, one)
    n_leaves = len(jax.tree.leaves(member_shapes(fns, one)))
    max_members = default_max_members(per) if max_members is None else max_members
    if max_resident is None:
        max_resident = default_resident(per, part_members(layout.G, layout.M, max_members,
                                                                len(devices or jax.devices())))
    # The defaults follow this host's free memory; every process must cut the population alike.
    max_members, max_resident = common(max_members, max_resident)
    return Parts(layout.G, layout.M, max_members, max_resident, state_bytes=state, member_bytes=per,
                 n_leaves=n_leaves, devices=devices)
