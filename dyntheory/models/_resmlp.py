"""A residual MLP whose residual branches scale with depth (depth-muP, CompleteP).

``h_0 = W_in x``, then ``depth`` blocks ``h_l = h_{l-1} + m_L W_l phi(h_{l-1})`` with ``W_l``
square (``width x width``), and the readout ``f = W_out h_L``. The branch multiplier is
``m_L = (base_depth / depth)^alpha``: ``alpha = 0`` (``residual="none"``), ``1/2``
(``"1/sqrt(L)"``, depth-muP: Yang et al. 2023, arXiv 2310.02244; Bordelon et al. 2023, arXiv
2309.16620) or ``1`` (``"1/L"``, CompleteP: Dey et al. 2025, arXiv 2505.01618, Table 1). With a
scaled branch the residual weights' learning rate is scaled too, so that the ``L`` branches
together move the residual stream by ``O(1)`` per step: SGD ``(L / L_0)^(2 alpha - 1)``, Adam
``(L / L_0)^(alpha - 1)`` (``theory/depth_transfer.py`` derives both from the sum over blocks).
Width follows ``parametrization`` (``standard`` or ``mup``, Table 3 of Yang et al. 2022).
"""

from __future__ import annotations

import dataclasses

import jax

from dyntheory._config.checks import flag_field, positive_int
from dyntheory.models._base import (ACTIVATIONS, check_activation, check_parametrization, dense_apply,
                                    dense_init, mup_lr_scale)
from dyntheory.tasks import Spec

RESIDUALS = {"none": 0.0, "1/sqrt(L)": 0.5, "1/L": 1.0}


def depth_factors(residual: str, depth: int, base_depth: int) -> dict[str, float]:
    """Branch multiplier and residual-weight learning-rate multipliers (SGD, Adam).

    Example:
        >>> depth_factors("1/L", 8, 2)
        {'branch': 0.25, 'sgd': 4.0, 'adam': 1.0}
    """
    alpha = RESIDUALS[residual]
    r = depth / base_depth
    if alpha == 0.0:
        return {"branch": 1.0, "sgd": 1.0, "adam": 1.0}
    return {"branch": r ** -alpha, "sgd": r ** (2 * alpha - 1), "adam": r ** (alpha - 1)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResMLP:
    """Residual MLP on real inputs, its branches scaled with depth.

    Args:
        width: residual-stream width (static).
        depth: number of residual blocks (static).
        activation: the branch nonlinearity.
        parametrization: ``standard`` or ``mup`` (width scaling, as in ``MLP``).
        residual: ``"none"``, ``"1/sqrt(L)"`` or ``"1/L"``: the branch multiplier's depth scaling.
        base_width: the width at which ``mup`` coincides with ``standard``.
        base_depth: the depth at which the branch multiplier is 1.

    Example:
        >>> model = ResMLP(width=64, depth=8, residual="1/L")
    """

    width: int = 64
    depth: int = 4
    activation: str = "relu"
    parametrization: str = "standard"
    residual: str = "none"
    base_width: int = 32
    base_depth: int = 1
    bias: bool = False

    def __post_init__(self):
        for name in ("width", "depth", "base_width", "base_depth"):
            positive_int(self, name)
        flag_field(self, "bias")
        check_activation("ResMLP", self.activation)
        check_parametrization("ResMLP", self.parametrization, ("standard", "mup"))
        if self.residual not in RESIDUALS:
            raise ValueError(f"ResMLP.residual must be one of {tuple(RESIDUALS)}, got {self.residual!r}")

    def check(self, spec: Spec) -> None:
        if spec.vocab is not None:
            raise ValueError(f"task/model shape mismatch: ResMLP needs real-valued inputs, the task "
                             f"gives tokens (vocab={spec.vocab})")

    def init(self, key, hp, spec: Spec):
        k_in, k_out, *k_blocks = jax.random.split(key, self.depth + 2)
        kw = dict(base_width=self.base_width, bias=self.bias)
        n, p = self.width, self.parametrization
        return {"in": dense_init(k_in, spec.d_in, n, hp.init_scale, p, role="input", **kw),
                "blocks": [dense_init(k, n, n, hp.init_scale, p, role="hidden", **kw) for k in k_blocks],
                "out": dense_init(k_out, n, spec.d_out, hp.init_scale, p, role="output", **kw)}

    def apply(self, params, x):
        act, p = ACTIVATIONS[self.activation], self.parametrization
        m = depth_factors(self.residual, self.depth, self.base_depth)["branch"]
        h = dense_apply(params["in"], x, p)
        for block in params["blocks"]:
            h = h + dense_apply(block, act(h), p, m)
        return dense_apply(params["out"], h, p)

    def lr_scales(self, spec: Spec, optimizer: str):
        sgd_like = optimizer in ("sgd", "momentum")
        d = depth_factors(self.residual, self.depth, self.base_depth)["sgd" if sgd_like else "adam"]
        mup = self.parametrization == "mup"
        if not mup and d == 1.0:
            return None
        n, b = self.width, self.base_width
        width = (lambda fi, fo, r: mup_lr_scale(fi, fo, r, b, optimizer)) if mup else (lambda *_: 1.0)
        leaf = lambda s: {"w": s, "b": s} if self.bias else {"w": s}  # noqa: E731
        return {"in": leaf(width(spec.d_in, n, "input")),
                "blocks": [leaf(width(n, n, "hidden") * d) for _ in range(self.depth)],
                "out": leaf(width(n, spec.d_out, "output"))}
