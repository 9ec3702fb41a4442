"""Optimizers built inside ``train_one`` so that every hyperparameter can be traced per member."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dyntheory._config.hparams import HParams


class OptSpec(NamedTuple):
    """The static part of the optimizer (names and lengths); values come from ``HParams``."""

    name: str
    schedule: str
    steps: int
    warmup: int
    filters: tuple = ()  # switchable filters interventions need (``interventions.filters``)


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


class ClipState(NamedTuple):
    """State of a switchable update-norm clip: off until an intervention sets ``on``."""

    on: jax.Array


class GrokfastState(NamedTuple):
    """State of a switchable Grokfast-EMA filter: the gradients' EMA, and the switch."""

    on: jax.Array
    ema: Any


def _clip_updates(max_norm: float) -> optax.GradientTransformation:
    """Clip the update to global norm ``max_norm`` where switched on (identity while off)."""

    def init(params):
        return ClipState(on=jnp.zeros((), bool))

    def update(updates, state, params=None):
        norm = optax.tree.norm(updates)
        scale = jnp.where(state.on & (norm > max_norm), max_norm / jnp.maximum(norm, 1e-30), 1.0)
        return jax.tree.map(lambda u: u * scale.astype(u.dtype), updates), state

    return optax.GradientTransformation(init, update)


def _grokfast(alpha: float, lamb: float) -> optax.GradientTransformation:
    """Grokfast-EMA (Lee et al. 2024, arXiv 2405.20233): ``g + lamb * ema(g)`` where switched on;
    the EMA (decay ``alpha``) follows the gradients from the switch on."""

    def init(params):
        return GrokfastState(on=jnp.zeros((), bool), ema=jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        ema = jax.tree.map(lambda e, g: jnp.where(state.on, alpha * e + (1 - alpha) * g, e), state.ema, updates)
        out = jax.tree.map(lambda g, e: jnp.where(state.on, g + lamb * e, g), updates, ema)
        return out, GrokfastState(on=state.on, ema=ema)

    return optax.GradientTransformation(init, update)


class PenaltyState(NamedTuple):
    """State of a switchable penalty: on while an intervention's window is open."""

    on: jax.Array


def _penalty(fn, weight: float) -> optax.GradientTransformation:
    """Add ``weight * grad fn(params)`` to the gradient where switched on."""

    def init(params):
        return PenaltyState(on=jnp.zeros((), bool))

    def update(updates, state, params=None):
        extra = jax.grad(fn)(params)
        return jax.tree.map(lambda g, e: jnp.where(state.on, g + weight * e, g), updates, extra), state

    return optax.GradientTransformation(init, update)


def make_optimizer(spec: OptSpec, hp: HParams, lr_scales: Any = None) -> optax.GradientTransformation:
    """``sgd``/``momentum``/``adam`` add ``weight_decay * w`` to the gradient (L2);
    ``adamw`` decays weights decoupled from the adaptive scaling (Loshchilov & Hutter 2019).
    ``spec.filters`` adds switchable filters (off until an intervention switches them on)."""
    sched = _schedule(spec, hp.lr)
    parts = [_penalty(f[1], f[2]) for f in spec.filters if f[0] == "penalty"]
    parts += [_grokfast(f[1], f[2]) for f in spec.filters if f[0] == "grokfast"]
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
    parts += [_clip_updates(f[1]) for f in spec.filters if f[0] == "clip"]
    return optax.chain(*parts)
