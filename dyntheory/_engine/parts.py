"""Split a population into equal parts that fit in memory, and shard each part over devices.

A compiled group's population is laid out ``(groups, members)``. When it is too large for one
step's working memory it is cut along one axis into the fewest equal parts that fit, each as
small as that number allows (the last one padded by repeating its final index, the padding dropped on the way
out), so every part reuses one compiled program.
Parts advance in lockstep between recordings. When even the parts' states together outgrow the
memory (``resident``), the parts are taken in *waves*: each wave is built, trained from start to
finish and written to the store before the next is built, so a population larger than memory
streams through. Each part's arrays are sharded over all devices (``jax.sharding``) along the axis
that divides evenly; with ``jax.distributed`` initialised the devices of every host take part.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dyntheory._platform.hosts import multi, put, to_host
from dyntheory._platform.memory import CHUNK_RESERVE, memory_budget


def state_bytes(fns, hps) -> int:
    """Bytes of one member's training state (parameters, optimizer and metric state), from the
    shapes alone; ``hps`` may be ``jax.ShapeDtypeStruct`` leaves shaped (1, 1)."""
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(member_shapes(fns, hps)))


def member_shapes(fns, hps):
    """Shapes of the member states ``fns["init"]`` makes for ``hps`` (``jax.ShapeDtypeStruct``
    leaves shaped (G, M)), computed without running it."""
    keys = jax.ShapeDtypeStruct(jax.tree.leaves(hps)[0].shape, jax.random.key(0).dtype)
    return jax.eval_shape(fns["init"], keys, hps)


def member_bytes(state: int, hps) -> int:
    """A generous estimate of one member's memory while its part is stepped or measured, from its
    state's bytes (``state_bytes``).

    A compiled step walks its part in cache-sized chunks (``dyntheory._engine.chunks.ChunkPlan``), so the
    activations are bounded per chunk (``CHUNK_RESERVE``), not per member: what grows with the part
    is its state (held about four times over: in, regrouped in chunks, out, and on the host when
    written) and its hyperparameters.
    """
    hp = sum(x.dtype.itemsize for x in jax.tree.leaves(hps))
    return 4 * state + 2 * hp + 64


def _cut(G: int, M: int, max_members: int, multiple: int = 1) -> tuple[int | None, int | None, int]:
    """(axis, size, n): cut along groups, or members when one group is too large, into n parts.

    The fewest parts that fit, each as even as it can be: ``ceil(full / n)`` rounded up to a
    ``multiple`` (the device count, so that a part still shards) where that still fits. Parts of
    the largest size that fits would pad the last one, and padding members cost as much compute as
    real ones (measured: W2 at 10,000 members, cut into 4 parts of 327 groups for 1,000 groups,
    ran 1.31x the per-member cost of 1,000 members; see the README).
    """
    if G * M <= max_members:
        return None, None, 1
    axis, full, other = (0, G, M) if M <= max_members else (1, M, G)
    most = max(1, max_members // other)
    n = math.ceil(full / most)
    even = math.ceil(full / n)
    size = min(most, -(-even // multiple) * multiple)
    return axis, size, math.ceil(full / size)


def part_members(G: int, M: int, max_members: int, multiple: int = 1) -> int:
    """Members in one part of a (G, M) population cut for ``max_members`` (padding included)."""
    axis, size, _ = _cut(G, M, max_members, multiple)
    return _members_in(G, M, axis, size)


def _members_in(G: int, M: int, axis: int | None, size: int | None) -> int:
    return G * M if axis is None else size * (M if axis == 0 else G)


class Parts:
    """Equal parts of a (G, M) population along ``axis`` (None: one part), taken in waves.

    ``resident`` is how many members may be held in memory at once (None: all); the parts are
    grouped into waves of ``per_wave`` parts, at least one. Each part shards over ``devices``
    (default: every device, ``jax.devices()``).
    """

    def __init__(self, G: int, M: int, max_members: int, resident: int | None = None, *, state_bytes: int = 0,
                 member_bytes: int = 0, n_leaves: int = 0, devices: list | None = None):
        self.G, self.M = G, M
        mesh_devices = list(devices) if devices is not None else jax.devices()
        self.axis, self.size, self.n = _cut(G, M, max_members, len(mesh_devices))
        self.part_members = part_members(G, M, max_members, len(mesh_devices))  # padding included
        # A part shards over as many devices as divide one of its axes: replicating it instead
        # would have every device do all of its work.
        shape = (G, M) if self.axis is None else (self.size, M) if self.axis == 0 else (G, self.size)
        k = next(k for k in range(len(mesh_devices), 0, -1) if shape[0] % k == 0 or shape[1] % k == 0)
        if multi():  # under jax.distributed every process must hold a share: no fewer devices
            k = len(mesh_devices)
        mesh_devices = mesh_devices[:k]
        self.mesh = Mesh(np.array(mesh_devices), ("pop",)) if len(mesh_devices) > 1 else None
        self.per_wave = self.n if resident is None else min(self.n, max(1, resident // self.part_members))
        self.n_waves = math.ceil(self.n / self.per_wave)
        self.state_bytes = state_bytes  # one member's training state (0: not given)
        self.member_bytes = member_bytes  # one member's memory while stepped (``member_bytes``)
        self.n_leaves = n_leaves  # leaves of a member's state (arrays of a checkpoint)

    def plan(self) -> dict:
        """The cut, as recorded in a store's progress marker (plain ints, JSON-ready)."""
        return {"axis": self.axis, "size": self.size, "per_wave": self.per_wave}

    def with_plan(self, plan: dict) -> Parts:
        """These parts cut as ``plan`` says (``plan()`` of the run that wrote a store): a resumed
        run must take the waves it was killed in, whatever memory it finds free now."""
        out = copy.copy(self)
        out.axis, out.size, out.per_wave = plan["axis"], plan["size"], plan["per_wave"]
        out.n = 1 if out.axis is None else math.ceil(out._full / out.size)
        out.part_members = _members_in(self.G, self.M, out.axis, out.size)
        out.n_waves = math.ceil(out.n / out.per_wave)
        return out

    def __repr__(self):
        return (f"Parts(G={self.G}, M={self.M}, axis={self.axis}, size={self.size}, n={self.n}, "
                f"waves={self.n_waves})")

    @property
    def _full(self) -> int:
        return self.G if self.axis == 0 else self.M

    def wave(self, w: int) -> range:
        """The part ids of wave ``w``."""
        return range(w * self.per_wave, min((w + 1) * self.per_wave, self.n))

    def span(self, ids: range) -> tuple[int, int]:
        """The [lo, hi) range along ``axis`` that parts ``ids`` cover (padding excluded)."""
        if self.axis is None:
            return 0, self.G
        return ids.start * self.size, min(ids.stop * self.size, self._full)

    def region(self, ids: range) -> tuple[slice, ...]:
        """Index of parts ``ids`` in a (G, M, ...) array: everything when they are all the parts."""
        if self.axis is None or (ids.start == 0 and ids.stop == self.n):
            return ()
        lo, hi = self.span(ids)
        return (slice(None),) * self.axis + (slice(lo, hi),)

    def _index(self, c: int, lo: int = 0) -> np.ndarray:
        return np.minimum(np.arange(c * self.size, (c + 1) * self.size), self._full - 1) - lo

    def split(self, tree: Any, *, group_level: bool = False, ids: range | None = None,
              local: bool = False, place: bool = True) -> list:
        """Parts ``ids`` (default all) of a (G, M, ...) pytree (or a (G, ...) one with ``group_level``).

        With ``local`` the tree holds only the region of ``ids`` (as ``merge`` returns it); with
        ``place=False`` the parts stay on the default device instead of being sharded.
        """
        ids = range(self.n) if ids is None else ids
        put_ = (lambda t: self.place(t, group_level)) if place else (lambda t: t)
        if self.axis is None:
            return [put_(tree)]
        if group_level and self.axis == 1:
            return [put_(tree)] * len(ids)
        lo = self.span(ids)[0] if local else 0
        return [put_(jax.tree.map(lambda x: jnp.take(x, self._index(c, lo), axis=self.axis), tree))
                for c in ids]

    def merge(self, parts: list, ids: range | None = None) -> Any:
        """Inverse of ``split`` for (G, M, ...) pytrees, as host numpy arrays: the region of ``ids``."""
        if self.axis is None:
            return jax.tree.map(to_host, parts[0])
        ids = range(self.n) if ids is None else ids
        lo, hi = self.span(ids)

        def cat(*xs):
            out = np.concatenate([to_host(x) for x in xs], axis=self.axis)
            return out[:hi - lo] if self.axis == 0 else out[:, :hi - lo]

        return jax.tree.map(cat, *parts)

    def spec(self, g: int, m: int | None) -> PartitionSpec:
        """How a (g, m, ...) array (m None: a (g, ...) group-level one) shards: along groups when
        they divide over the devices, else along members, else replicated."""
        n_dev = self.mesh.devices.size
        if g % n_dev == 0:
            return PartitionSpec("pop")
        if m is not None and m % n_dev == 0:
            return PartitionSpec(None, "pop")
        if m is not None and not getattr(self, "_warned", False):  # group-level arrays replicate by design
            warnings.warn(f"population of shape ({g}, {m}) does not divide over {n_dev} devices; "
                          "replicating instead of sharding", stacklevel=4)
            self._warned = True
        return PartitionSpec()

    def _spec_of(self, tree: Any, group_level: bool) -> PartitionSpec:
        shape = jax.tree.leaves(tree)[0].shape
        return self.spec(shape[0], shape[1] if not group_level and len(shape) > 1 else None)

    def place(self, tree: Any, group_level: bool = False) -> Any:
        """Shard along groups (or members) over every device when the axis divides evenly."""
        if self.mesh is None or not jax.tree.leaves(tree):
            return tree
        sharding = NamedSharding(self.mesh, self._spec_of(tree, group_level))
        return jax.tree.map(lambda x: put(x, sharding), tree)

    def build(self, fn, args: tuple, group_level: bool = False) -> Any:
        """``place(fn(*args))`` without holding the unsharded result and its shards at once.

        The leaves of ``args`` lead with the population axes, as the result's do. ``fn`` runs on
        the default device, on one device's block of ``args`` at a time, the last device's first;
        each block moves to its device (its source freed) before the next is computed, and the
        default device keeps its own block where it was made. So ``fn`` never runs on two devices
        at once (see ``_train.initial_parts``), and memory peaks near the result's size: placing a
        whole result copied it while it was still held, and a million W3 members (6.5 GiB of
        group test sets) peaked at 11.3 GiB on two devices against 7.5 on one (2026-12-04).
        """
        if self.mesh is None or multi():
            return self.place(fn(*args), group_level)
        out = jax.eval_shape(fn, *args)
        if not jax.tree.leaves(out):
            return out
        spec = self._spec_of(out, group_level)
        if spec == PartitionSpec():
            return self.place(fn(*args), group_level)
        axis = len(spec) - 1  # ("pop",): groups; (None, "pop"): members
        devices = list(self.mesh.devices.flat)
        b = jax.tree.leaves(out)[0].shape[axis] // len(devices)
        blocks = {}
        for d in reversed(range(len(devices))):
            piece = jax.tree.map(lambda x: jax.lax.slice_in_dim(x, d * b, (d + 1) * b, axis=axis), args)
            blocks[d] = jax.block_until_ready(jax.device_put(fn(*piece), devices[d], donate=True))
        sharding = NamedSharding(self.mesh, spec)
        return jax.tree.map(lambda x, *bs: _assemble(x.shape, sharding, list(bs)), out,
                            *(blocks[d] for d in range(len(devices))))


def _assemble(shape, sharding, blocks: list) -> jax.Array:
    """One array from its devices' blocks (typed PRNG keys through their key data)."""
    if jax.dtypes.issubdtype(blocks[0].dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(blocks[0])
        data = [jax.random.key_data(k) for k in blocks]
        whole = jax.make_array_from_single_device_arrays(shape + data[0].shape[len(shape):], sharding, data)
        return jax.random.wrap_key_data(whole, impl=impl)
    return jax.make_array_from_single_device_arrays(shape, sharding, blocks)


def default_max_members(per_member: int, budget: int | None = None) -> int:
    budget = budget if budget is not None else int(os.environ.get("DYNTHEORY_STEP_BYTES", 0)) or \
        max(min(memory_budget(devices=True) // 4, 4 << 30) - CHUNK_RESERVE, 64 << 20)
    return max(1, budget // max(per_member, 1))


def default_resident(per_member: int, part_members: int, budget: int | None = None) -> int:
    """Members that may be held at once: those whose states fit in 60% of the budget after one
    part's step working memory (``member_bytes`` counts the state four times; held between steps,
    a state is counted three times: on the devices, merged on the host, and written out)."""
    budget = memory_budget(devices=True) if budget is None else budget
    step = min(part_members * per_member, 4 << 30) + CHUNK_RESERVE
    held = max(1, 3 * (per_member - 64) // 4)
    return max(part_members, int(0.6 * max(budget - step, 0)) // held)
