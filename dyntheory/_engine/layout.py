"""Where each member sits: the (groups, members) layout of one compiled group, and its keys.

Axes that decide a member's data stream (``seed``, ``task_seed``, ``data_seed``, ``noise_seed``
and traced task parameters) index *groups*; the rest (hyperparameters, ``init_seed``) index
*members* within a group. Results leave in the user's order of axes, then ``seed``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory._config.random import stream_keys

GROUP_KINDS = ("stream", "task_traced")


class Layout:
    """The traced part of a sweep's grid for one static group."""

    def __init__(self, sweep):
        self.sweep = sweep
        axes = sweep.axes_dict
        traced = sweep.names("hparam", "stream", "task_traced", "zipped", "derived")
        self.values = {**{n: tuple(axes[n]) for n in traced},
                       "seed": sweep.seeds}
        # A zipped axis's components: hyperparameter -> (its axis, its values along it).
        self.zipped = {c: (n, axes[n].values_of(c)) for n in sweep.names("zipped") for c in axes[n].names}
        self.dims = tuple(n for n in sweep.dims if n in self.values)  # user order
        is_group = lambda n: n == "seed" or (  # noqa: E731
            sweep.axis_kind(n) in GROUP_KINDS and n != "init_seed")
        self.group_dims = tuple(n for n in self.dims if is_group(n))
        self.member_dims = tuple(n for n in self.dims if not is_group(n))
        self.group_shape = tuple(len(self.values[n]) for n in self.group_dims)
        self.member_shape = tuple(len(self.values[n]) for n in self.member_dims)
        self.G = int(np.prod(self.group_shape))
        self.M = int(np.prod(self.member_shape))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.values[n]) for n in self.dims)

    def coord(self, name: str) -> np.ndarray:
        """The (G, M) array of a traced coordinate's value (defaults where not swept)."""
        internal = self.group_dims + self.member_dims
        if name in self.zipped:
            axis, vals = self.zipped[name]
            return self._broadcast(axis, np.asarray(vals, dtype=float))
        if name in internal and name in self.sweep.names("zipped"):
            return self._broadcast(name, np.arange(len(self.values[name])))  # positions along it
        if name in internal:
            vals = np.asarray(self.values[name])
            shape = [1] * len(internal)
            shape[internal.index(name)] = len(vals)
            full = np.broadcast_to(vals.reshape(shape), self.group_shape + self.member_shape)
            return full.reshape(self.G, self.M)
        if name in HPARAMS:
            return np.full((self.G, self.M), getattr(self.sweep, name), dtype=float)
        if name.endswith("_seed"):
            return np.zeros((self.G, self.M), dtype=np.int64)
        return np.full((self.G, self.M), getattr(self.sweep.task, name))

    def _broadcast(self, axis: str, vals: np.ndarray) -> np.ndarray:
        internal = self.group_dims + self.member_dims
        shape = [1] * len(internal)
        shape[internal.index(axis)] = len(vals)
        return np.broadcast_to(vals.reshape(shape), self.group_shape + self.member_shape).reshape(self.G, self.M)

    def hparams(self, dtype) -> HParams:
        return HParams(**{n: jnp.asarray(self.coord(n), dtype) for n in HPARAMS})

    def group_keys(self, root) -> dict[str, jax.Array]:
        seed = self.coord("seed")[:, 0]
        return {s: stream_keys(root, s, seed, self.coord(f"{s}_seed")[:, 0]) for s in ("task", "data", "noise")}

    def init_keys(self, root) -> jax.Array:
        return stream_keys(root, "init", self.coord("seed"), self.coord("init_seed"))

    def task_params(self, task, dtype) -> dict[str, jax.Array]:
        return {f: jnp.asarray(self.coord(f)[:, 0], dtype) for f in type(task).traced_fields}

    # ---- moving between the (G, M) layout and user dims --------------------------------------
    def to_user(self, arr: Any) -> np.ndarray:
        """(G, M, *rest) -> (*user dims, *rest)."""
        return to_user(arr, self.group_dims, self.member_dims, self.dims, self.values)

    def block_index(self, sidx: tuple, region: tuple[slice, ...], extra: int = 0) -> tuple:
        """Where the (g, m, ...) block ``region`` of the (G, M) layout sits in a user-dims array.

        ``sidx`` indexes the sweep's dims (ints for the compiled group's static axes, slices for
        the traced ones). Returns a coordinate selection (an int or an index array shaped
        ``(g, m) + (1,) * extra`` per sweep dim) for ``zarr.Array.set_coordinate_selection``.
        """
        region = tuple(region) + (slice(None),) * (2 - len(region))
        gsub = np.unravel_index(np.arange(self.G)[region[0]], self.group_shape)
        msub = np.unravel_index(np.arange(self.M)[region[1]], self.member_shape) if self.member_dims else ()
        tail = (None,) * extra
        out = []
        for d, i in zip(self.sweep.dims, sidx):
            if isinstance(i, int):
                out.append(i)
            elif d in self.group_dims:
                out.append(gsub[self.group_dims.index(d)][(slice(None), None) + tail])
            else:
                out.append(msub[self.member_dims.index(d)][(None, slice(None)) + tail])
        return tuple(out)


def to_user(arr, group_dims, member_dims, dims, sizes) -> np.ndarray:
    """(G, M, *rest) -> (*dims, *rest), where ``sizes[name]`` has the length of each dim."""
    arr = np.asarray(arr)
    rest = arr.shape[2:]
    internal = tuple(group_dims) + tuple(member_dims)
    arr = arr.reshape(tuple(len(sizes[n]) for n in internal) + rest)
    k = len(dims)
    return arr.transpose(tuple(internal.index(n) for n in dims) + tuple(range(k, k + len(rest))))

