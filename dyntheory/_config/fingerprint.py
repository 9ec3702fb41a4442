"""A content fingerprint of a metric: what it computes, not where it lives in memory.

A metric used to be identified by its module and name only, so rerunning a sweep whose metric
had a changed body, or closed over another constant, reloaded the old stored values. The
fingerprint hashes (sha256):

- a function's code: its bytecode, constants and names, recursively for nested code objects
  (lambdas, comprehensions, inner functions), its argument counts;
- the values it depends on: closure cells, defaults, and the globals its code names (module
  constants, and the functions of user code it calls, recursively; functions of installed
  libraries and the standard library count by name, their versions being recorded with the run);
- a dataclass (a ``Metric`` object): its class's method code and its fields' values;
- values: arrays by dtype, shape and bytes; containers element by element; anything else by
  ``repr`` with memory addresses removed.

The sweep's config carries the fingerprint of each metric, of a custom loss (``Sweep.loss``), of
a task's function-valued fields (``SampledData.sample``) and of the class of a task defined
outside dyntheory.

Nothing depends on ``id()`` or an address, so the same function gives the same fingerprint in
every process; a changed body or closed-over constant gives another.

Example:
    >>> fingerprint(lambda p, b: 1.0) == fingerprint(lambda p, b: 1.0)
    True
    >>> fingerprint(lambda p, b: 1.0) == fingerprint(lambda p, b: 2.0)
    False
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import sys
import sysconfig
import types
from typing import Any

import numpy as np

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def fingerprint(obj: Any) -> str:
    """A hex sha256 digest of what ``obj`` (a function, metric or value) computes or holds."""
    h = hashlib.sha256()
    _Walker(h).walk(obj)
    return h.hexdigest()


def plain_repr(obj: Any) -> str:
    """``repr(obj)`` without memory addresses (``<function f at 0x7f..>`` -> ``<function f>``)."""
    return _ADDRESS.sub("", repr(obj))


@functools.lru_cache(maxsize=None)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths})


def _in_library(fn: types.FunctionType) -> bool:
    """Code of an installed package or the standard library (counted by name, not content).

    Decided by where the code is, not by ``__module__``: ``functools.wraps`` copies the wrapped
    function's, and a module may be gone from ``sys.modules`` (or never have been there)."""
    return fn.__code__.co_filename.startswith(_library_roots())


class _Walker:
    def __init__(self, h):
        self.h = h
        # Functions, classes and objects are hashed once per walk and stand in by their digest, so
        # a helper shared by two callers costs once and the digest depends on content only.
        # A cycle (a recursive function) stands in by its name. Ids are keys, never hashed.
        self.done: dict[int, str] = {}
        self.busy: set[int] = set()
        self.keep: list = []  # visited objects stay alive, so their ids are not reused mid-walk

    def emit(self, *parts) -> None:
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode()
            self.h.update(len(b).to_bytes(8, "little"))
            self.h.update(b)

    def part(self, obj, hash_into) -> None:
        """Emit the digest of ``hash_into(obj)``, computed once per object."""
        key = id(obj)
        if key in self.busy:
            self.emit("cycle", _name(obj))
            return
        if key not in self.done:
            outer, self.h = self.h, hashlib.sha256()
            self.busy.add(key)
            self.keep.append(obj)
            try:
                hash_into(obj)
            finally:
                self.busy.discard(key)
                self.done[key], self.h = self.h.hexdigest(), outer
        self.emit("part", self.done[key])

    def walk(self, obj) -> None:
        if isinstance(obj, _SCALARS):
            self.emit(type(obj).__name__, repr(obj))
        elif isinstance(obj, (np.ndarray, np.generic)) or _is_jax_array(obj):
            self.array(obj)
        elif isinstance(obj, (tuple, list)):
            self.emit(type(obj).__name__, len(obj))
            for v in obj:
                self.walk(v)
        elif isinstance(obj, dict):
            self.emit("dict", len(obj))
            for k, v in sorted(obj.items(), key=lambda kv: plain_repr(kv[0])):
                self.walk(k)
                self.walk(v)
        elif isinstance(obj, (set, frozenset)):
            self.emit(type(obj).__name__, *sorted(fingerprint(v) for v in obj))
        elif isinstance(obj, types.CodeType):
            self.code(obj)
        elif isinstance(obj, types.FunctionType):
            self.part(obj, self.function)
        elif isinstance(obj, types.MethodType):
            self.emit("method")
            self.walk(obj.__func__)
            self.walk(obj.__self__)
        elif isinstance(obj, functools.partial):
            self.emit("partial")
            self.walk(obj.func)
            self.walk(obj.args)
            self.walk(obj.keywords)
        elif isinstance(obj, types.ModuleType):
            self.emit("module", obj.__name__)
        elif isinstance(obj, type):
            self.part(obj, self.cls)
        elif callable(getattr(obj, "__wrapped__", None)) and not dataclasses.is_dataclass(obj):
            self.emit("wrapped", _name(obj))  # jax.jit(f), functools.wraps: hash what they wrap
            self.walk(obj.__wrapped__)
        elif isinstance(obj, (types.BuiltinFunctionType, np.ufunc)):
            self.emit("builtin", _name(obj))
        elif dataclasses.is_dataclass(obj):
            self.part(obj, self.dataclass)
        elif callable(obj) and hasattr(obj, "__dict__"):
            self.part(obj, self.instance)
        else:
            self.emit("repr", type(obj).__name__, plain_repr(obj))

    def array(self, obj) -> None:
        if hasattr(obj, "dtype") and _is_key_dtype(obj.dtype):
            import jax

            obj = jax.random.key_data(obj)
        a = np.ascontiguousarray(np.asarray(obj))
        self.emit("array", a.dtype.str, a.shape)
        if a.dtype.hasobject:
            self.walk(a.tolist())
        else:
            self.emit(a.tobytes())

    def dataclass(self, obj) -> None:
        self.emit("dataclass")
        self.walk(type(obj))
        for f in dataclasses.fields(obj):
            self.emit(f.name)
            self.walk(getattr(obj, f.name))

    def instance(self, obj) -> None:
        self.emit("callable")  # an instance with __call__: its class's code and its attributes
        self.walk(type(obj))
        self.walk(dict(vars(obj)))

    def code(self, co: types.CodeType) -> None:
        self.emit("code", co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount, co.co_code)
        self.emit(*co.co_names)
        self.emit(len(co.co_consts))
        for c in co.co_consts:
            self.walk(c)

    def function(self, fn: types.FunctionType) -> None:
        if _in_library(fn):
            self.emit("library", _name(fn))
            return
        self.emit("function")
        self.code(fn.__code__)
        self.walk(fn.__defaults__)
        self.walk(fn.__kwdefaults__)
        cells = fn.__closure__ or ()
        self.emit("closure", len(cells))
        for cell in cells:
            try:
                self.walk(cell.cell_contents)
            except ValueError:  # an empty cell
                self.emit("empty")
        # Globals the code names (attribute names too: those absent from the globals are skipped).
        g = fn.__globals__
        for name in sorted(_names(fn.__code__)):
            if name in g and not name.startswith("__"):
                self.emit("global", name)
                self.walk(g[name])

    def cls(self, cls: type) -> None:
        self.emit("class", _name(cls))
        for klass in cls.__mro__:
            if klass.__module__ == "builtins":
                continue
            for name, attr in sorted(vars(klass).items()):
                fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
                fn = fn.fget if isinstance(fn, property) else fn
                # Methods that dataclasses generates (exec'd from "<string>") follow the fields.
                if isinstance(fn, types.FunctionType) and fn.__code__.co_filename != "<string>":
                    self.emit("method", name)
                    self.walk(fn)


def _names(co: types.CodeType) -> set[str]:
    out = set(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def _is_jax_array(obj) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(obj, jax.Array)


def _is_key_dtype(dtype) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
