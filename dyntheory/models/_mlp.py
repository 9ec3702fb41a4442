"""Multilayer perceptrons on real inputs (``MLP``) and on token pairs (``EmbedMLP``)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, positive_int
from dyntheory.models._base import (ACTIVATIONS, check_activation, check_parametrization,
                                    check_widths, dense_apply, dense_init, mup_lr_scale)
from dyntheory.tasks import Spec


def _layers_init(key, dims, scale, parametrization, base_width, bias):
    keys = jax.random.split(key, len(dims) - 1)
    n = len(dims) - 1
    roles = ["input"] + ["hidden"] * (n - 2) + ["output"] if n > 1 else ["output"]
    return [dense_init(k, a, b, scale, parametrization, role=r, base_width=base_width, bias=bias)
            for k, a, b, r in zip(keys, dims[:-1], dims[1:], roles)]


def _layers_apply(layers, x, act, parametrization):
    for layer in layers[:-1]:
        x = act(dense_apply(layer, x, parametrization))
    return dense_apply(layers[-1], x, parametrization)


def _layers_lr(dims, parametrization, base_width, optimizer, bias):
    if parametrization != "mup":
        return None
    n = len(dims) - 1
    roles = ["input"] + ["hidden"] * (n - 2) + ["output"] if n > 1 else ["output"]
    out = []
    for a, b, r in zip(dims[:-1], dims[1:], roles):
        s = mup_lr_scale(a, b, r, base_width, optimizer)
        out.append({"w": s, "b": s} if bias else {"w": s})
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class MLP:
    """Fully connected network on real inputs.

    Args:
        widths: hidden widths, e.g. ``(32,)`` or ``(64, 64)`` (static: sweeping them compiles groups).
        activation: one of ``relu, tanh, gelu, silu, sigmoid, linear, quadratic``.
        parametrization: ``standard``, ``ntk`` or ``mup`` (see ``dyntheory.models._base``).
        bias: include biases (initialised at zero).
        base_width: the width at which ``mup`` coincides with ``standard``.

    Example:
        >>> model = MLP(widths=(32,), activation="tanh")
    """

    widths: tuple[int, ...]
    activation: str = "relu"
    parametrization: str = "standard"
    bias: bool = True
    base_width: int = 32

    def __post_init__(self):
        object.__setattr__(self, "widths", check_widths("MLP", "widths", self.widths))
        positive_int(self, "base_width")
        flag_field(self, "bias")
        check_activation("MLP", self.activation)
        check_parametrization("MLP", self.parametrization)

    def check(self, spec: Spec) -> None:
        if spec.vocab is not None:
            raise ValueError(f"task/model shape mismatch: MLP needs real-valued inputs, the task "
                             f"gives tokens (vocab={spec.vocab}); use EmbedMLP")

    def _dims(self, spec: Spec):
        return [spec.d_in, *self.widths, spec.d_out]

    def init(self, key, hp, spec: Spec):
        return {"layers": _layers_init(key, self._dims(spec), hp.init_scale, self.parametrization,
                                       self.base_width, self.bias)}

    def apply(self, params, x):
        return _layers_apply(params["layers"], x, ACTIVATIONS[self.activation], self.parametrization)

    def lr_scales(self, spec: Spec, optimizer: str):
        lr = _layers_lr(self._dims(spec), self.parametrization, self.base_width, optimizer, self.bias)
        return None if lr is None else {"layers": lr}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbedMLP:
    """Token embeddings, concatenated, then an MLP to logits (for modular arithmetic).

    ``embed ~ N(0, init_scale^2)`` of shape (vocab, embed_dim); the MLP follows ``parametrization``.

    Example:
        >>> model = EmbedMLP(embed_dim=32, widths=(64,))
    """

    embed_dim: int = 32
    widths: tuple[int, ...] = (128,)
    activation: str = "relu"
    parametrization: str = "standard"
    bias: bool = True
    base_width: int = 32

    def __post_init__(self):
        object.__setattr__(self, "widths", check_widths("EmbedMLP", "widths", self.widths))
        positive_int(self, "embed_dim")
        positive_int(self, "base_width")
        flag_field(self, "bias")
        check_activation("EmbedMLP", self.activation)
        check_parametrization("EmbedMLP", self.parametrization)

    def check(self, spec: Spec) -> None:
        if spec.vocab is None:
            raise ValueError("task/model shape mismatch: EmbedMLP needs token inputs (a task with a "
                             f"vocab), the task gives real vectors of width {spec.d_in}; use MLP")

    def _dims(self, spec: Spec):
        return [spec.d_in * self.embed_dim, *self.widths, spec.d_out]

    def init(self, key, hp, spec: Spec):
        k_embed, k_mlp = jax.random.split(key)
        embed = hp.init_scale * jax.random.normal(k_embed, (spec.vocab, self.embed_dim))
        return {"embed": embed,
                "layers": _layers_init(k_mlp, self._dims(spec), hp.init_scale, self.parametrization,
                                       self.base_width, self.bias)}

    def apply(self, params, x):
        h = jnp.take(params["embed"], x, axis=0).reshape(x.shape[0], -1)
        return _layers_apply(params["layers"], h, ACTIVATIONS[self.activation], self.parametrization)

    def lr_scales(self, spec: Spec, optimizer: str):
        lr = _layers_lr(self._dims(spec), self.parametrization, self.base_width, optimizer, self.bias)
        return None if lr is None else {"embed": 1.0, "layers": lr}
