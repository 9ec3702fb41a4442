"""The Zarr store of a run: metrics, checkpoints, a resume state and a sha256 manifest.

Layout::

    zarr.json attrs["dyntheory"]  config, key, versions, coordinates, progress, manifest
    metrics/<name>                (*axes, seed, step), written one record step at a time
    diverged_at                   (*axes, seed)
    ckpt/g<k>/<leaf>              (checkpoint, groups, members, *leaf): full member state
    resume/<slot>/g<k>/<leaf>     the latest state, two slots written alternately

Progress is committed in the attrs only after the data it points to is written, so a process
killed at any moment leaves a store whose progress marker names finished work. Under
``jax.distributed`` only process 0 writes an on-disk store (``writer``); the others read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import jax
import numpy as np
import zarr

from dyntheory._platform.hosts import is_writer

FORMAT = 1


def leaf_name(path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", jax.tree_util.keystr(path)).strip("_") or "leaf"


def path_entries(path) -> list:
    out = []
    for p in path:
        if isinstance(p, jax.tree_util.DictKey):
            out.append(str(p.key))
        elif isinstance(p, jax.tree_util.SequenceKey):
            out.append(int(p.idx))
        elif isinstance(p, jax.tree_util.GetAttrKey):
            out.append(str(p.name))
        else:
            out.append(str(p))
    return out


def _chunks(shape: tuple[int, ...], lead: int, target: int = 1 << 21) -> tuple[int, ...]:
    """Chunk the leading ``lead`` axes as 1 and the population axes to about ``target`` elements."""
    rest = shape[lead:]
    tail = int(np.prod(rest[2:])) if len(rest) > 2 else 1
    g, m = (rest + (1, 1))[:2]
    mc = max(1, min(m, target // max(tail, 1)))
    gc = max(1, min(g, target // max(mc * tail, 1)))
    return (1,) * lead + ((gc, mc) + tuple(rest[2:]) if len(rest) >= 2 else tuple(rest))


def _row_blocks(arr, nbytes: int = 64 << 20, prefix: tuple = ()):
    """The array's data in C order, in blocks of leading rows of at most about ``nbytes`` (a row
    too large alone is cut along the next axis), so hashing never holds a whole array."""
    shape = arr.shape[len(prefix):]
    if not shape:
        yield arr[prefix]
        return
    row = int(np.prod(shape[1:])) * arr.dtype.itemsize
    if row > nbytes and len(shape) > 1:
        for i in range(shape[0]):
            yield from _row_blocks(arr, nbytes, prefix + (i,))
        return
    step = max(1, nbytes // max(row, 1))
    for i in range(0, max(shape[0], 1), step):
        yield arr[prefix + (slice(i, i + step),)]


class Store:
    """Read and write one run's Zarr group (a directory, or memory when ``path`` is None)."""

    def __init__(self, group: zarr.Group, path: str | None):
        self.group, self.path = group, path
        self.writer = is_writer(path)

    # ---- opening -----------------------------------------------------------------------------
    @staticmethod
    def exists(path: str | None) -> bool:
        return path is not None and os.path.exists(os.path.join(path, "zarr.json"))

    @classmethod
    def open(cls, path: str) -> Store:
        return cls(zarr.open_group(path, mode="r+" if is_writer(path) else "r"), path)

    @classmethod
    def create(cls, path: str | None, meta: dict[str, Any], *, overwrite: bool) -> Store:
        store = zarr.storage.MemoryStore() if path is None else path
        group = zarr.open_group(store, mode="w" if overwrite or path is None else "w-")
        group.attrs["dyntheory"] = {**meta, "format": FORMAT, "progress": {}, "complete": False}
        return cls(group, path)

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.group.attrs["dyntheory"])

    def _set_meta(self, **changes):
        if not self.writer:
            return
        meta = self.meta
        meta.update(changes)
        self.group.attrs["dyntheory"] = meta

    # ---- arrays ------------------------------------------------------------------------------
    def ensure(self, name: str, shape, dtype, dims: tuple[str, ...] | None = None, *,
               chunks: tuple[int, ...] | None = None, lead: int = 0, fill=0) -> zarr.Array | None:
        if name in self.group or not self.writer:
            return self.group.get(name)
        chunks = _chunks(tuple(shape), lead) if chunks is None else chunks
        return self.group.create_array(name, shape=tuple(shape), dtype=dtype, chunks=chunks,
                                       fill_value=fill, dimension_names=dims)

    def write(self, name: str, index, value) -> None:
        if self.writer:
            self.group[name][index] = np.asarray(value)

    def write_block(self, name: str, selection: tuple, value) -> None:
        """Write at a coordinate selection (one index array, or int, per dimension; broadcast)."""
        if self.writer:
            self.group[name].set_coordinate_selection(selection, np.asarray(value))

    def read(self, name: str, index=...) -> np.ndarray:
        return np.asarray(self.group[name][index])

    def write_state(self, prefix: str, leaves: dict[str, np.ndarray], index=None, n_lead: int = 0,
                    region: tuple[slice, ...] = (), full: tuple[int, ...] = ()) -> None:
        """Write state leaves, each at ``region`` of a (G, M, ...) array (``full`` = (G, M))."""
        if not self.writer:
            return
        for name, leaf in leaves.items():
            leaf = np.asarray(leaf)
            shape = tuple(full) + leaf.shape[len(full):] if region else leaf.shape
            lead = () if index is None else (index,)
            arr = self.ensure(f"{prefix}/{name}", (n_lead,) * len(lead) + shape, leaf.dtype, lead=len(lead))
            arr[lead + tuple(region) if lead or region else ...] = leaf

    def read_state(self, prefix: str, names, index=None, region: tuple[slice, ...] = ()) -> dict[str, np.ndarray]:
        sel = (() if index is None else (index,)) + tuple(region)
        return {n: np.asarray(self.group[f"{prefix}/{n}"][sel or ...]) for n in names}

    # ---- progress ----------------------------------------------------------------------------
    def progress(self, gid: int) -> dict[str, Any] | None:
        return self.meta["progress"].get(str(gid))

    def commit_progress(self, gid: int, **info) -> None:
        prog = dict(self.meta["progress"])
        prog[str(gid)] = info
        self._set_meta(progress=prog)

    # ---- integrity ---------------------------------------------------------------------------
    def _hashed_arrays(self) -> list[str]:
        names = []

        def walk(group, prefix):
            for key, item in sorted(group.members()):
                full = f"{prefix}{key}"
                if full.startswith("resume"):
                    continue
                if isinstance(item, zarr.Group):
                    walk(item, full + "/")
                else:
                    names.append(full)

        walk(self.group, "")
        return names

    def manifest(self) -> dict[str, str]:
        """sha256 of every array (but the resume state), read a block of leading rows at a time."""
        out = {}
        for name in self._hashed_arrays():
            arr = self.group[name]
            h = hashlib.sha256(json.dumps([str(arr.dtype), list(arr.shape)]).encode())
            for block in _row_blocks(arr):
                h.update(np.ascontiguousarray(block).tobytes())
            out[name] = h.hexdigest()
        return out

    def finish(self) -> None:
        if not self.writer:
            return
        if "resume" in self.group:
            del self.group["resume"]
        self._set_meta(complete=True, manifest=self.manifest())

    def verify(self) -> None:
        """Raise ``ValueError`` naming every array whose sha256 differs from the manifest."""
        expected = self.meta.get("manifest")
        if expected is None:
            raise ValueError(f"store {self.path!r} has no manifest: the run did not finish "
                             "(run the same dt.train call again to resume it)")
        got = self.manifest()
        bad = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
        if bad:
            raise ValueError(f"store {self.path!r} fails its sha256 manifest for: {bad}")
