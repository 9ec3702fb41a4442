"""Bring any flax linen module into a population through its functional init/apply."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from dyntheory.tasks import Spec


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlaxModel:
    """Wrap a ``flax.linen.Module``: ``init`` is ``module.init`` times ``init_scale``, ``apply`` is
    ``module.apply``. The module is traced once per compiled group, never mutated.

    Args:
        module: a linen module instance mapping ``(batch, d_in)`` inputs to ``(batch, d_out)``.
        name: a label for configs and stores (modules are compared by this name and ``repr``).

    Example:
        >>> import flax.linen as nn
        >>> model = FlaxModel(module=nn.Dense(3), name="dense3")
    """

    module: Any
    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"FlaxModel.name must be a non-empty string, got {self.name!r}")
        if not (callable(getattr(self.module, "init", None)) and callable(getattr(self.module, "apply", None))):
            raise ValueError(f"FlaxModel.module must be a flax.linen Module (with init and apply), "
                             f"got {self.module!r}")

    def check(self, spec: Spec) -> None:
        x = jnp.zeros((1, spec.d_in), jnp.int32 if spec.vocab else jnp.float32)
        shapes = jax.eval_shape(lambda: self.module.apply(self.module.init(jax.random.key(0), x), x))
        if shapes.shape != (1, spec.d_out):
            raise ValueError(f"task/model shape mismatch: FlaxModel {self.name!r} maps to {shapes.shape[1:]}, "
                             f"the task needs d_out={spec.d_out}")

    def init(self, key, hp, spec: Spec):
        x = jnp.zeros((1, spec.d_in), jnp.int32 if spec.vocab else jnp.float32)
        params = self.module.init(key, x)["params"]
        return jax.tree.map(lambda p: hp.init_scale * p, params)

    def apply(self, params, x):
        return self.module.apply({"params": params}, x)

    def lr_scales(self, spec: Spec, optimizer: str):
        return None

    def __hash__(self):
        return hash((self.name, repr(self.module)))

    def __eq__(self, other):
        return isinstance(other, FlaxModel) and (self.name, repr(self.module)) == (other.name, repr(other.module))
