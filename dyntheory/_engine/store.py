"""The Zarr store of a run: metrics, checkpoints, a resume state and a sha256 manifest.

Layout::

    zarr.json attrs["dyntheory"]  config, key, versions, coordinates, progress, manifest,
                                  labels (sha256 of each label field)
    .dyntheory.lock               the one-writer lock (dyntheory._platform.locks)
    metrics/<name>                (*axes, seed, step, *metric dims), written one record step at a time
    diverged_at                   (*axes, seed)
    ckpt/g<k>/<leaf>              (checkpoint, groups, members, *leaf): full member state
    resume/<slot>/g<k>/<leaf>     the latest state, two slots written alternately

Progress is committed in the attrs only after the data it points to is written, so a process
killed at any moment leaves a store whose progress marker names finished work. Under
``jax.distributed`` only process 0 writes an on-disk store (``writer``); the others read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from typing import Any

import jax
import numpy as np
import zarr

from dyntheory._platform.hosts import is_writer
from dyntheory._platform.locks import LOCK_NAME, clear_except_lock, hold

FORMAT = 2
# Everything in the root attributes that gives the numbers their meaning; each is hashed when the
# store is created (``labels``) and checked on every load and resume, so an edited coordinate,
# record step or seed order is refused by name instead of relabelling the arrays.
LABEL_FIELDS = ("config", "key", "dims", "shape", "coords", "record", "checkpoints", "static_dims", "metrics",
                "dtype", "group_dims", "member_dims", "metric_dims")


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def label_hashes(meta: dict[str, Any]) -> dict[str, str]:
    return {f: _sha(meta.get(f)) for f in LABEL_FIELDS}


def state_hashes(leaves: dict[str, np.ndarray]) -> dict[str, str]:
    """sha256 of each state leaf (dtype, shape and bytes), as a resume slot is written and read."""
    out = {}
    for name, leaf in leaves.items():
        leaf = np.ascontiguousarray(leaf)
        h = hashlib.sha256(json.dumps([str(leaf.dtype), list(leaf.shape)]).encode())
        h.update(leaf.tobytes())
        out[name] = h.hexdigest()
    return out


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


def store_bytes(path: str) -> int:
    """Bytes of the files under ``path`` (0 if there is none): what a store holds on disk."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:  # removed while walking
                pass
    return total


def writing(path: str | None, where: str):
    """The store's one-writer lock, held by the process that writes ``path`` (none for memory)."""
    return hold(path, where) if path is not None and is_writer(path) else contextlib.nullcontext()


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
    def open(cls, path: str, *, readonly: bool = False) -> Store:
        """Open a store (read-only with ``readonly``, and on every process but the writer)."""
        try:
            group = zarr.open_group(path, mode="r" if readonly or not is_writer(path) else "r+")
            attrs = dict(group.attrs)
        except (ValueError, KeyError, OSError) as e:  # a truncated zarr.json is a JSONDecodeError
            raise ValueError(f"store {path!r}: its root zarr.json cannot be read ({type(e).__name__}: {e}); "
                             "the store is damaged") from None
        if "dyntheory" not in attrs:
            raise ValueError(f"store {path!r} is a Zarr group but not a dyntheory store (no 'dyntheory' "
                             "attributes)")
        return cls(group, path)

    @classmethod
    def create(cls, path: str | None, meta: dict[str, Any], *, overwrite: bool) -> Store:
        if path is None:
            group = zarr.open_group(zarr.storage.MemoryStore(), mode="w")
        else:
            other = [n for n in os.listdir(path) if n != LOCK_NAME] if os.path.isdir(path) else []
            if other and not overwrite:
                raise ValueError(f"store {path!r} exists and is not a dyntheory store (it holds {other[:3]}); "
                                 "pass overwrite=True to replace it, or choose another store")
            if other:
                clear_except_lock(path)  # the held lock file stays: see dyntheory._platform.locks
            group = zarr.open_group(path, mode="a")
        group.attrs["dyntheory"] = {**meta, "format": FORMAT, "progress": {}, "complete": False,
                                    "labels": label_hashes(meta)}
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
        try:
            return np.asarray(self.group[name][index])
        except KeyError:
            raise
        except Exception as e:  # noqa: BLE001 - a codec's error (zstd, ...) names no array
            raise ValueError(f"store {self.path!r}: array {name!r} cannot be read ({type(e).__name__}: {e}); "
                             "the store is damaged") from None

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
        return {n: self.read(f"{prefix}/{n}", sel or ...) for n in names}

    def read_resume(self, gid: int, prog: dict[str, Any], region: tuple[slice, ...] = ()) -> dict | None:
        """``{"step", "slot", "hashes", "leaves"}`` of the resume state ``prog`` points to, checked
        against the hashes taken when it was written; if that slot fails, the previous slot if it
        still checks out; None if neither does (the wave restarts from its first step). Each
        fallback warns."""
        names = [name for name, _ in prog["paths"]]
        for entry in (prog, prog.get("previous")):
            if not entry or not entry.get("slot"):
                continue
            try:
                leaves = self.read_state(f"resume/{entry['slot']}/g{gid}", names, region=region)
            except (KeyError, ValueError):
                leaves = None
            if leaves is not None and state_hashes(leaves) == entry.get("hashes"):
                if entry is not prog:
                    warnings.warn(f"store {self.path!r}: resume slot {prog['slot']!r} of group {gid} fails its "
                                  f"sha256; resuming from slot {entry['slot']!r} at step {entry['step']}",
                                  RuntimeWarning, stacklevel=3)
                return {"step": entry["step"], "slot": entry["slot"], "hashes": entry["hashes"], "leaves": leaves}
        warnings.warn(f"store {self.path!r}: no resume slot of group {gid} passes its sha256; restarting "
                      "its wave from the first step", RuntimeWarning, stacklevel=3)
        return None

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
            with warnings.catch_warnings():  # zarr warns of the lock file, not a zarr object
                warnings.simplefilter("ignore")
                members = sorted(group.members())
            for key, item in members:
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
        """sha256 of every array (but the resume state), read a block of leading rows at a time;
        each array's dtype, shape and dimension names are hashed with its data."""
        out = {}
        with_dims = self.meta.get("format", 1) >= 2  # format 1 hashed dtype and shape only
        for name in self._hashed_arrays():
            arr = self.group[name]
            head = [str(arr.dtype), list(arr.shape)] + [list(arr.metadata.dimension_names or ())] * with_dims
            h = hashlib.sha256(json.dumps(head).encode())
            try:
                for block in _row_blocks(arr):
                    h.update(np.ascontiguousarray(block).tobytes())
            except Exception as e:  # noqa: BLE001 - a codec's error names no array
                raise ValueError(f"store {self.path!r}: array {name!r} cannot be read ({type(e).__name__}: "
                                 f"{e}); the store is damaged") from None
            out[name] = h.hexdigest()
        return out

    def verify_labels(self) -> None:
        """Raise ``ValueError`` naming every label field (coordinates, steps, config, ...) edited
        since the store was created."""
        meta = self.meta
        if meta.get("format", 1) < 2:
            raise ValueError(f"store {self.path!r} was written by an older dyntheory (format "
                             f"{meta.get('format', 1)}) that did not hash its labels; load it with verify=False")
        got = label_hashes(meta)
        labels = meta.get("labels", {})
        # A field added to LABEL_FIELDS later (metric_dims) is absent from older stores' meta and labels.
        bad = [f for f in LABEL_FIELDS if labels.get(f) != got[f] and (f in labels or f in meta)]
        if bad:
            raise ValueError(f"store {self.path!r}: its labels were changed after it was written "
                             f"(fields: {', '.join(bad)}); the numbers would be mislabelled")

    def finish(self) -> None:
        if not self.writer:
            return
        if "resume" in self.group:
            del self.group["resume"]
        self._set_meta(complete=True, manifest=self.manifest())

    def verify(self) -> None:
        """Raise ``ValueError`` naming every label field or array that differs from what was written."""
        self.verify_labels()
        expected = self.meta.get("manifest")
        if expected is None:
            raise ValueError(f"store {self.path!r} has no manifest: the run did not finish "
                             "(run the same dt.train call again to resume it)")
        got = self.manifest()
        bad = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
        if bad:
            raise ValueError(f"store {self.path!r} fails its sha256 manifest for: {bad}")
