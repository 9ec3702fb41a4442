"""What each metric returns for one member, found by tracing before compute (``jax.eval_shape``).

A metric that returns a string, or fails to trace, would otherwise fail inside the first
measurement with an error naming no metric. ``metric_shapes`` traces the measurement of a
one-member population (shapes only, nothing runs) and names the metric at fault; an array-valued
metric's axes become extra labelled dims of its recorded values (``metric_dims``: declared with
``dt.metrics.labelled``, else ``<name>_0``, ...), kept in the store's ``metric_dims``.
"""

from __future__ import annotations

import jax
import numpy as np


def _one_member(tree, group_level: bool = False):
    """The first member (or group) of population inputs, as shapes: (1, 1, ...) or (1, ...)."""
    lead = 1 if group_level else 2
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct((1,) * lead + tuple(x.shape[lead:]), x.dtype), tree)


def metric_shapes(where: str, metrics: tuple, measure_of, inputs) -> dict[str, tuple[int, ...]]:
    """Per-member shape and dtype of every recorded value, ``{name: (shape, dtype)}``.

    ``measure_of(metrics)`` gives the compiled population functions measuring ``metrics`` (the
    engine's ``compiled``); ``inputs`` are the population inputs (``population_inputs``).
    """
    hps, gargs, keys = inputs
    hps1, keys1, gargs1 = _one_member(hps), _one_member(keys), _one_member(gargs, group_level=True)

    def trace(ms: tuple):
        fns = measure_of(ms)
        gs = jax.eval_shape(fns["setup"], *gargs1)
        members = jax.eval_shape(fns["init"], keys1, hps1)
        return jax.eval_shape(fns["measure"], gs, members, hps1, 0)[0]

    try:
        out = trace(metrics)
    except Exception as first:  # noqa: BLE001 - find which metric fails, then say so
        for name, m in metrics:
            try:
                trace(((name, m),))
            except Exception as e:  # noqa: BLE001
                raise ValueError(f"{where}: metric {name!r} fails when traced for one member before compute "
                                 f"({type(e).__name__}: {e})") from e
        raise first
    return {name: (tuple(x.shape[2:]), np.dtype(x.dtype)) for name, x in out.items()}


def metric_dims(where: str, metrics: tuple, shapes: dict, sweep_dims: tuple[str, ...]) -> dict[str, list]:
    """The extra dims of each array-valued metric: ``{name: [[dim, size, coords or None], ...]}``
    (scalar metrics are left out). Refuses, naming the metric, a value that is not numeric, dims
    declared for another number of axes, a dim that clashes with the sweep's, or one dim name
    given two sizes by two metrics."""
    out: dict[str, list] = {}
    sizes: dict[str, tuple[int, str]] = {}
    for name, (shape, dtype) in sorted(shapes.items()):
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise ValueError(f"{where}: metric {name!r} returns dtype {dtype}; a metric returns numbers")
    for name, m in metrics:
        shape, _ = shapes[name]
        declared = getattr(m, "dims", None)
        if not shape:
            if declared:
                raise ValueError(f"{where}: metric {name!r} declares dims {list(declared)} but returns one number "
                                 "per member")
            continue
        dims = tuple(declared) if declared else tuple(f"{name}_{i}" for i in range(len(shape)))
        if len(dims) != len(shape):
            raise ValueError(f"{where}: metric {name!r} returns shape {shape} per member but declares dims "
                             f"{list(dims)}; give one name per axis")
        coords = dict(getattr(m, "coords", ()) or ())
        entry = []
        for d, n in zip(dims, shape):
            if d in sweep_dims or d == "step":
                raise ValueError(f"{where}: metric {name!r} dim {d!r} clashes with the run's dims "
                                 f"{list(sweep_dims) + ['step']}; choose another name")
            if d in sizes and sizes[d][0] != n:
                raise ValueError(f"{where}: dim {d!r} has size {sizes[d][0]} in metric {sizes[d][1]!r} but {n} in "
                                 f"metric {name!r}; one dim name, one size")
            sizes[d] = (n, name)
            labels = coords.get(d)
            if labels is not None and len(labels) != n:
                raise ValueError(f"{where}: metric {name!r} labels dim {d!r} with {len(labels)} coords, but the "
                                 f"dim has size {n}")
            entry.append([d, int(n), None if labels is None else [_plain(v) for v in labels]])
        out[name] = entry
    return out


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
