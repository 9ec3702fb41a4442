"""Hyperparameters derived per member from its initial state (``dt.derived`` axes).

Before a compiled group trains, its members are initialised and measured once at step 0 with
the derived axes' ``measure`` functions (a population compiled with those as its only metrics:
the same setup and init keys, so the same initial parameters), and each target hyperparameter is
set to ``rule(c, q)``. The values are written to the store (``derived/<target>``) and returned
with the run's metrics. This costs one initialisation and one measurement of the group.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from dyntheory._config.metric import FnMetric


def derive_hparams(sweep, task, layout, inputs, compiled_with, dtype):
    """The group's hyperparameters with derived targets set, and ``{target: (G, M) values}``.

    ``inputs`` are the group's ``population_inputs``; ``compiled_with(metrics)`` compiles the
    group's population functions measuring ``metrics``."""
    hps, gargs, keys = inputs
    derived = [(n, v) for n, v in sweep.axes if sweep.axis_kind(n) == "derived"]
    if not derived:
        return hps, {}
    metrics = tuple(sorted((f"derive_{n}", FnMetric(f"derive_{n}", d.measure)) for n, d in derived))
    fns = compiled_with(metrics)
    gs = fns["setup"](*gargs)
    members = fns["init"](keys, hps)
    out, _ = fns["measure"](gs, members, hps, 0)
    values = {}
    for n, d in derived:
        q = jnp.asarray(out[f"derive_{n}"], dtype)
        c = jnp.asarray(layout.coord(n), dtype)
        v = jnp.asarray(d.rule(c, q), dtype)
        if v.shape != q.shape:
            raise ValueError(f"derived axis {n!r}: rule(c, q) must give one {d.target} per member, got shape "
                             f"{v.shape}")
        bad = ~np.isfinite(np.asarray(v)) | (np.asarray(v) <= 0 if d.target == "lr" else False)
        if bad.any():
            raise ValueError(f"derived axis {n!r}: {int(bad.sum())} of {bad.size} members get an invalid "
                             f"{d.target} from rule(c, q) (first: c={float(np.asarray(c)[bad][0])!r}, "
                             f"q={float(np.asarray(q)[bad][0])!r}); check measure and rule")
        hps = dataclasses.replace(hps, **{d.target: v})
        values[d.target] = np.asarray(v)
    return hps, values
