"""How the engine's functions are compiled: XLA:CPU options measured here, and jax's threefry
lowered unrolled on CPU."""

from __future__ import annotations

import contextlib
import functools
import warnings

import jax
import jax.numpy as jnp


# LLVM's default -O2/-O3 pipeline spends seconds on tiny vmapped graphs (threefry in particular)
# and, measured here, ran the W1 training step 2x slower than -O1 on this CPU (see dyntheory.bench).
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
# XLA:CPU (jaxlib 0.10) hands reductions and elementwise fusions to YNNPACK too; on population
# shapes its reductions ran up to 20x slower than XLA's own loops (a (64, 1000, 32) -> (64, 1000)
# sum: 15 ms against 0.5 ms). Kept to the dots, the W1 step ran 3-10% faster and W3's at 100k
# members 1.4x (dyntheory.bench shapes). Options this jaxlib rejects are left out.
OPTIONAL_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


@functools.cache
def _accepted_options() -> dict:
    out = {}
    for name, value in OPTIONAL_COMPILER_OPTIONS.items():
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(jnp.zeros(2)).compile()
            out[name] = value
        except Exception:  # noqa: BLE001 - an unknown or renamed option: run without it
            pass
    return out


def compiler_options() -> dict:
    """The options above on CPU, where they were measured; none elsewhere (the LLVM level would
    apply to a GPU's kernels too, and no GPU was lent to measure it)."""
    return {**COMPILER_OPTIONS, **_accepted_options()} if jax.default_backend() == "cpu" else {}


# jax lowers the threefry hash on CPU as a rolled 5-trip while loop (to save compile time); every
# trip is a separate pass over the random bits, and a group's batch costs 3.6x what the unrolled
# hash (jax's GPU/TPU lowering, the same function bit for bit) costs. The engine's functions are
# lowered with the unrolled one; jax's own registry is restored on the way out. This reaches into
# jax._src (checked for jax 0.10.2): tests/engine/test_platform.py fails if those names move, and
# at run time a jax without them keeps its own lowering, with a warning.


def threefry_internals() -> tuple | None:
    """(jax's CPU lowering table, the threefry primitive, its unrolled lowering rule), or None
    where this jax has moved them."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as tf
        table = mlir._platform_specific_lowerings["cpu"]
        return table, tf.threefry2x32_p, mlir.LoweringRuleEntry(tf._threefry2x32_lowering_rule, False)
    except (ImportError, AttributeError, KeyError):
        return None


@contextlib.contextmanager
def _unrolled_threefry():
    found = threefry_internals()
    if found is None or found[1] not in found[0]:
        _warn_rolled()
        yield
        return
    table, prim, rule = found
    old, table[prim] = table[prim], rule
    try:
        yield
    finally:
        table[prim] = old


@functools.cache
def _warn_rolled() -> None:
    warnings.warn("dyntheory: this jax has moved the internals of its threefry lowering; random "
                  "batches use jax's rolled CPU lowering (same numbers, about 3.6x slower to sample)",
                  RuntimeWarning, stacklevel=3)


def jit(fn, **kw) -> _Jitted:
    """``jax.jit`` at the engine's compiler options (and threefry lowering, see above)."""
    return _Jitted(fn, jax.jit(fn, compiler_options=compiler_options(), **kw))


class _Jitted:
    """A jitted function lowered under ``_unrolled_threefry``; traced calls inline ``fn``."""

    def __init__(self, fn, jitted):
        self.fn, self.jitted = fn, jitted
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs))):
            return self.fn(*args, **kwargs)  # inside another trace (eval_shape, jit): no options
        with _unrolled_threefry():
            return self.jitted(*args, **kwargs)

    def lower(self, *args, **kwargs):
        with _unrolled_threefry():
            return self.jitted.lower(*args, **kwargs)
