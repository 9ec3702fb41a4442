"""A TheoryResult's validity region as something to draw from: boxes narrowed by its relations.

The machinery behind :func:`dyntheory.testing.configs`: per-input boxes (``bounds``, else
``domain``) intersected with the sympy assumptions of the symbols, narrowed by every relation
linear in an input with a slope of known sign (``eta * lam < 2`` gives ``eta < 2 / lam`` once
``lam`` is drawn), then the full conjunction, evaluated in float64, as a filter.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis
import jax
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from dyntheory._analysis.theory import TheoryResult, lambdify_jax

_STRICT = (sp.StrictLessThan, sp.StrictGreaterThan)
_ORDER = (*_STRICT, sp.LessThan, sp.GreaterThan)
_Edge = tuple[float, bool, str]  # (value, strict, where it comes from)


@dataclasses.dataclass(frozen=True)
class _Bound:
    """An input ``> fn(*deps)`` (``<`` when ``upper``), derived from the relation ``source``."""

    upper: bool
    strict: bool
    deps: tuple[str, ...]
    fn: Callable[..., Any]
    source: str

    def __call__(self, values: Mapping[str, Any]) -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(self.fn(*(values[d] for d in self.deps)), np.float64)


def _assumption_relations(sym: sp.Symbol) -> list[sp.Basic]:
    # Unevaluated: sympy would fold ``x > 0`` to True for a positive x.
    sign = ([sp.StrictGreaterThan] if sym.is_positive else [sp.GreaterThan] if sym.is_nonnegative else [])
    sign += [sp.StrictLessThan] if sym.is_negative else [sp.LessThan] if sym.is_nonpositive else []
    return [op(sym, 0, evaluate=False) for op in sign]


def _linear_bounds(rel: sp.Basic, name_of: Mapping[sp.Symbol, str]) -> list[tuple[str, bool, sp.Expr]]:
    """``(name, upper, bound)`` for each symbol the relation is linear in, with a slope of known sign."""
    if not isinstance(rel, _ORDER):
        return []
    f = rel.gts - rel.lts  # the relation says f > 0 (or >= 0)
    out = []
    for sym in f.free_symbols & set(name_of):
        slope = sp.diff(f, sym)
        rest = sp.expand(f - slope * sym)
        if sym not in slope.free_symbols | rest.free_symbols and (slope.is_positive or slope.is_negative):
            out.append((name_of[sym], bool(slope.is_negative), sp.simplify(-rest / slope)))
    return out


def _tighter(edge: _Edge, v: float, strict: bool, source: str, upper: bool) -> _Edge:
    if (v < edge[0]) if upper else (v > edge[0]):
        return v, strict, source
    return (edge[0], edge[1] or strict, edge[2]) if v == edge[0] else edge


def _int_range(lo: _Edge, hi: _Edge) -> tuple[int, int]:
    return (math.floor(lo[0]) + 1 if lo[1] else math.ceil(lo[0]),
            math.ceil(hi[0]) - 1 if hi[1] else math.floor(hi[0]))


class Region:
    """One ``configs`` call: the static box, the bounds set by earlier draws, the relations."""

    def __init__(self, result: TheoryResult, fixed: Mapping[str, float], bounds: Mapping[str, Any],
                 omit: tuple[str, ...], log_ratio: float):
        where = self.where = f"configs({result.name!r})"
        for what, names in (("fixed", fixed), ("bounds", bounds), ("omit", omit)):
            if unknown := [n for n in names if n not in result.symbols]:
                raise ValueError(f"{where}: {what} names unknown inputs {unknown}; inputs are "
                                 f"{list(result.inputs)}")
        if clash := sorted((set(fixed) & set(bounds)) | (set(fixed) | set(bounds)) & set(omit)):
            raise ValueError(f"{where}: {clash} appear in more than one of fixed/bounds/omit")
        sym = {n: s for n, (s, _) in result.symbols.items()}
        name_of = {s: n for n, s in sym.items() if n not in omit}
        self.fixed = {k: float(v) for k, v in fixed.items()}
        self.order = tuple(n for n in result.inputs if n not in fixed and n not in omit)
        self.integer = {n for n in self.order if sym[n].is_integer}
        for n, v in self.fixed.items():
            if sym[n].is_integer and v != round(v):
                raise ValueError(f"{where}: fixed {n!r}={v!r} but the symbol is an integer")
        self.lo: dict[str, _Edge] = {}
        self.hi: dict[str, _Edge] = {}
        for n in self.order:
            src, box = ("bounds", bounds[n]) if n in bounds else ("domain", result.domain.get(n))
            lo, hi = (-math.inf, math.inf) if box is None else map(float, box)
            if box is not None and not lo < hi:
                raise ValueError(f"{where}: {src} for {n!r} must be (low, high) with low < high, got {box!r}")
            self.lo[n], self.hi[n] = (lo, False, f"{src} {box}"), (hi, False, f"{src} {box}")
        relations = [r for r in result.validity if r is not sp.true]
        relations += [r for n in (*self.order, *self.fixed) for r in _assumption_relations(sym[n])]
        self.checks: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = []
        self.dynamic: dict[str, list[_Bound]] = {n: [] for n in self.order}
        for rel in relations:
            names = tuple(sorted(n for s, n in name_of.items() if s in rel.free_symbols))
            if len(names) < len(rel.free_symbols):
                continue  # involves an omitted input: checked by check_claim on the coordinates
            self.checks.append((str(rel), names, lambdify_jax(tuple(sym[n] for n in names), rel)))
            for n, upper, expr in _linear_bounds(rel, name_of):
                deps = tuple(sorted(name_of[s] for s in expr.free_symbols))
                if n not in self.lo or any(d in self.order and self.order.index(d) > self.order.index(n)
                                           for d in deps):
                    continue  # not drawn, or bounded by an input drawn later: left to the filter
                b = _Bound(upper, isinstance(rel, _STRICT), deps,
                           lambdify_jax(tuple(sym[d] for d in deps), expr), str(rel))
                if all(d in self.fixed for d in deps):
                    edges = self.hi if upper else self.lo
                    edges[n] = _tighter(edges[n], float(b(self.fixed)), b.strict, b.source, upper)
                else:
                    self.dynamic[n].append(b)
        for n in self.order:
            (lo, _, lo_src), (hi, _, hi_src) = self.lo[n], self.hi[n]
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"{where}: input {n!r} is unbounded {'below' if math.isinf(lo) else 'above'}"
                                 f" (no domain entry, no relation with constants); pass "
                                 f"bounds={{{n!r}: (low, high)}}")
            ints = _int_range(self.lo[n], self.hi[n]) if n in self.integer else (0, 0)
            if not lo < hi or ints[0] > ints[1]:
                raise ValueError(f"{where}: the region is empty for {n!r}: needs {n} > {lo:g} "
                                 f"({lo_src}) and {n} < {hi:g} ({hi_src})")
        self.log = {n: n not in self.integer and 0 < self.lo[n][0] <= self.hi[n][0] / log_ratio
                    for n in self.order}
        self._probe()

    def edges(self, n: str, values: Mapping[str, float]) -> tuple[_Edge, _Edge]:
        lo, hi = self.lo[n], self.hi[n]
        for b in self.dynamic[n]:
            if b.upper:
                hi = _tighter(hi, float(b(values)), b.strict, b.source, True)
            else:
                lo = _tighter(lo, float(b(values)), b.strict, b.source, False)
        return lo, hi

    def passes(self, values: Mapping[str, Any]) -> list[np.ndarray]:
        """Per relation, whether it holds (``values`` may be arrays); integrality last."""
        with jax.enable_x64(True):
            out = [np.asarray(fn(*(values[n] for n in names))) > 0.5 for _, names, fn in self.checks]
        return out + [np.asarray(values[n]) == np.round(values[n]) for n in self.integer]

    def draw(self, draw: Callable[..., Any]) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.fixed)
        for n in self.order:
            lo, hi = self.edges(n, values)
            if n in self.integer:
                a, b = _int_range(lo, hi)
                hypothesis.assume(a <= b)
                values[n] = draw(st.integers(a, b))
                continue
            inner = math.nextafter(lo[0], math.inf), math.nextafter(hi[0], -math.inf)
            hypothesis.assume(inner[0] <= inner[1])
            if self.log[n]:
                u = draw(st.floats(0.0, 1.0))
                v = math.exp(math.log(lo[0]) + u * (math.log(hi[0]) - math.log(lo[0])))
            else:
                v = draw(st.floats(lo[0], hi[0], exclude_min=True, exclude_max=True))
            values[n] = min(max(v, inner[0]), inner[1])  # exp/log rounding must not reach an edge
        hypothesis.assume(all(map(bool, self.passes(values))))
        return values

    def _probe(self, size: int = 512) -> None:
        """Fail now, naming the relations, if no sampled point of the region satisfies them."""
        rng = np.random.default_rng(0)
        values: dict[str, Any] = {k: np.full(size, v) for k, v in self.fixed.items()}
        for n in self.order:
            lo, hi = self.lo[n][0], self.hi[n][0]
            for b in self.dynamic[n]:
                lo, hi = (lo, np.minimum(hi, b(values))) if b.upper else (np.maximum(lo, b(values)), hi)
            u = rng.uniform(size=size)
            values[n] = (lo * (np.maximum(hi, lo) / lo) ** u) if self.log[n] else lo + u * (hi - lo)
            values[n] = np.round(values[n]) if n in self.integer else values[n]
        passes = np.broadcast_arrays(np.ones(size, bool), *self.passes(values))
        if np.logical_and.reduce(passes).any():
            return
        never = [f"{text} (inputs {list(names)})" for (text, names, _), ok in zip(self.checks, passes[1:])
                 if not ok.any()]
        raise ValueError(f"{self.where}: the region looks empty: no sampled point satisfies "
                         f"{'; '.join(never) or 'all relations at once'}; check fixed= and bounds=")
