"""``branch``: continue a stored run from a checkpoint with some hyperparameters changed.

Every member restarts from its full stored state (parameters, optimizer state, metric state) and
keeps its own task, data and noise streams, so a branched member and its unbranched twin see the
same batches at the same steps: a paired counterfactual.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from dyntheory._config.hparams import HPARAMS
from dyntheory._config.random import as_key
from dyntheory._config.sweep_values import _USED_BY, _check_hparam
from dyntheory._engine.layout import Layout
from dyntheory._engine.run import Run, check_same_sweep, coord_label, same_label
from dyntheory._engine.select import member_mask, per_member, wanted_values
from dyntheory._engine.store import writing
from dyntheory._engine.train import (_open_store, check_call, check_metrics, check_sizes, finished, footprint,
                                    group_inputs, initial_parts, lapack_devices, plan_group, population_inputs,
                                    progress_bar)
from dyntheory._engine.waves import resumed_parts, run_group, static_index, unflatten_state

BRANCHABLE = tuple(h for h in HPARAMS if h != "init_scale")


def _check_where(where, run: Run, sweep):
    """``where`` names axes of the run and values on its grid, or is a boolean mask over its dims
    (given the run's coordinates where it has none); returns it so."""
    dims = list(sweep.dims)
    if isinstance(where, xr.DataArray):
        if where.dtype != bool:
            raise ValueError(f"branch: a where mask must be boolean, got dtype {where.dtype}")
        unknown = [d for d in where.dims if d not in dims]
        if unknown:
            raise ValueError(f"branch: where mask has dims {unknown} that are not the run's dims {dims}")
        for d in where.dims:
            if d not in where.coords:
                if where.sizes[d] != len(run.coords[d]):
                    raise ValueError(f"branch: where mask has {where.sizes[d]} entries along {d!r}, the run "
                                     f"{len(run.coords[d])}")
                where = where.assign_coords({d: run.coords[d]})
            elif (where.sizes[d] != len(run.coords[d])
                  or not all(map(same_label, where[d].values.tolist(), run.coords[d]))):
                raise ValueError(f"branch: where mask's {d!r} coordinate {where[d].values.tolist()} is not the "
                                 f"run's {run.coords[d]}")
            else:  # the same values, perhaps spelt otherwise ("64" for 64): use the run's labels
                where = where.assign_coords({d: run.coords[d]})
        return where
    if not isinstance(where, Mapping):
        raise ValueError(f"branch: where must be a mapping of axis -> values or a boolean DataArray, got {where!r}")
    for name, want in where.items():
        if name not in dims:
            raise ValueError(f"branch: where names unknown axis {name!r}; axes: {sorted(dims)}")
        wanted = wanted_values(sweep, name, want)
        grid = run.coords[name]
        missing = [w for w in wanted if not any(same_label(w, g) for g in grid)]
        if missing:
            raise ValueError(f"branch: where[{name!r}] = {missing!r} is not on the run's grid {grid}; "
                             "it would select no member")
    return where


def branch(run: Run, *, step: int, changes: Mapping[str, float], where: Mapping[str, Any] | None = None,
           steps: int | None = None, record=None, checkpoints=None, store: str | None = None,
           progress: bool | None = None, overwrite: bool = False, sweep=None,
           max_members: int | None = None, max_resident: int | None = None) -> Run:
    """Start a new run from checkpoint ``step`` of ``run`` with hyperparameters changed.

    Args:
        run: a finished run (from ``dt.train`` or ``dt.load``; a loaded run needs ``sweep=``).
        step: a checkpoint step of ``run``.
        changes: hyperparameter -> new value (``lr``, ``momentum``, ``weight_decay``, ``b1``,
            ``b2``, ``eps``).
        where: axis -> value or list of values selecting the members to change (all if None);
            the others continue unchanged, bit-identical to ``run`` for the same steps.
        steps: the new run's total length (default: the original's).
        record, checkpoints: schedules of the new run (default: the original's from ``step`` on).
        max_members, max_resident: as in ``dt.train``.

    Returns:
        A ``Run`` over the same grid whose metrics start after ``step`` (the parent holds the
        values at ``step``; re-measuring would advance stateful metrics twice); its Dataset has a
        ``branched`` variable marking the changed members.

    Example:
        >>> twin = branch(run, step=512, changes={"lr": 0.01}, where={"lr": 0.1})  # doctest: +SKIP
    """
    check_call("branch", store=store, progress=progress, overwrite=overwrite)
    check_sizes("branch", max_members=max_members, max_resident=max_resident)
    store = None if store is None else os.fspath(store)
    sweep = sweep if sweep is not None else run.sweep
    if sweep is None:
        raise ValueError("branch: this run was loaded without its Sweep; pass sweep=")
    if step not in run.checkpoints:
        raise ValueError(f"branch: step={step!r} is not a checkpoint of the run; checkpoints: {list(run.checkpoints)}")
    for name, value in changes.items():
        if name not in BRANCHABLE:
            raise ValueError(f"branch: changes may name {BRANCHABLE}, got {name!r}")
        _check_hparam(name, value, f"branch: changes[{name!r}]")
        if name in _USED_BY and sweep is not None and sweep.optimizer not in _USED_BY[name]:
            raise ValueError(f"branch: changes[{name!r}] has no effect with optimizer={sweep.optimizer!r}; only "
                             f"{' or '.join(map(repr, _USED_BY[name]))} reads {name}")
    check_same_sweep("branch", sweep, run.meta)
    if store is not None and run.path is not None and os.path.realpath(store) == os.path.realpath(run.path):
        raise ValueError(f"branch: store={store!r} is the parent run's own store; branching into it would "
                         "destroy the parent: choose another store")
    where = {} if where is None else where
    where = _check_where(where, run, sweep)
    steps = sweep.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= step:
        raise ValueError(f"branch: steps must be an integer > step={step}, got {steps!r}")
    keep = lambda sched: tuple(sorted({s for s in sched if step < s <= steps} | {steps}))  # noqa: E731
    new = dataclasses.replace(sweep, steps=steps,
                              record=keep(sweep.record) if record is None else record,
                              checkpoints=keep(sweep.checkpoints) if checkpoints is None else checkpoints)
    if min(tuple(new.record) + tuple(new.checkpoints)) <= step:  # an intervention's earlier step is the parent's
        raise ValueError(f"branch: record and checkpoints must be > step={step}")
    root = as_key(np.asarray(run.meta["key"], dtype=np.uint32))
    origin = {"parent": str(run.path), "step": step, "changes": dict(changes), "where": _where_record(where)}
    _check_alive(run, new, where, step)
    with jax.enable_x64(new.dtype == "float64"):
        devices = lapack_devices("branch", new, new.static_groups(), store, overwrite)
        plans = [plan_group(new, task, model, max_members, max_resident, devices, coords)
                 for coords, task, model in new.static_groups()]
        mdims = check_metrics("branch", new, root, new.static_groups(), plans)
    fp = footprint("branch", new, root, plans, store, overwrite, extra={"branch": origin}, metric_dims=mdims)
    with writing(store, "branch"):
        return _branch_into(run, new, root, step, changes, where, store, overwrite, origin, progress,
                            plans, fp, steps, mdims)


def _where_record(where) -> Any:
    if isinstance(where, xr.DataArray):  # a mask: recorded by its dims and the members it selects
        return {"mask_dims": list(where.dims), "mask": np.asarray(where.values).astype(int).tolist()}
    return {k: coord_label(v) if not isinstance(v, (list, tuple, set)) else [coord_label(x) for x in v]
            for k, v in where.items()}


def _check_alive(run: Run, sweep, where, step: int) -> None:
    """Changing a member that diverged at or before ``step`` would be a silent no-op: refuse."""
    gone = (run.metrics["diverged_at"] >= 0) & (run.metrics["diverged_at"] <= step)
    layout = Layout(sweep)
    dead = sum(int((member_mask(layout, coords, where) & per_member(gone, layout, coords)).sum())
               for coords, _, _ in sweep.static_groups())
    if dead:
        raise ValueError(f"branch: {dead} of the members to change diverged at or before step={step}; their "
                         "frozen state would not change. Exclude them, e.g. where=(run.metrics.diverged_at < 0)")


def _branch_into(run, new, root, step, changes, where, store, overwrite, origin, progress, plans, fp,
                 steps, mdims) -> Run:
    st = _open_store(new, root, store, overwrite, extra={"branch": origin}, estimate=fp, metric_dims=mdims)
    if st.meta["complete"]:
        return Run(st, new)
    show = __import__("sys").stderr.isatty() if progress is None else progress
    groups = new.static_groups()
    branched = np.zeros(new.shape, bool)
    with jax.enable_x64(new.dtype == "float64"), \
            progress_bar((steps - step) * len(groups), show, "branch", fp) as bar:
        for gid, ((coords, task, model), (layout, fns, parts)) in enumerate(zip(groups, plans)):
            parts = resumed_parts(st, gid, parts)
            mask = member_mask(layout, coords, where)
            hps = group_inputs(new, root, st, coords, task, model, layout)[0]  # derived ones included
            hps = dataclasses.replace(hps, **{
                k: jnp.where(jnp.asarray(mask), jnp.asarray(v, getattr(hps, k).dtype), getattr(hps, k))
                for k, v in changes.items()})
            branched[static_index(new, coords)] = layout.to_user(mask)
            inputs = population_inputs(new, root, task, layout, hps)

            def from_checkpoint(ids, gid=gid, task=task, layout=layout, fns=fns, parts=parts, inputs=inputs):
                gs, members, hp_parts = initial_parts(new, root, task, layout, fns, parts, ids, inputs=inputs)
                stored = run.stored_state(step, gid, region=parts.region(ids))
                members = parts.split(unflatten_state(parts.merge(members, ids), stored), ids=ids, local=True)
                return gs, members, hp_parts

            run_group(new, st, gid, coords, layout, fns, parts, from_checkpoint, bar, 5.0, start=step)
    st.ensure("branched", new.shape, bool, tuple(new.dims), chunks=tuple(new.shape), fill=False)
    st.write("branched", ..., branched)
    return Run(finished(st), new)
