"""Shared pieces of the built-in models: activations, checks and dense layers with parametrizations.

Parametrizations (``fan_in`` of the layer, ``s`` the member's traced ``init_scale``):

- ``standard``: ``w ~ N(0, s^2 / fan_in)``, ``y = x @ w + b``.
- ``ntk``: ``w ~ N(0, s^2)``, ``y = x @ w / sqrt(fan_in) + b`` (Jacot et al. 2018, arXiv 1806.07572).
- ``mup``: maximal update parametrization in its per-layer learning-rate form (Yang et al. 2022,
  "Tensor Programs V", arXiv 2203.03466, Table 3), relative to ``base_width`` so that at
  ``width == base_width`` it equals ``standard``. Output layer init variance
  ``s^2 base / fan_in^2``. Learning-rate multipliers: SGD input ``fan_out/base``, hidden 1, output
  ``base/fan_in``; Adam-family input 1, hidden and output ``base/fan_in``.
"""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda x: x,
    "quadratic": jnp.square,
}
PARAMETRIZATIONS = ("standard", "ntk", "mup")


def check_activation(owner: str, value) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(f"{owner}.activation must be one of {sorted(ACTIVATIONS)}, got {value!r}")


def check_parametrization(owner: str, value, allowed=PARAMETRIZATIONS) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.parametrization must be one of {allowed}, got {value!r}")


def check_widths(owner: str, name: str, widths) -> tuple[int, ...]:
    if isinstance(widths, int):
        widths = (widths,)
    try:
        widths = tuple(widths)
    except TypeError:
        raise ValueError(f"{owner}.{name} must be a tuple of positive integers, got {widths!r}") from None
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"{owner}.{name} must hold positive integers, got {widths!r}")
    return widths


def dense_init(key, fan_in: int, fan_out: int, scale, parametrization: str, *, role: str,
               base_width: int, bias: bool) -> dict:
    """One dense layer's parameters; ``role`` is "input", "hidden" or "output" (for muP)."""
    z = jax.random.normal(key, (fan_in, fan_out))
    if parametrization == "ntk":
        std = scale
    elif parametrization == "mup" and role == "output":
        std = scale * math.sqrt(base_width) / fan_in
    else:
        std = scale / math.sqrt(fan_in)
    params = {"w": std * z}
    if bias:
        params["b"] = jnp.zeros((fan_out,))
    return params


# A layer whose weight has at most SMALL_LAYER entries is applied as a broadcast multiply and a sum
# over its inputs, not a dot. Vmapped over a population, a dot becomes a batch of tiny matrix
# products (one per member, or one per data stream), each with a fixed cost and a transposed copy
# of its operands; the multiply-and-sum fuses into the loops around it. Measured with
# dyntheory.bench shapes at 10,000 members, steps (and measurements) per member:
# - W3, 8x8 layers (64 entries): 2.2x (4.0x) faster; 4x4 layers: 3.1x (4.8x);
# - W1's 32x1 output layer: the same (1.3-1.4x, on the 1,024-point test set);
# - 16x16 layers (256 entries): 0.47x (1.2x), and a 16x8 first layer on shared inputs 0.28x on the
#   test set: larger layers stay dots.
SMALL_LAYER = 64


@contextlib.contextmanager
def plain_products():
    """Trace dense layers as ``x @ w`` at every size, inside this block (for baselines that are
    faster that way, such as the benchmark's unchunked textbook recipe). It applies to functions
    first traced inside the block: jax caches a function's trace and does not see the switch."""
    global SMALL_LAYER
    old, SMALL_LAYER = SMALL_LAYER, 0
    try:
        yield
    finally:
        SMALL_LAYER = old


def dense_apply(params: dict, x: jax.Array, parametrization: str) -> jax.Array:
    w = params["w"]
    y = jnp.sum(x[..., :, None] * w, axis=-2) if w.size <= SMALL_LAYER else x @ w
    if parametrization == "ntk":
        y = y / math.sqrt(w.shape[0])
    if "b" in params:
        y = y + params["b"]
    return y


def mup_lr_scale(fan_in: int, fan_out: int, role: str, base_width: int, optimizer: str) -> float:
    sgd_like = optimizer in ("sgd", "momentum")
    if role == "input":
        return fan_out / base_width if sgd_like else 1.0
    if role == "hidden":
        return 1.0 if sgd_like else base_width / fan_in
    return base_width / fan_in
