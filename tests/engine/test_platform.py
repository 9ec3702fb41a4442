"""The platform floor: the jax internals it leans on are where it expects them, and nothing else
reaches into jax._src."""

import pathlib
import re

import jax
import jax.numpy as jnp

from dyntheory._platform import compile as _compile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_threefry_internals_are_where_the_unrolled_lowering_expects_them():
    # Fails loudly when a jax upgrade moves them: the run-time fallback (jax's rolled lowering,
    # 3.6x slower to sample) would otherwise only warn.
    found = _compile.threefry_internals()
    assert found is not None, "jax moved mlir._platform_specific_lowerings or threefry2x32's lowering rule"
    table, prim, _ = found
    assert prim in table


def test_unrolled_threefry_gives_jax_numbers_and_restores_the_registry():
    table, prim, _ = _compile.threefry_internals()
    before = table[prim]
    f = lambda k: jax.random.normal(k, (64,))  # noqa: E731
    ours = _compile.jit(f)(jax.random.key(3))
    assert table[prim] is before
    assert jnp.array_equal(ours, jax.jit(f)(jax.random.key(3)))


def test_jax_internals_only_in_the_platform():
    offenders = []
    for folder in ("dyntheory", "theory", "sims", "paper_figs"):
        for path in (ROOT / folder).rglob("*.py"):
            if "_platform" in path.parts:
                continue
            if re.search(r"jax\._src", path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
