"""Multilayer perceptrons on real inputs (``MLP``) and on token pairs (``EmbedMLP``)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, positive_int
from dyntheory.models._base import (ACTIVATIONS, READOUTS, check_activation, check_parametrization,
                                    check_widths, dense_apply, dense_init, mup_layer, mup_lr_scale)
from dyntheory.tasks import Spec


def _roles(n: int) -> list[str]:
    return ["input"] + ["hidden"] * (n - 2) + ["output"] if n > 1 else ["output"]


def _tables(dims, base_width, mup):
    """Per-layer :func:`mup_layer` tables, or ``None`` for Table 3 as first written (the exact
    numbers of every run before the variants existed)."""
    if mup is None:
        return [None] * (len(dims) - 1)
    return [mup_layer(r, a, b, base_width, **mup) for a, b, r in zip(dims[:-1], dims[1:], _roles(len(dims) - 1))]


def _layers_init(key, dims, scale, parametrization, base_width, bias, mup=None):
    keys = jax.random.split(key, len(dims) - 1)
    tables = _tables(dims, base_width, mup)
    return [dense_init(k, a, b, scale, parametrization, role=r, base_width=base_width, bias=bias, mup=t)
            for k, a, b, r, t in zip(keys, dims[:-1], dims[1:], _roles(len(dims) - 1), tables)]


def _layers_apply(layers, x, act, parametrization, base_width=None, mup=None):
    # The multipliers follow from the static shapes, so apply needs no spec.
    dims = [layers[0]["w"].shape[0]] + [layer["w"].shape[1] for layer in layers]
    mult = [1.0 if t is None else t["a"] for t in _tables(dims, base_width, mup)]
    for layer, a in zip(layers[:-1], mult[:-1]):
        x = act(dense_apply(layer, x, parametrization, a))
    return dense_apply(layers[-1], x, parametrization, mult[-1])


def _layers_lr(dims, parametrization, base_width, optimizer, bias, mup=None):
    if parametrization != "mup":
        return None
    out = []
    for a, b, r, t in zip(dims[:-1], dims[1:], _roles(len(dims) - 1), _tables(dims, base_width, mup)):
        if t is None:
            s = mup_lr_scale(a, b, r, base_width, optimizer)
        else:
            s = t["sgd"] if optimizer in ("sgd", "momentum") else t["adam"]
        out.append({"w": s, "b": s} if bias else {"w": s})
    return out


def _check_mup(owner, model) -> dict | None:
    if model.mup_readout not in READOUTS:
        raise ValueError(f"{owner}.mup_readout must be one of {READOUTS}, got {model.mup_readout!r}")
    if not isinstance(model.mup_eps, bool):
        raise ValueError(f"{owner}.mup_eps must be True or False, got {model.mup_eps!r}")
    variant = model.mup_readout != "init" or model.mup_eps
    if variant and model.parametrization != "mup":
        raise ValueError(f"{owner}: mup_readout={model.mup_readout!r}, mup_eps={model.mup_eps!r} only apply "
                         f"with parametrization='mup', got {model.parametrization!r}")
    if model.mup_eps and model.mup_readout == "multiplier":
        raise ValueError(f"{owner}: mup_eps=True scales Adam's eps with the readout in its 'init' form; "
                         "a forward multiplier base/fan_in shrinks the readout's gradient to O(1/width), "
                         "where one eps for every layer is no longer negligible (use mup_readout='init')")
    return {"readout": model.mup_readout, "eps": model.mup_eps} if variant else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class MLP:
    """Fully connected network on real inputs.

    Args:
        widths: hidden widths, e.g. ``(32,)`` or ``(64, 64)`` (static: sweeping them compiles groups).
        activation: one of ``relu, tanh, gelu, silu, sigmoid, linear, quadratic``.
        parametrization: ``standard``, ``ntk`` or ``mup`` (see ``dyntheory.models._base``).
        bias: include biases (initialised at zero).
        base_width: the width at which ``mup`` coincides with ``standard``.
        mup_readout: how ``mup`` shrinks the readout: ``"init"`` (Yang et al. 2022 Table 3: init
            and learning rate), ``"multiplier"`` (Table 8: a forward multiplier ``base/width``), or
            ``"standard"`` (left as in SP: a mutant, for checking that checks catch it).
        mup_eps: with ``mup``, scale Adam's ``eps`` per layer like its gradient (``base/width`` for
            the input and hidden layers). Without it, one ``eps`` for every layer is too large for
            the hidden layers of a wide network. ``mup_readout`` and ``mup_eps`` at their defaults
            give exactly the ``mup`` of earlier runs.

    Example:
        >>> model = MLP(widths=(32,), activation="tanh")
        >>> adam_mup = MLP(widths=(512,), parametrization="mup", mup_eps=True)
    """

    widths: tuple[int, ...]
    activation: str = "relu"
    parametrization: str = "standard"
    bias: bool = True
    base_width: int = 32
    mup_readout: str = "init"
    mup_eps: bool = False

    def __post_init__(self):
        object.__setattr__(self, "widths", check_widths("MLP", "widths", self.widths))
        positive_int(self, "base_width")
        flag_field(self, "bias")
        check_activation("MLP", self.activation)
        check_parametrization("MLP", self.parametrization)
        _check_mup("MLP", self)

    def check(self, spec: Spec) -> None:
        if spec.vocab is not None:
            raise ValueError(f"task/model shape mismatch: MLP needs real-valued inputs, the task "
                             f"gives tokens (vocab={spec.vocab}); use EmbedMLP")

    def _dims(self, spec: Spec):
        return [spec.d_in, *self.widths, spec.d_out]

    def init(self, key, hp, spec: Spec):
        return {"layers": _layers_init(key, self._dims(spec), hp.init_scale, self.parametrization,
                                       self.base_width, self.bias, _check_mup("MLP", self))}

    def apply(self, params, x):
        return _layers_apply(params["layers"], x, ACTIVATIONS[self.activation], self.parametrization,
                             self.base_width, _check_mup("MLP", self))

    def features(self, params, x) -> list:
        """The post-activation hidden features of every hidden layer, as ``apply`` computes them
        (for coordinate checks)."""
        layers, mup = params["layers"], _check_mup("MLP", self)
        dims = [layers[0]["w"].shape[0]] + [layer["w"].shape[1] for layer in layers]
        mult = [1.0 if t is None else t["a"] for t in _tables(dims, self.base_width, mup)]
        out = []
        for layer, a in zip(layers[:-1], mult[:-1]):
            x = ACTIVATIONS[self.activation](dense_apply(layer, x, self.parametrization, a))
            out.append(x)
        return out

    def lr_scales(self, spec: Spec, optimizer: str):
        lr = _layers_lr(self._dims(spec), self.parametrization, self.base_width, optimizer, self.bias,
                        _check_mup("MLP", self))
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
