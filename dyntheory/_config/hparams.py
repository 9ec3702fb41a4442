"""Per-member traced hyperparameters: a registered dataclass pytree (one leaf per name)."""

from __future__ import annotations

import dataclasses

import jax

HPARAMS = ("lr", "momentum", "weight_decay", "init_scale", "b1", "b2", "eps")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HParams:
    """Hyperparameters that vary per member without recompiling; each leaf is a scalar per member."""

    lr: jax.Array
    momentum: jax.Array
    weight_decay: jax.Array
    init_scale: jax.Array
    b1: jax.Array
    b2: jax.Array
    eps: jax.Array
