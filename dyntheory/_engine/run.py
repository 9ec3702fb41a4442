"""A finished (or loaded) run: labelled metrics and every member's checkpoints."""

from __future__ import annotations

import functools
import itertools
import json
import os
from typing import Any

import numpy as np
import xarray as xr

from dyntheory._engine.layout import to_user
from dyntheory._engine.store import Store


def coord_label(v: Any) -> Any:
    """Coordinate value for xarray: a one-layer ``widths`` tuple becomes its integer (so
    ``ds.sel(widths=64)`` works), a deeper one a readable ``"32,64"`` string; numpy scalars become
    Python numbers.

    Example:
        >>> coord_label((64,)), coord_label((32, 64)), coord_label(0.1)
        (64, '32,64', 0.1)
    """
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return coord_label(v[0])
        return ",".join(map(str, v))
    if isinstance(v, np.generic):
        return v.item()
    return v


def same_label(a: Any, b: Any) -> bool:
    """Whether a user's value ``a`` names coordinate ``b``: ``64``, ``(64,)`` and ``"64"`` all name
    the one-layer width 64 (the last is how stores written before integer labels name it)."""
    return str(coord_label(a)) == str(coord_label(b))


def _index(labels: list) -> Any:
    """A coordinate's values; mixed ints and strings (``widths`` 64 beside ``"32,64"``) kept as
    objects, so numpy does not turn 64 into ``"64"``."""
    if len({type(v) for v in labels}) > 1 and any(isinstance(v, str) for v in labels):
        return np.array(labels, dtype=object)
    return labels


def _nest(entries_and_values) -> Any:
    """Rebuild nested dicts/lists from (path entries, value) pairs."""
    root: dict = {}
    for entries, value in entries_and_values:
        node = root
        for a, b in zip(entries[:-1], entries[1:]):
            node = node.setdefault(a, {})
        node[entries[-1]] = value

    def fix(node):
        if not isinstance(node, dict):
            return node
        if node and all(isinstance(k, int) for k in node):
            return [fix(node[i]) for i in sorted(node)]
        return {k: fix(v) for k, v in node.items()}

    return fix(root)


class Run:
    """Results of ``dt.train`` or ``dt.load``.

    Attributes:
        metrics: ``xarray.Dataset`` with dims = sweep axes + ``seed`` + ``step``; ``diverged_at``
            (-1 for members that stayed finite) has no ``step`` dim. ``attrs`` carry the config
            (JSON), the key and package versions.
        sweep: the ``Sweep`` (None for a loaded run unless given to ``dt.load``).
    """

    def __init__(self, store: Store, sweep=None):
        self.store, self.sweep = store, sweep
        self.meta = store.meta

    def __repr__(self):
        dims = dict(zip(self.meta["dims"], self.meta["shape"]))
        return f"Run({self.store.path or '<memory>'}, dims={dims}, steps={self.meta['config']['steps']})"

    @property
    def path(self) -> str | None:
        return self.store.path

    @property
    def record(self) -> tuple[int, ...]:
        return tuple(self.meta["record"])

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return tuple(self.meta["checkpoints"])

    @property
    def coords(self) -> dict[str, list]:
        return self.meta["coords"]

    @functools.cached_property
    def metrics(self) -> xr.Dataset:
        dims = tuple(self.meta["dims"])
        coords = {d: _index(self.coords[d]) for d in dims} | {"step": list(self.record)}
        extra = self.meta.get("metric_dims", {})  # an array metric's own axes, after step
        data = {name: (dims + ("step",) + tuple(d for d, _, _ in extra.get(name, ())),
                       self.store.read(f"metrics/{name}"))
                for name in self.meta["metrics"]}
        for entries in extra.values():
            for d, n, labels in entries:
                coords[d] = _index(labels) if labels is not None else np.arange(n)
        data["diverged_at"] = (dims, self.store.read("diverged_at"))
        if "intervened" in self.store.group:  # the step each member's intervention fired (-1: never)
            for i in sorted(self.store.group["intervened"].array_keys(), key=int):
                data[f"intervened_{i}"] = (dims, self.store.read(f"intervened/{i}"))
        if "derived" in self.store.group:  # hyperparameters set per member from its initial state
            for target in sorted(self.store.group["derived"].array_keys()):
                data[target] = (dims, self.store.read(f"derived/{target}"))
        for name, values in self.meta["config"].get("axes", []):
            if isinstance(values, dict) and "zipped" in values:  # each component along its axis
                for comp, vals in values["zipped"].items():
                    coords[comp] = (name, vals)
        if "branched" in self.store.group:
            data["branched"] = (dims, self.store.read("branched"))
        attrs = {"config": json.dumps(self.meta["config"], sort_keys=True),
                 "key": json.dumps(self.meta["key"]), "versions": json.dumps(self.meta["versions"]),
                 "dyntheory_store": str(self.store.path)}
        if "estimate" in self.meta:  # bytes estimated before compute (dyntheory._engine.footprint)
            attrs["estimate"] = json.dumps(self.meta["estimate"])
        return xr.Dataset(data, coords=coords, attrs=attrs)

    # ---- checkpoints -------------------------------------------------------------------------
    def _group(self, static: dict[str, Any], where: str = "params_at") -> int:
        names = self.meta["static_dims"]
        unknown = [k for k in static if k not in names]
        if unknown:
            raise ValueError(f"{where}: {unknown} are not static axes of this run (static: {names})")
        missing = [n for n in names if n not in static]
        if missing:
            raise ValueError(f"{where}: this run has compiled groups over {names}; select one with "
                             f"keyword arguments, e.g. {missing[0]}={self.coords[missing[0]][0]!r}")
        combos = list(itertools.product(*(self.coords[n] for n in names)))
        want = tuple(static[n] for n in names)
        for i, combo in enumerate(combos):
            if all(same_label(w, c) for w, c in zip(want, combo)):
                return i
        raise ValueError(f"{where}: no group with {dict(zip(names, want))}; "
                         f"available: {[dict(zip(names, c)) for c in combos]}")

    def _ckpt_index(self, step: int) -> int:
        if step not in self.checkpoints:
            raise ValueError(f"step={step!r} is not a checkpoint of this run; checkpoints: "
                             f"{list(self.checkpoints)}")
        return self.checkpoints.index(step)

    def stored_state(self, step: int, gid: int = 0, region: tuple[slice, ...] = ()) -> dict[str, np.ndarray]:
        """Every stored leaf of the full member state at a checkpoint, by store name, in the
        engine's (groups, members) layout (only ``region`` of it, e.g. ``(slice(0, 10),)`` for the
        first ten groups, if given). ``state_at`` gives the same labelled."""
        idx = self._ckpt_index(step)
        names = [n for n, _ in self.store.progress(gid)["paths"]]
        return self.store.read_state(f"ckpt/g{gid}", names, index=idx, region=region)

    def state_at(self, step: int, **static: Any) -> xr.Dataset:
        """Every member's full training state at checkpoint ``step``, labelled.

        One variable per state leaf, named by its path: ``params/layers/0/w``,
        ``opt_state/1/mu/layers/0/w``, ``metric_state/<metric name>/...`` (a stateful metric's
        state under the metric's own name), ``diverged_at``, ``update_norm``. Each has the run's
        traced dims (sweep axes and ``seed``, labelled with their coordinates) followed by the
        leaf's own dims, named ``<path>:0``, ``<path>:1``, ... Runs with static axes (e.g.
        ``widths``) need those selected, as for ``params_at``.

        Example:
            >>> st = run.state_at(512, widths=64)  # doctest: +SKIP
            >>> st["params/layers/0/w"].sel(lr=0.1, seed=0).shape  # doctest: +SKIP
            (16, 64)
        """
        gid = self._group(static, "state_at")
        idx = self._ckpt_index(step)
        dims = [d for d in self.meta["dims"] if d not in self.meta["static_dims"]]
        stateful = sorted(self.meta["config"].get("metrics") or {})
        data = {}
        for name, entries in self.store.progress(gid)["paths"]:
            if entries[0] == "metric_state" and isinstance(entries[1], int) and entries[1] < len(stateful):
                entries = ["metric_state", stateful[entries[1]], *entries[2:]]
            path = "/".join(map(str, entries))
            leaf = to_user(self.store.read(f"ckpt/g{gid}/{name}", idx), self.meta["group_dims"],
                           self.meta["member_dims"], dims, self.coords)
            data[path] = (tuple(dims) + tuple(f"{path}:{i}" for i in range(leaf.ndim - len(dims))), leaf)
        coords = {d: _index(self.coords[d]) for d in dims}
        return xr.Dataset(data, coords=coords, attrs={"step": int(step), **{k: str(v) for k, v in static.items()}})

    def params_at(self, step: int, **static: Any) -> Any:
        """Every member's parameters at checkpoint ``step``.

        Returns the model's parameter pytree whose leaves have the run's traced dims first
        (sweep axes and ``seed``, in order), then the parameter's own shape. Runs with static
        axes (e.g. ``widths``) need those selected: ``run.params_at(512, widths=64)``.
        """
        gid = self._group(static)
        idx = self._ckpt_index(step)
        paths = self.store.progress(gid)["paths"]
        dims = [d for d in self.meta["dims"] if d not in self.meta["static_dims"]]
        sizes = self.coords
        pairs = []
        for name, entries in paths:
            if entries[0] != "params":
                continue
            leaf = self.store.read(f"ckpt/g{gid}/{name}", idx)
            pairs.append((entries[1:], to_user(leaf, self.meta["group_dims"], self.meta["member_dims"],
                                               dims, sizes)))
        return _nest(pairs)


def check_same_sweep(where: str, sweep, meta: dict[str, Any]) -> None:
    """Refuse a ``sweep=`` that is not the one the store holds (it would relabel its numbers)."""
    if sweep is None:
        return
    stored = {k: v for k, v in meta["config"].items() if k != "branch"}
    given = sweep.config()
    differs = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
    if differs:
        raise ValueError(f"{where}: sweep= is not the sweep this run holds (differs in: {', '.join(differs)}); "
                         "pass the sweep it was trained with")


def load(path: str, *, verify: bool = True, sweep=None) -> Run:
    """Open a stored run, read-only.

    Args:
        path: the store's directory.
        verify: check every label field (config, key, dims, coordinates, seeds, record and
            checkpoint steps, metric definitions) against the hashes written when the store was
            created, and every array against the run's sha256 manifest. ``verify=False`` skips
            both (faster on a large store; only for a store you trust).
        sweep: the run's ``Sweep`` (needed by ``dt.branch``); refused if it is not the stored one.

    Example:
        >>> run = load("runs/ts")  # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load: path must be a directory path, got {path!r}")
    if not Store.exists(path):
        raise FileNotFoundError(f"load: no dyntheory store at {path!r}")
    st = Store.open(str(path), readonly=True)
    if verify:
        st.verify()
    check_same_sweep("load", sweep, st.meta)
    return Run(st, sweep)
