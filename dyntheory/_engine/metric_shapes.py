"""What each metric returns for one member, found by tracing before compute (``jax.eval_shape``).

A metric that returns a string, or fails to trace, would otherwise fail inside the first
measurement with an error naming no metric; one whose shape the store cannot hold would fail
inside Zarr after the whole run. ``metric_shapes`` traces the measurement of a one-member
population (shapes only, nothing runs) and names the metric at fault.
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


def check_scalar_metrics(where: str, shapes: dict) -> None:
    """Refuse, naming it, a metric that is not one number per member (or not a number)."""
    for name, (shape, dtype) in sorted(shapes.items()):
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise ValueError(f"{where}: metric {name!r} returns dtype {dtype}; a metric returns numbers")
        if shape != ():
            raise ValueError(f"{where}: metric {name!r} returns shape {shape} per member; a metric returns one "
                             "number per member (reduce it, e.g. with .mean(), or record each entry as its own metric)")
