"""Linear and deep linear networks (row-vector convention: ``y = x @ W1 @ ... @ WD``)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, positive_int
from dyntheory.models._base import check_parametrization, dense_apply, dense_init
from dyntheory.tasks import Spec


def _need_reals(owner: str, spec: Spec) -> None:
    if spec.vocab is not None:
        raise ValueError(f"task/model shape mismatch: {owner} needs real-valued inputs, "
                         f"the task gives tokens (vocab={spec.vocab}); use EmbedMLP")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Linear:
    """``y = x @ w (+ b)``; ``w ~ N(0, init_scale^2 / d_in)`` (``init_scale=0`` starts at zero).

    Example:
        >>> model = Linear()
    """

    bias: bool = False

    def __post_init__(self):
        flag_field(self, "bias")

    def check(self, spec: Spec) -> None:
        _need_reals("Linear", spec)

    def init(self, key, hp, spec: Spec):
        return dense_init(key, spec.d_in, spec.d_out, hp.init_scale, "standard", role="input",
                          base_width=1, bias=self.bias)

    def apply(self, params, x):
        return dense_apply(params, x, "standard")

    def lr_scales(self, spec: Spec, optimizer: str):
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepLinear:
    """A depth-``depth`` linear network ``x @ W1 @ ... @ WD`` with hidden width ``width``.

    Args:
        depth: number of weight matrices (>= 1).
        width: hidden width.
        balanced: start from a balanced init, ``W_j^T W_j = W_{j+1} W_{j+1}^T`` exactly (Arora,
            Cohen, Hazan 2018, arXiv 1802.06509): each layer's nonzero singular values equal
            ``init_scale * sigma(G)`` for a Gaussian ``G``, so the product is ``O(init_scale^depth)``.
        parametrization: ``standard`` or ``ntk`` (``ntk`` with depth 2, width n and a single
            input 1 is the uv model of the catapult paper: ``f = u.v / sqrt(n)``).

    Example:
        >>> model = DeepLinear(depth=3, width=16, balanced=True)
    """

    depth: int
    width: int
    balanced: bool = False
    parametrization: str = "standard"

    def __post_init__(self):
        positive_int(self, "depth")
        positive_int(self, "width")
        flag_field(self, "balanced")
        check_parametrization("DeepLinear", self.parametrization, ("standard", "ntk"))
        if self.balanced and self.parametrization != "standard":
            raise ValueError("DeepLinear.balanced needs parametrization='standard', "
                             f"got {self.parametrization!r}")

    def check(self, spec: Spec) -> None:
        _need_reals("DeepLinear", spec)
        if self.balanced and self.depth > 1 and self.width < min(spec.d_in, spec.d_out):
            raise ValueError(f"DeepLinear.width must be >= min(d_in, d_out)={min(spec.d_in, spec.d_out)} "
                             f"for a balanced init, got {self.width}")

    def _dims(self, spec: Spec):
        return [spec.d_in] + [self.width] * (self.depth - 1) + [spec.d_out]

    def init(self, key, hp, spec: Spec):
        dims = self._dims(spec)
        keys = jax.random.split(key, self.depth + 1)
        if not self.balanced:
            return {"layers": [dense_init(k, a, b, hp.init_scale, self.parametrization, role="hidden",
                                          base_width=1, bias=False)
                               for k, a, b in zip(keys, dims[:-1], dims[1:])]}
        r = min(spec.d_in, spec.d_out) if self.depth > 1 else None
        g = jax.random.normal(keys[0], (spec.d_in, spec.d_out)) / math.sqrt(max(spec.d_in, spec.d_out))
        u, s, vt = jnp.linalg.svd(g, full_matrices=False)
        if self.depth == 1:
            return {"layers": [{"w": hp.init_scale * g}]}
        frames = [jnp.linalg.qr(jax.random.normal(k, (self.width, r)))[0] for k in keys[1:self.depth]]
        root = hp.init_scale * s  # every layer carries these singular values
        lefts = [u] + frames
        rights = frames + [vt.T]
        return {"layers": [{"w": (lft * root) @ rgt.T} for lft, rgt in zip(lefts, rights)]}

    def apply(self, params, x):
        for layer in params["layers"]:
            x = dense_apply(layer, x, self.parametrization)
        return x

    def lr_scales(self, spec: Spec, optimizer: str):
        return None

    def end_to_end(self, params) -> jax.Array:
        """The network's end-to-end matrix (``W1 @ ... @ WD`` with any ntk factors), (d_in, d_out)."""
        return self.apply(params, jnp.eye(params["layers"][0]["w"].shape[0]))
