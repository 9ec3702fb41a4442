"""Phase diagrams: label every member by ordered rules, then map phase fractions over a sweep.

``classify`` applies named boolean rules in order (first match wins) to a run's Dataset;
``phase_map`` turns the labels into the fraction of seeds in each phase at every sweep
coordinate, plus the majority phase. ``grokking_rules`` is a ready-made rule set for the four
learning phases of Liu et al. 2022.

Example:
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"loss": (("lr", "seed"), [[0.1, 0.2], [5.0, 0.3]])}, coords={"lr": [0.1, 1.0]})
    >>> labels = classify(ds, {"diverged": lambda d: d.loss > 1.0}, default="ok")
    >>> phase_map(labels).majority.values.tolist()
    ['ok', 'diverged']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from dyntheory._analysis.transitions import transition_times

__all__ = ["classify", "grokking_rules", "phase_map"]

Rule = Callable[[xr.Dataset], xr.DataArray]


def classify(ds: xr.Dataset, rules: Mapping[str, Rule], *, default: str = "other") -> xr.DataArray:
    """Label each member with the first rule (in order) that holds for it.

    Args:
        ds: a run's Dataset (sweep dims, ``seed``, ``step``, ...).
        rules: phase name -> function of ``ds`` returning a boolean DataArray (typically without
            ``step``). Outputs are broadcast against each other by name.
        default: label where no rule holds.

    Returns:
        A string DataArray named ``"phase"``; ``attrs["phases"]`` lists the rule names then
        ``default``, the order :func:`phase_map` uses.

    Example:
        >>> ds = xr.Dataset({"acc": ("seed", [0.2, 0.95, 0.6])})
        >>> classify(ds, {"high": lambda d: d.acc > 0.9, "mid": lambda d: d.acc > 0.5}).values.tolist()
        ['other', 'high', 'mid']
    """
    if not rules:
        raise ValueError("classify: rules is empty")
    names = list(rules)
    if default in rules:
        raise ValueError(f"classify: default={default!r} is also a rule name")
    masks = []
    for name, rule in rules.items():
        mask = rule(ds)
        if not isinstance(mask, xr.DataArray):
            raise TypeError(f"classify: rule {name!r} returned {type(mask).__name__}, "
                            "expected a boolean xarray.DataArray")
        if mask.dtype != bool:
            raise TypeError(f"classify: rule {name!r} returned dtype {mask.dtype}, expected bool")
        masks.append(mask)
    masks = xr.broadcast(*masks)
    dims = masks[0].dims
    index = np.full(masks[0].shape, len(names))
    for i in reversed(range(len(names))):  # reversed, so the first matching rule is written last
        index = np.where(masks[i].transpose(*dims).values, i, index)
    table = np.asarray(names + [default])
    labels = xr.DataArray(table[index], dims=dims, coords=masks[0].coords, name="phase")
    labels.attrs["phases"] = names + [default]
    return labels


def phase_map(labels: xr.DataArray, *, over: str = "seed",
              phases: Sequence[str] | None = None) -> xr.Dataset:
    """Fraction of members in each phase at every coordinate, and the majority phase.

    Args:
        labels: output of :func:`classify`.
        over: the member dimension the fractions are taken over.
        phases: phase order for the ``phase`` dim; defaults to ``labels.attrs["phases"]`` or the
            sorted distinct labels.

    Returns:
        A Dataset with ``fraction`` and ``n_in_phase`` (remaining dims + ``phase``), ``majority`` (the
        most common phase; ties go to the earlier phase) and ``majority_fraction``.

    Example:
        >>> labels = xr.DataArray([["a", "b", "b"]], dims=("lr", "seed"))
        >>> phase_map(labels).fraction.sel(phase="b").values.round(3).tolist()
        [0.667]
    """
    if not isinstance(labels, xr.DataArray):
        raise TypeError(f"phase_map: labels must be an xarray.DataArray, got {type(labels).__name__}")
    if over not in labels.dims:
        raise ValueError(f"phase_map: over={over!r} is not a dimension of labels {labels.dims}")
    if labels.sizes[over] == 0:
        raise ValueError(f"phase_map: over={over!r} has no members")
    values = np.asarray(labels.values).astype(str)
    found = sorted(set(np.unique(values).tolist()))
    if phases is None:
        phases = labels.attrs.get("phases") or found
    phases = [str(p) for p in phases]
    unknown = sorted(set(found) - set(phases))
    if unknown:
        raise ValueError(f"phase_map: labels {unknown} are not in phases={phases}")
    if len(set(phases)) != len(phases):
        raise ValueError(f"phase_map: phases has duplicates: {phases}")
    lab = labels.copy(data=values)
    count = xr.concat([(lab == p).sum(over) for p in phases], dim="phase")
    count = count.assign_coords(phase=phases)
    fraction = count / labels.sizes[over]
    best = fraction.argmax("phase")  # first maximum: ties go to the earlier phase
    majority = xr.DataArray(np.asarray(phases)[best.values], dims=best.dims, coords=best.coords)
    out = xr.Dataset({"fraction": fraction, "n_in_phase": count, "majority": majority,
                      "majority_fraction": fraction.max("phase")})
    out.attrs.update(over=over, n_members=int(labels.sizes[over]))
    return out


def grokking_rules(train_acc: str = "train_acc", test_acc: str = "test_acc", *,
                   threshold: float = 0.9, delay_factor: float = 2.0, min_delay: float = 0.0,
                   dim: str = "step") -> dict[str, Rule]:
    """Rules for the four learning phases of Liu et al. 2022 (comprehension ... confusion).

    Liu, Kitouni, Nolte, Michaud, Tegmark, Williams, "Towards Understanding Grokking: An
    Effective Theory of Representation Learning", NeurIPS 2022, arXiv 2205.10343 (phase
    diagrams, Fig. 6).
    With ``t_train`` and ``t_test`` the first steps at which train and test accuracy reach
    ``threshold`` (from :func:`~dyntheory.transition_times`, NaN if never within the run):

    - comprehension: both reached, and test did not lag (not grokking);
    - grokking: both reached, test lagging: ``t_test > delay_factor * t_train`` and
      ``t_test - t_train > min_delay``;
    - memorization: train reached, test never did (within the run);
    - confusion: train never reached.

    The four rules are exclusive and cover every member. Their cut-offs (``delay_factor``,
    ``min_delay``) are this engine's operationalisation, stated relative to the training time so
    they do not depend on the run length; they are not numbers from the paper. The run length
    matters all the same: a member that would grok after the last recorded step counts as
    memorization.

    Args:
        train_acc: name of the train-accuracy variable (over ``dim``).
        test_acc: name of the test-accuracy variable.
        threshold: the accuracy that counts as "reached".
        delay_factor: how many times later than train test must arrive to count as grokking.
        min_delay: and by at least this many steps.
        dim: the time dimension.

    Returns:
        An ordered dict of rules for :func:`classify`.

    Example:
        >>> acc = lambda t: np.clip(np.arange(0, 100, 10) / t - 0.1, 0, 1)  # reaches 0.9 at t
        >>> ds = xr.Dataset({"train_acc": ("step", acc(10)), "test_acc": ("step", acc(80))},
        ...                 coords={"step": np.arange(0, 100, 10)})
        >>> str(classify(ds, grokking_rules()).values)
        'grokking'
    """
    if not np.isfinite(threshold):
        raise ValueError(f"grokking_rules: threshold must be finite, got {threshold!r}")
    if not (np.isfinite(delay_factor) and delay_factor >= 1.0):
        raise ValueError(f"grokking_rules: delay_factor must be >= 1, got {delay_factor!r}")
    if not (np.isfinite(min_delay) and min_delay >= 0.0):
        raise ValueError(f"grokking_rules: min_delay must be >= 0, got {min_delay!r}")

    def times(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
        for var in (train_acc, test_acc):
            if var not in ds:
                raise KeyError(f"grokking_rules: variable {var!r} not in the Dataset "
                               f"(has {sorted(map(str, ds.data_vars))})")
        return (transition_times(ds[train_acc], threshold=threshold, dim=dim),
                transition_times(ds[test_acc], threshold=threshold, dim=dim))

    def delayed(tr: xr.Dataset, te: xr.Dataset) -> xr.DataArray:
        return (te.t_cross > delay_factor * tr.t_cross) & (te.t_cross - tr.t_cross > min_delay)

    def comprehension(ds):
        tr, te = times(ds)
        return ~tr.censored & ~te.censored & ~delayed(tr, te)

    def grokking(ds):
        tr, te = times(ds)
        return ~tr.censored & ~te.censored & delayed(tr, te)

    def memorization(ds):
        tr, te = times(ds)
        return ~tr.censored & te.censored

    def confusion(ds):
        tr, _ = times(ds)
        return tr.censored

    return {"comprehension": comprehension, "grokking": grokking, "memorization": memorization,
            "confusion": confusion}
