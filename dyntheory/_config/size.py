"""How large a sweep may be: a bound checked at construction, from the sweep alone.

Two limits, neither needing the engine:

- ``SEED_LIMIT``: seeds are folded into keys as uint32, so there are 2**32 distinct seed values;
  seed 2**32 would silently replay seed 0's streams.
- Memory: whatever the engine does in waves, a finished run hands back every member's recorded
  metrics at once (``Run.metrics``), and the engine builds every member's inputs (its
  hyperparameters, stream seeds and key) for the whole population before the first wave. The
  sweep refuses a population whose metrics and inputs alone pass half this machine's physical
  memory (the other half left for the states, the steps and the copies made at the boundary):
  ``seeds=10**9`` fails here in microseconds instead of as a ``MemoryError`` or an XLA
  out-of-memory error minutes later.

The bound is a floor, not an estimate of a run's peak: a run that passes it may still need more
than the machine has (``dt.train`` sizes its parts and waves from the memory available then).
"""

from __future__ import annotations

import os

SEED_LIMIT = 2 ** 32
# Per member, held for the whole population at once: 7 hyperparameters, 4 stream seeds and a
# key, 8 bytes each at most.
INPUT_BYTES = 12 * 8


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def population_bytes(n_members: int, n_record: int, n_metrics: int, itemsize: int) -> int:
    """The floor above: every member's recorded metrics plus its inputs."""
    return n_members * (n_record * n_metrics * itemsize + INPUT_BYTES)


def check_population(shape: dict[str, int], n_record: int, n_metrics: int, itemsize: int) -> None:
    """Refuse, naming the sizes, a population (``shape``: dim -> length) past half the memory."""
    memory = physical_memory()
    n_members = 1
    for n in shape.values():
        n_members *= n
    need = population_bytes(n_members, n_record, n_metrics, itemsize)
    if memory is None or need <= memory / 2:
        return
    dims = " x ".join(f"{n:,} {d}" for d, n in shape.items())
    raise ValueError(
        f"Sweep is too large for this machine: {dims} = {n_members:,} members; their {n_record} "
        f"record steps x {n_metrics} metrics and inputs alone need {need / 2 ** 30:,.1f} GiB, more than "
        f"half its {memory / 2 ** 30:,.1f} GiB of memory. Use fewer seeds or axis values, or a sparser "
        f"record (Sweep.seeds={shape.get('seed')!r}, record steps={n_record})")
