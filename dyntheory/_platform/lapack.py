"""LAPACK calls inside the sharded step or measurement: on several CPU devices, run on one.

jaxlib's CPU LAPACK kernels (``eigh``, ``svd``, ``qr``, ``lu``, ``cholesky``, triangular solves,
...) run a batch with ``ParallelBatchMap`` on XLA:CPU's intra-op threads. With several CPU devices
in one process, two devices each inside such a kernel waited for sub-tasks queued behind the other:
a deadlock, the process at 0% CPU for good (seen with gdb on two devices: a triangular solve, a
teacher's SVD, ``eigvalsh`` in a metric; see the README). The engine's own setup and init run on
one device at a time, and its metrics use matrix products only, but a user's metric, model or task
can still put such a kernel in the step or the measurement, which every device runs at once.

So before any compute, a run on several CPU devices lowers its step and measurement for a
one-member population and looks for LAPACK custom calls; where there are any, it warns, naming
the metric (or the step) that makes them, and runs that sweep on one device per process instead
of hanging. One CPU device, GPUs (cuSOLVER) and one device per process across hosts are not
affected.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import jax
import numpy as np


# A LAPACK kernel is a custom call's target; a function's own name ("lapack_helper") is not one.
_LAPACK = re.compile(r"custom_call @(lapack_\w+)")


def several_cpu_devices() -> bool:
    """Whether any process drives more than one CPU device: every process must decide alike, or
    those that refuse would leave the others waiting for them."""
    mine = jax.default_backend() == "cpu" and jax.local_device_count() > 1
    if jax.process_count() == 1:
        return mine
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.asarray(mine))))


def lapack_targets(text: str) -> list[str]:
    """The LAPACK custom-call targets in a lowered module's text."""
    return sorted(set(_LAPACK.findall(text)))


def lapack_culprits(metrics: tuple, calls_of: Callable[[tuple], dict[str, list[str]]]) -> list[str]:
    """What in the step or measurement with ``metrics`` calls LAPACK (empty: nothing).
    ``calls_of(metrics)`` gives the targets in ``{"advance": [...], "measure": [...]}`` (the
    engine lowers them); each metric that adds such a call to the measurement without metrics is
    named (each metric is lowered alone), and the step or that bare measurement (model, task)
    where the call is theirs."""
    calls = calls_of(metrics)
    if not calls["advance"] and not calls["measure"]:
        return []
    culprits = []
    if calls["advance"]:
        culprits.append(f"the training step (task batches, model or optimizer: {', '.join(calls['advance'])})")
    if calls["measure"]:
        bare = set(calls_of(())["measure"])
        if bare:
            culprits.append(f"the measurement without metrics (the task's evaluation sets or the model: "
                            f"{', '.join(sorted(bare))})")
        for name, m in metrics:
            extra = sorted(set(calls_of(((name, m),))["measure"]) - bare)
            if extra:
                culprits.append(f"metric {name!r} ({', '.join(extra)})")
    return culprits


def one_device_per_process() -> list:
    """The first device of each process: where a sweep that calls LAPACK runs instead."""
    first: dict[int, object] = {}
    for d in jax.devices():
        first.setdefault(d.process_index, d)
    return [first[p] for p in sorted(first)]


def lapack_fallback(where: str, metrics: tuple, calls_of: Callable[[tuple], dict[str, list[str]]]) -> list | None:
    """The devices to run on: None (all of them) unless the step or measurement calls LAPACK;
    then one device per process, with a warning naming the call."""
    culprits = lapack_culprits(metrics, calls_of)
    if not culprits:
        return None
    warnings.warn(
        f"{where}: {'; '.join(culprits)} calls LAPACK, and jaxlib's batched LAPACK kernels can deadlock "
        f"when several CPU devices of one process (here: {jax.local_device_count()}) run them at once; this "
        "sweep runs on one device per process instead. Compute it with matrix products (e.g. "
        "dyntheory.psd_top_eigenvalue for a top eigenvalue) to use every device.", RuntimeWarning, stacklevel=4)
    return one_device_per_process()
