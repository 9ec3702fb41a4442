"""How many members a chunk of a step or measurement holds: cache sizes from sysfs, the cores this
process may use, and the bytes a one-member jaxpr writes. Each constant keeps its measurement."""

from __future__ import annotations

import functools
import glob
import os

import jax
import numpy as np

from dyntheory._platform.memory import CHUNK_RESERVE


# A step (and a measurement) walks the population in chunks (see ``ChunkPlan``) of at most
# CHUNK_MEMBERS members and CHUNK_BYTES of intermediates (counted on one member's jaxpr): large
# enough that a chunk's fixed per-operation cost is small, small enough that its activations stay in
# cache instead of streaming through memory once per operation. Measured on dyntheory.bench's
# workloads: W1 and W3 steps at 10k-100k members ran 1.6-1.7x faster in chunks of 700-1400 members
# than unchunked; W1's measurement (a 1024-point test set) 2.4x faster in chunks of 64-128.
CHUNK_MEMBERS = 1024
CHUNK_BYTES = 64 << 20
# With several CPU devices each device takes its share of a chunk on one core, and there small
# chunks pay: 64 members a device. Measured 2026-12-04 on 2 devices, us per member-step in chunks
# of 128 against 1,024 members: W1 at 10,000 members 1.83 against 2.73, at 100,000 1.95 against
# 2.97; W3 at 10,000 0.80 against 1.59, at 100,000 0.81 against 1.62. On one device the size
# mattered little (64 to 1,024 members: W1 4.5-5.2 us, W3 1.8-2.5, neither best at 64 throughout).
CHUNK_MEMBERS_PER_CPU_DEVICE = 64
# There, too, a chunk's matrix product outputs fit in the L2 cache of the device's core: XLA:CPU
# writes a dot's output to memory and the next fusion reads it back (W1's measurement: the test
# set's (1,024, 32) hidden layer a member). Measured 2026-12-04 on 2 devices, W1's measurement at
# 1,000 members 17.8 -> 14.5 ms, at 10,000 193 -> 151 ms; W2, W3 and every step kept their chunks.
# On one device the same bound made W1's measurement slower (245 -> 305 ms at 10,000 members),
# so it applies only with one device per core.
# Off the CPU the cache argument does not hold: a GPU wants as many members in one kernel as fit,
# so there a chunk is bounded only by the working memory set aside for it (the parts' own
# CHUNK_RESERVE). A judgement, not a measurement: no GPU was lent to this project's sessions.
ACCELERATOR_CHUNK_BYTES = CHUNK_RESERVE


def chunk_cap(per_member_bytes: int, chunk_members: int | None = None, chunk_bytes: int | None = None,
              largest_dot_bytes: int = 0) -> int:
    """Members per chunk: ``DYNTHEORY_CHUNK_MEMBERS`` / ``DYNTHEORY_CHUNK_BYTES`` override the defaults.

    With one CPU device per core (or more devices than cores) a chunk's largest matrix product
    output (``largest_dot_bytes`` a member) also fits in the cores' L2 caches (see
    ``CHUNK_MEMBERS_PER_CPU_DEVICE``); with several cores a device, as on one device, it does not.
    """
    cpu, n_dev = jax.default_backend() == "cpu", jax.device_count()
    default = (CHUNK_MEMBERS if n_dev == 1 else CHUNK_MEMBERS_PER_CPU_DEVICE * n_dev) if cpu else 2 ** 31 - 1
    members = chunk_members or int(os.environ.get("DYNTHEORY_CHUNK_MEMBERS", 0))
    nbytes = chunk_bytes or int(os.environ.get("DYNTHEORY_CHUNK_BYTES", 0))
    chosen = bool(members or nbytes)  # the user's sizes replace the defaults, the L2 bound too
    cap = min(members or default, (nbytes or (CHUNK_BYTES if cpu else ACCELERATOR_CHUNK_BYTES))
              // max(per_member_bytes, 1))
    one_core_each = cpu and n_dev > 1 and jax.local_device_count() >= usable_cores()  # as measured
    l2 = l2_bytes() if one_core_each and not chosen else None
    if l2 and largest_dot_bytes:  # every device's share of a chunk in its cores' share of the L2
        cap = min(cap, l2 * n_dev // jax.local_device_count() // largest_dot_bytes)
    return max(1, cap)


@functools.cache
def l2_bytes(caches: str = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """This host's L2 cache over the cores this process may run on (None where sysfs does not say)."""
    for index in sorted(glob.glob(os.path.join(caches, "index*"))):
        try:
            level, kind, size, shared = (open(os.path.join(index, name)).read().strip()
                                         for name in ("level", "type", "size", "shared_cpu_list"))
        except OSError:
            continue
        if level == "2" and kind in ("Unified", "Data"):
            break
    else:
        return None
    per_cache = int(size.rstrip("KMG")) * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
    sharing = sum(int(b or a) - int(a) + 1 for a, _, b in (r.partition("-") for r in shared.split(",")))
    return per_cache * max(1, usable_cores() // sharing)


def usable_cores() -> int:
    """The cores this process may run on: its affinity, bounded by a cgroup CPU quota."""
    from dyntheory._platform.devices import usable_cores as counted
    return counted()


def jaxpr_bytes(jaxpr, largest_dot: bool = False) -> int:
    """Bytes of every intermediate a jaxpr writes (sub-jaxprs included, loop bodies once), or
    with ``largest_dot`` those of its largest matrix product's output."""
    total = 0
    for eqn in jaxpr.eqns:
        sizes = [int(np.prod(v.aval.shape)) * v.aval.dtype.itemsize for v in eqn.outvars
                 if hasattr(v.aval, "shape") and not jax.dtypes.issubdtype(v.aval.dtype, jax.dtypes.prng_key)]
        subs = [jaxpr_bytes(sub, largest_dot) for p in eqn.params.values()
                for sub in (getattr(x, "jaxpr", x) for x in (p if isinstance(p, (tuple, list)) else (p,)))
                if hasattr(sub, "eqns")]
        if largest_dot:
            total = max([total, *subs, *(sizes if eqn.primitive.name == "dot_general" else [])])
        else:
            total += sum(sizes) + sum(subs)
    return total
