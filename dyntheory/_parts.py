"""Split a population into equal parts that fit in memory, and shard each part over devices.

A compiled group's population is laid out ``(groups, members)``. When it is too large for one
step's working memory it is cut along one axis into equal parts (the last one padded by repeating
its final index, the padding dropped on the way out), so every part reuses one compiled program.
Parts advance in lockstep between recordings. Each part's arrays are sharded over all devices
(``jax.sharding``) along the axis that divides evenly; with ``jax.distributed`` initialised the
devices of every host take part.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


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


def member_bytes(fns, init_keys, hps) -> int:
    """A generous estimate of one member's memory while its part is stepped or measured.

    A compiled step walks its part in cache-sized chunks (``dyntheory._layout.ChunkPlan``), so the
    activations are bounded per chunk (``CHUNK_RESERVE``), not per member: what grows with the part
    is its state (held about four times over: in, regrouped in chunks, out, and on the host when
    written) and its hyperparameters.
    """
    shapes = jax.eval_shape(fns["init"], init_keys[:1, :1], jax.tree.map(lambda x: x[:1, :1], hps))
    state = sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    hp = sum(x.dtype.itemsize for x in jax.tree.leaves(hps))
    return 4 * state + 2 * hp + 64


class Parts:
    """Equal parts of a (G, M) population along ``axis`` (None: one part)."""

    def __init__(self, G: int, M: int, max_members: int):
        self.G, self.M = G, M
        if G * M <= max_members:
            self.axis, self.size, self.n = None, None, 1
        elif M <= max_members:
            self.axis, self.size = 0, max(1, max_members // M)
            self.n = math.ceil(G / self.size)
        else:
            self.axis, self.size = 1, max(1, max_members // G)
            self.n = math.ceil(M / self.size)
        mesh_devices = jax.devices()
        self.mesh = Mesh(np.array(mesh_devices), ("pop",)) if len(mesh_devices) > 1 else None

    def __repr__(self):
        return f"Parts(G={self.G}, M={self.M}, axis={self.axis}, size={self.size}, n={self.n})"

    def _index(self, c: int) -> np.ndarray:
        full = self.G if self.axis == 0 else self.M
        return np.minimum(np.arange(c * self.size, (c + 1) * self.size), full - 1)

    def split(self, tree: Any, *, group_level: bool = False) -> list:
        """Parts of a (G, M, ...) pytree (or a (G, ...) one with ``group_level``)."""
        if self.axis is None:
            return [self.place(tree, group_level)]
        if group_level and self.axis == 1:
            return [self.place(tree, group_level)] * self.n
        return [self.place(jax.tree.map(lambda x: jnp.take(x, self._index(c), axis=self.axis), tree), group_level)
                for c in range(self.n)]

    def merge(self, parts: list) -> Any:
        """Inverse of ``split`` for (G, M, ...) pytrees, as host numpy arrays."""
        if self.axis is None:
            return jax.tree.map(np.asarray, parts[0])
        full = self.G if self.axis == 0 else self.M

        def cat(*xs):
            out = np.concatenate([np.asarray(x) for x in xs], axis=self.axis)
            return out[:full] if self.axis == 0 else out[:, :full]

        return jax.tree.map(cat, *parts)

    def place(self, tree: Any, group_level: bool = False) -> Any:
        """Shard along groups (or members) over every device when the axis divides evenly."""
        if self.mesh is None:
            return tree
        n_dev = self.mesh.devices.size
        leaves = jax.tree.leaves(tree)
        if not leaves:
            return tree
        g = leaves[0].shape[0]
        m = leaves[0].shape[1] if not group_level and leaves[0].ndim > 1 else None
        if g % n_dev == 0:
            spec = PartitionSpec("pop")
        elif m is not None and m % n_dev == 0:
            spec = PartitionSpec(None, "pop")
        else:
            if not getattr(self, "_warned", False):
                warnings.warn(f"population of shape ({g}, {m}) does not divide over {n_dev} devices; "
                              "replicating instead of sharding", stacklevel=3)
                self._warned = True
            spec = PartitionSpec()
        if group_level and spec == PartitionSpec(None, "pop"):
            spec = PartitionSpec()
        return jax.device_put(tree, NamedSharding(self.mesh, spec))


# Working memory set aside for the chunks of one step or measurement (see ``member_bytes``).
CHUNK_RESERVE = 512 << 20


def default_max_members(per_member: int, budget: int | None = None) -> int:
    budget = budget if budget is not None else int(os.environ.get("DYNTHEORY_STEP_BYTES", 0)) or \
        max(min(available_memory() // 4, 4 << 30) - CHUNK_RESERVE, 64 << 20)
    return max(1, budget // max(per_member, 1))
