"""What a run will take, known before compute: the store's size on disk and the peak memory.

``dt.train`` and ``dt.branch`` estimate both from the sweep and the planned parts (shapes only,
nothing runs), refuse a run that cannot fit (the store past the free disk; one part's step past
the memory, when even streaming in waves cannot help), show the estimate beside the progress bar
and keep it in the run's attrs (``run.metrics.attrs["estimate"]``, JSON).

The store estimate counts the arrays' bytes uncompressed plus Zarr's per-array metadata and the
root attributes. zstd gains little on float weights and loss curves; what it does compress is
mostly optimizer state that is still zero at the first checkpoint (Adam's moments): a finished
store held 0.84-1.06x the estimate on three test sweeps (2026-12-06), and
tests/engine/test_footprint.py holds it within 20%. The estimate errs high, which is the safe
side for the disk check.

The memory estimate follows the planner (``dyntheory._engine.parts``): one part's step (its
state counted four times over, ``member_bytes``), the states of one wave held between steps
(three times), and the population's recorded metrics (and, without a store, its checkpoints).
It leaves out what XLA's compiler and the runtime take (hundreds of MiB while compiling), and the
cache-sized chunk activations of a step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

from dyntheory._platform.memory import memory_budget

# Bytes of one array's zarr.json (measured 650-720 on the test sweeps) and of its manifest entry
# in the root attributes (name and sha256).
ARRAY_META = 720
MANIFEST_ENTRY = 110


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Estimated bytes: the finished store, the store at its largest while running (two resume
    slots beside the checkpoints), and the peak memory."""

    store_bytes: int
    disk_bytes: int
    memory_bytes: int

    def line(self) -> str:
        return (f"estimate: store {_size(self.store_bytes)} on disk (peak {_size(self.disk_bytes)} while "
                f"running), memory peak {_size(self.memory_bytes)}")

    def attrs(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def estimate(sweep, plans: list[tuple], meta: dict, *, in_memory: bool) -> Footprint:
    """Bytes of ``sweep``'s run planned as ``plans`` (``(layout, fns, parts)`` per compiled group,
    each ``parts`` with ``state_bytes``, ``member_bytes`` and ``n_leaves`` set) with root
    attributes ``meta``."""
    members = 1
    for n in sweep.shape:
        members *= n
    itemsize = 8 if sweep.dtype == "float64" else 4
    n_metrics = len(sweep.metric_names)
    per_record = n_metrics  # values per member per record step; an array metric counts its entries
    for entries in (meta.get("metric_dims") or {}).values():
        size = 1
        for _, n, _ in entries:
            size *= n
        per_record += size - 1
    metrics = members * len(sweep.record) * per_record * itemsize
    states = sum(p.G * p.M * p.state_bytes for _, _, p in plans)
    leaves = sum(p.n_leaves for _, _, p in plans)
    n_arrays = n_metrics + 1 + leaves
    root = len(json.dumps(meta, sort_keys=True)) + n_arrays * MANIFEST_ENTRY
    store = metrics + 4 * members + len(sweep.checkpoints) * states + n_arrays * ARRAY_META + root
    disk = store + 2 * states + leaves * 2 * ARRAY_META
    peak = 0
    for _, _, p in plans:
        step = min(p.part_members * p.member_bytes, 4 << 30)
        held = min(p.G * p.M, p.per_wave * p.part_members) * 3 * p.state_bytes
        peak = max(peak, step + held)
    memory = peak + metrics + (len(sweep.checkpoints) * states if in_memory else 0)
    return Footprint(store_bytes=int(store), disk_bytes=int(disk), memory_bytes=int(memory))


def free_disk(path: str) -> int | None:
    """Free bytes on the filesystem that will hold ``path`` (its nearest existing ancestor)."""
    here = os.path.abspath(path)
    while not os.path.exists(here):
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    try:
        return shutil.disk_usage(here).free
    except OSError:
        return None


def check_fits(where: str, fp: Footprint, store: str | None, plans: list[tuple], *, reused: int = 0) -> None:
    """Refuse, before compute, a run whose store would not fit the free disk (``reused``: bytes of
    an existing store at ``store`` that will be replaced or resumed) or whose smallest step cannot
    fit in memory even streamed."""
    if store is not None:
        free = free_disk(store)
        if free is not None and fp.disk_bytes - reused > free:
            raise ValueError(f"{where}: store={store!r} would need about {_size(fp.disk_bytes)} on disk "
                             f"({fp.line()}), but only {_size(free)} is free there; record or checkpoint "
                             "fewer steps, or choose a store on a larger disk")
    budget = memory_budget(devices=True)
    for _, _, p in plans:
        one = p.member_bytes  # one member's state in a step, counted four times (``member_bytes``)
        if one > budget:
            raise ValueError(f"{where}: one member's step needs about {_size(one)}, more than the "
                             f"{_size(budget)} of memory available, so the population cannot run even "
                             "streamed one member at a time; use a smaller model")
