"""Shared pieces of the built-in models: activations, checks and dense layers with parametrizations.

Parametrizations (``fan_in`` of the layer, ``s`` the member's traced ``init_scale``):

- ``standard``: ``w ~ N(0, s^2 / fan_in)``, ``y = x @ w + b``.
- ``ntk``: ``w ~ N(0, s^2)``, ``y = x @ w / sqrt(fan_in) + b`` (Jacot et al. 2018, arXiv 1806.07572).
- ``mup``: maximal update parametrization in its per-layer learning-rate form (Yang et al. 2022,
  "Tensor Programs V", arXiv 2203.03466, Table 3), relative to ``base_width`` so that at
  ``width == base_width`` it equals ``standard``. Output layer init variance
  ``s^2 base / fan_in^2``. Learning-rate multipliers: SGD input ``fan_out/base``, hidden 1, output
  ``base/fan_in``; Adam-family input 1, hidden and output ``base/fan_in``. A layer's bias takes its
  weight's multiplier (Table 3 puts every bias in the input column: SGD ``fan_out``, Adam 1;
  this differs for hidden and output biases, which the sims avoid with ``bias=False``).

muP variants (:func:`mup_layer`; ``n`` the layer's width side, ``b`` the base width), each a
layer ``y = a (x @ theta + bias)`` with ``theta``'s init std and learning-rate multipliers chosen
so that the function ``w = a theta`` trains exactly as Table 3's (real arithmetic):

- ``readout="init"``: Table 3 (``a = 1``).
- ``readout="multiplier"``: the readout multiplier ``a = b / n`` of Yang et al. Table 8 (also
  microsoft/mup's ``MuReadout``): ``theta`` init std ``s / sqrt(b)``, SGD lr ``n / b``, Adam lr 1.
- ``readout="standard"``: the readout left as in ``standard`` (std ``s / sqrt(n)``, lr 1): a
  mutant, muP without its readout scaling.
- ``eps=True``: Adam's ``eps`` scaled like each layer's gradient, ``b / n`` for the input and
  hidden layers (whose gradients are ``O(1/n)`` under muP) and 1 for the readout (Everett et al.
  2024, arXiv 2407.05872, section on epsilon; the missing scaling is the nanoGPT-mup bug of arXiv
  2512.22382). One ``eps`` serves every layer in the optimizer, so the scaling is carried by the
  multiplier ``a = n / b``: Adam on ``theta = w / a`` with ``eps`` moves ``w`` as Adam on ``w``
  with ``eps / a``; ``theta``'s Adam lr is divided by ``a`` and its SGD lr by ``a^2``.
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
               base_width: int, bias: bool, mup: dict | None = None) -> dict:
    """One dense layer's parameters; ``role`` is "input", "hidden" or "output" (for muP);
    ``mup``, a :func:`mup_layer` table, overrides the ``mup`` init std."""
    z = jax.random.normal(key, (fan_in, fan_out))
    if mup is not None:
        std = scale * mup["std"] / math.sqrt(fan_in)
    elif parametrization == "ntk":
        std = scale
    elif parametrization == "mup" and role == "output":
        std = scale * math.sqrt(base_width) / fan_in
    else:
        std = scale / math.sqrt(fan_in)
    params = {"w": std * z}
    if bias:
        params["b"] = jnp.zeros((fan_out,))
    return params


def dense_apply(params: dict, x: jax.Array, parametrization: str, multiplier: float = 1.0) -> jax.Array:
    w = params["w"]
    y = jnp.sum(x[..., :, None] * w, axis=-2) if w.size <= products.SMALL_LAYER else x @ w
    if parametrization == "ntk":
        y = y / math.sqrt(w.shape[0])
    if "b" in params:
        y = y + params["b"]
    return y if multiplier == 1.0 else multiplier * y


READOUTS = ("init", "multiplier", "standard")


def mup_layer(role: str, fan_in: int, fan_out: int, base_width: int, *, readout: str = "init",
              eps: bool = False) -> dict[str, float]:
    """One layer's muP factors: forward multiplier ``a``, init std relative to ``s / sqrt(fan_in)``
    (``std``), and learning-rate multipliers ``sgd`` and ``adam`` (see the module docstring).

    Example:
        >>> mup_layer("hidden", 512, 512, 32)
        {'a': 1.0, 'std': 1.0, 'sgd': 1.0, 'adam': 0.0625}
    """
    n = fan_out if role == "input" else fan_in
    if role == "output" and readout == "standard":
        return {"a": 1.0, "std": 1.0, "sgd": 1.0, "adam": 1.0}
    w_std = math.sqrt(base_width / fan_in) if role == "output" else 1.0
    sgd = mup_lr_scale(fan_in, fan_out, role, base_width, "sgd")
    adam = mup_lr_scale(fan_in, fan_out, role, base_width, "adam")
    a = 1.0
    if role == "output" and readout == "multiplier":
        a = base_width / fan_in
    elif eps and role != "output":
        a = n / base_width
    return {"a": a, "std": w_std / a, "sgd": sgd / a ** 2, "adam": adam / a}


def mup_lr_scale(fan_in: int, fan_out: int, role: str, base_width: int, optimizer: str) -> float:
    sgd_like = optimizer in ("sgd", "momentum")
    if role == "input":
        return fan_out / base_width if sgd_like else 1.0
    if role == "hidden":
        return 1.0 if sgd_like else base_width / fan_in
    return base_width / fan_in
