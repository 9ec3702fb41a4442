"""Which members a ``where`` selects: coordinates (values or lists of them) or a boolean mask.

Used by ``dt.branch`` and by interventions during training; the result is a (G, M) boolean
array over one compiled group's layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from dyntheory._engine.layout import Layout
from dyntheory._engine.run import coord_label, same_label


def per_member(da: xr.DataArray, layout: Layout, coords: dict[str, Any]) -> np.ndarray:
    """A DataArray over (some of) a run's dims, read at every member of one static group: (G, M)."""
    zipped = set(layout.sweep.names("zipped"))  # their (G, M) coordinate is a position: isel
    sel = {d: coord_label(coords[d]) if d in coords else xr.DataArray(layout.coord(d), dims=("_g", "_m"))
           for d in da.dims if d not in zipped}
    out = da.sel(sel) if sel else da
    at = {d: xr.DataArray(layout.coord(d), dims=("_g", "_m")) for d in da.dims if d in zipped}
    out = out.isel(at) if at else out
    out = out.broadcast_like(xr.DataArray(np.zeros((layout.G, layout.M)), dims=("_g", "_m")))
    return np.asarray(out.transpose("_g", "_m"))


def wanted_values(sweep, name: str, want) -> list:
    """The values ``where[name]`` names: one value, or a list (a set, a tuple) of them; on a
    zipped axis a tuple is one value (its components)."""
    if name in sweep.names("zipped") and isinstance(want, tuple):
        return [want]
    return list(want) if isinstance(want, (list, tuple, set)) else [want]


def member_mask(layout: Layout, coords: dict[str, Any], where) -> np.ndarray:
    """(G, M): the members of the group at static ``coords`` that ``where`` selects (None: all)."""
    if where is None:
        return np.ones((layout.G, layout.M), bool)
    if isinstance(where, xr.DataArray):
        return per_member(where, layout, coords).astype(bool)
    mask = np.ones((layout.G, layout.M), bool)
    for name, want in where.items():
        wanted = wanted_values(layout.sweep, name, want)
        if name in coords:  # a static axis: the whole compiled group is in or out
            mask &= any(same_label(w, coords[name]) for w in wanted)
        elif name in layout.sweep.names("zipped"):  # its (G, M) coordinate is the position along it
            at = [i for i, v in enumerate(layout.values[name]) if any(same_label(w, v) for w in wanted)]
            mask &= np.isin(layout.coord(name), at)
        else:
            mask &= np.isin(layout.coord(name), [coord_label(w) for w in wanted])
    return mask
