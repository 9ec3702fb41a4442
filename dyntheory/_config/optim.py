"""Optimizers built inside ``train_one`` so that every hyperparameter can be traced per member."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax

from dyntheory._config.hparams import HParams


class OptSpec(NamedTuple):
    """The static part of the optimizer (names and lengths); values come from ``HParams``."""

    name: str
    schedule: str
    steps: int
    warmup: int


# The decay phase of warmup-stable-decay: the last 20% of the steps, as in Hägele et al. 2024
# (arXiv 2405.18392), whose cooldowns of 10-20% matched cosine.
WSD_DECAY = 0.2


def wsd_schedule(lr, steps: int, warmup: int, decay: float = WSD_DECAY):
    """Warmup-stable-decay (Hu et al. 2024, MiniCPM, arXiv 2404.06395): linear warm-up over
    ``warmup`` steps, constant ``lr``, then linear to 0 over the last ``decay`` of the steps."""
    start = max(warmup, steps - max(int(round(decay * steps)), 1))
    return optax.join_schedules([optax.linear_schedule(0.0, lr, max(warmup, 1)),
                                 optax.constant_schedule(lr),
                                 optax.linear_schedule(lr, 0.0, max(steps - start, 1))],
                                boundaries=[max(warmup, 1) if warmup else 0, start])


def _schedule(spec: OptSpec, lr):
    if spec.schedule == "wsd":
        return wsd_schedule(lr, spec.steps, spec.warmup)
    if spec.schedule == "constant":
        return lambda count: lr
    if spec.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, spec.steps)
    if spec.schedule == "linear":
        return optax.linear_schedule(lr, 0.0, spec.steps)
    return optax.warmup_cosine_decay_schedule(0.0, lr, max(spec.warmup, 1), spec.steps)


def _scale_tree(scales) -> optax.GradientTransformation:
    """Multiply updates leafwise by per-layer learning-rate multipliers (muP)."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda u, s: u * s, updates, scales), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(spec: OptSpec, hp: HParams, lr_scales: Any = None) -> optax.GradientTransformation:
    """``sgd``/``momentum``/``adam`` add ``weight_decay * w`` to the gradient (L2);
    ``adamw`` decays weights decoupled from the adaptive scaling (Loshchilov & Hutter 2019)."""
    sched = _schedule(spec, hp.lr)
    parts = []
    if spec.name != "adamw":
        parts.append(optax.add_decayed_weights(hp.weight_decay))
    if spec.name == "momentum":
        parts.append(optax.trace(decay=hp.momentum))
    elif spec.name in ("adam", "adamw"):
        parts.append(optax.scale_by_adam(b1=hp.b1, b2=hp.b2, eps=hp.eps))
    if spec.name == "adamw":
        parts.append(optax.add_decayed_weights(hp.weight_decay))
    parts.append(optax.scale_by_learning_rate(sched))
    if lr_scales is not None:
        parts.append(_scale_tree(lr_scales))
    return optax.chain(*parts)
