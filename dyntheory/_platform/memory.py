"""How much memory a run may use: the host's available memory (``/proc/meminfo``), the devices' free
memory where they keep statistics, and ``DYNTHEORY_MEMORY_BYTES`` over both."""

from __future__ import annotations

import os

import jax


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``), or 8 GiB if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


# Working memory set aside for the chunks of one step or measurement (see ``member_bytes``).
CHUNK_RESERVE = 512 << 20


def device_memory() -> int | None:
    """Bytes free on the devices a part is sharded over, or None where they keep no statistics of
    their own (CPU devices: their memory is the host's, ``available_memory``).

    A part puts an equal share on every device (``jax.devices()``, every host's), so the device
    with the least free memory binds: the device count times that least free share. Under
    JAX's GPU preallocation a device's limit is its pool, so free is what the pool has left."""
    free = []
    for d in jax.local_devices():
        stats = d.memory_stats()  # None where the backend keeps none (CPU)
        if not stats or "bytes_limit" not in stats:
            return None
        free.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    return len(jax.devices()) * max(min(free), 0)


def memory_budget(devices: bool = False) -> int:
    """The bytes a run may use: ``DYNTHEORY_MEMORY_BYTES`` if set, else the host memory available
    now; with ``devices``, no more than the devices have free either (``device_memory``), for what
    lives on them: a step's working memory and the parts' states held between steps."""
    env = int(os.environ.get("DYNTHEORY_MEMORY_BYTES", 0))
    if env:
        return env
    host = available_memory()
    dev = device_memory() if devices else None
    return host if dev is None else min(host, dev)
