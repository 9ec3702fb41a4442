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

import math
from collections.abc import Iterable

import jax
import jax.numpy as jnp

from dyntheory._config.checks import is_integer
from dyntheory._platform import products

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
    """Hidden widths as a tuple of ints: one integer (numpy's too) or a sequence of them."""
    where = f"{owner}.{name}"
    if is_integer(widths):
        widths = (widths,)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Iterable):
        # A string is iterable: '64' would have read as the widths ('6', '4').
        raise ValueError(f"{where} must be a positive integer or a tuple of them, got {widths!r}")
    widths = tuple(widths)
    for w in widths:
        if not is_integer(w) or w < 1:
            raise ValueError(f"{where} must hold positive integers, got {widths!r}")
    return tuple(int(w) for w in widths)


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


def dense_apply(params: dict, x: jax.Array, parametrization: str) -> jax.Array:
    w = params["w"]
    y = jnp.sum(x[..., :, None] * w, axis=-2) if w.size <= products.SMALL_LAYER else x @ w
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
