"""Several hosts (``jax.distributed``): one writer, barriers, and global arrays back on the host.

With ``jax.distributed.initialize()`` called first, every process runs the same ``dt.train`` call.
The population's parts are sharded over the devices of every host (``dyntheory._engine.parts``); results
come back to every process whole (``to_host``), so each holds the same ``Run``. An on-disk store is
written by process 0 alone and read by all, so it must sit on a filesystem every host sees; a
memory store (``store=None``) is held by each process.
"""

from __future__ import annotations

import jax
import numpy as np


def multi() -> bool:
    return jax.process_count() > 1


def is_writer(path: str | None) -> bool:
    """Whether this process writes a store at ``path`` (every process writes its own memory store)."""
    return path is None or jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait for every process (a no-op in a single process)."""
    if multi():
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(f"dyntheory:{name}")


def to_host(x) -> np.ndarray:
    """A (possibly multi-host sharded) array as one numpy array, on every process."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def agree(flag: bool) -> bool:
    """Process 0's ``flag`` on every process, so that decisions taken on a clock stay collective."""
    if not multi():
        return flag
    from jax.experimental import multihost_utils
    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def common(*values: int) -> tuple[int, ...]:
    """Process 0's non-negative integers on every process (clipped to int32), so that sizes
    derived from each host's own free memory are the same everywhere."""
    values = tuple(min(int(v), 2**31 - 1) for v in values)
    if not multi():
        return values
    from jax.experimental import multihost_utils
    return tuple(int(v) for v in multihost_utils.broadcast_one_to_all(np.asarray(values, np.int32)))


def put(x, sharding):
    """``jax.device_put`` that also builds an array spanning several hosts' devices from the value
    every process holds (``device_put`` itself takes only this host's devices)."""
    if not multi() or sharding.is_fully_addressable:
        return jax.device_put(x, sharding)
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(put(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x))
    host = to_host(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
