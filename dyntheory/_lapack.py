"""LAPACK calls inside the sharded step or measurement, refused on several CPU devices.

jaxlib's CPU LAPACK kernels (``eigh``, ``svd``, ``qr``, ``lu``, ``cholesky``, triangular solves,
...) run a batch with ``ParallelBatchMap`` on XLA:CPU's intra-op threads. With several CPU devices
in one process, two devices each inside such a kernel waited for sub-tasks queued behind the other:
a deadlock, the process at 0% CPU for good (seen with gdb on two devices: a triangular solve, a
teacher's SVD, ``eigvalsh`` in a metric; see the README). The engine's own setup and init run on
one device at a time, and its metrics use matrix products only, but a user's metric, model or task
can still put such a kernel in the step or the measurement, which every device runs at once.

So before any compute, a run on several CPU devices lowers its step and measurement for a
one-member population and looks for LAPACK custom calls; where there are any, it names the
metric (or the step) that makes them and refuses, instead of hanging. One CPU device, GPUs
(cuSOLVER) and one device per process across hosts are not affected.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import jax

from dyntheory._hparams import HPARAMS, HParams

_LAPACK = re.compile(r"lapack_\w+")


def several_cpu_devices() -> bool:
    """Whether this process drives more than one CPU device (the population's mesh is local)."""
    return jax.default_backend() == "cpu" and jax.local_device_count() > 1


def lapack_calls(fns: dict, task, dtype) -> dict[str, list[str]]:
    """The LAPACK custom-call targets in ``fns``'s ``advance`` and ``measure``, lowered (not
    compiled, nothing runs) for a population of one member."""
    key = jax.ShapeDtypeStruct((1,), jax.random.key(0).dtype)
    tp = {f: jax.ShapeDtypeStruct((1,), dtype) for f in type(task).traced_fields}
    hps = HParams(**{n: jax.ShapeDtypeStruct((1, 1), dtype) for n in HPARAMS})
    gs = jax.eval_shape(fns["setup"], key, key, key, tp)
    members = jax.eval_shape(fns["init"], jax.ShapeDtypeStruct((1, 1), key.dtype), hps)
    t = jax.ShapeDtypeStruct((), "int32")
    texts = {"advance": fns["advance"].lower(gs, members, hps, t, t).as_text(),
             "measure": fns["measure"].lower(gs, members, hps, t).as_text()}
    return {name: sorted(set(_LAPACK.findall(text))) for name, text in texts.items()}


def refuse_lapack(where: str, metrics: tuple, task, dtype, build: Callable[[tuple], dict]) -> None:
    """Raise if the step or measurement built by ``build(metrics)`` calls LAPACK; the error names
    each metric that does (each is lowered alone) or else the step's parts."""
    calls = lapack_calls(build(metrics), task, dtype)
    if not calls["advance"] and not calls["measure"]:
        return
    culprits = []
    if calls["advance"]:
        culprits.append(f"the training step (task batches, model or optimizer: {', '.join(calls['advance'])})")
    if calls["measure"]:
        alone = {name: lapack_calls(build(((name, m),)), task, dtype)["measure"] for name, m in metrics}
        named = [f"metric {name!r} ({', '.join(c)})" for name, c in alone.items() if c]
        culprits += named or [f"the measurement ({', '.join(calls['measure'])})"]
    raise ValueError(
        f"{where}: {'; '.join(culprits)} calls LAPACK, and jaxlib's batched LAPACK kernels can deadlock "
        f"when the {jax.local_device_count()} CPU devices of this process run them at once. Compute it "
        "with matrix products (e.g. dyntheory.psd_top_eigenvalue for a top eigenvalue), or run on one "
        "CPU device (no --xla_force_host_platform_device_count / jax_num_cpu_devices).")
