"""The readable reference: ``jax.jit(jax.vmap(train_one))``, one member's training in ``lax.scan``.

This is the specification the optimized population (``population``, driven by ``train``) must
reproduce: ``train_one`` is built only from ``Member``'s methods, each member computes its own
batches from its own data stream, and the population is the textbook vmap over flattened members,
with no shared batches, chunks or parts. ``tests/engine/test_reference.py`` checks that
``dt.train`` records the same numbers; the benchmark times ``train_one`` as its textbook baseline.

Example:
    >>> import dyntheory as dt
    >>> from dyntheory._engine import reference
    >>> sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(),
    ...                  steps=20, batch_size=8, axes={"lr": [0.05, 0.1]}, seeds=3, record=10)
    >>> (out,) = reference.train(sweep, key=0)
    >>> out["metrics"]["test_loss"].shape  # (lr, seed, step)
    (2, 3, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dyntheory._config.optim import OptSpec
from dyntheory._config.random import as_key
from dyntheory._config.sweep import Sweep
from dyntheory._engine.layout import Layout
from dyntheory._engine.member import Member
from dyntheory._engine.train import population_inputs


def train_one(member: Member, gargs, init_key, hp, *, steps: int, record: Sequence[int]):
    """Train one member: ``(metrics, final state)``.

    ``gargs`` are the ``group_setup`` arguments of its data stream (task, noise and data keys,
    traced task parameters); the member computes its own batches from them. Metrics are measured
    at the ``record`` steps (before that step's update) and stacked on a last axis; the state
    returned is the one after ``steps`` updates.
    """
    gs = member.group_setup(*gargs)
    ms = member.member_init(init_key, hp)

    def step(ms, t):
        return member.member_step(ms, hp, member.group_batch(gs, t), t), None

    out, t = [], 0
    for r in record:
        ms, _ = jax.lax.scan(step, ms, jnp.arange(t, r))
        values, metric_state = member.member_measure(ms, hp, gs, *member.group_sets(gs, r), r)
        ms, t = ms._replace(metric_state=metric_state), r
        out.append(values)
    ms, _ = jax.lax.scan(step, ms, jnp.arange(t, steps))
    return jax.tree.map(lambda *v: jnp.stack(v, axis=-1), *out) if out else {}, ms


@functools.lru_cache(maxsize=16)
def population(task, model, opt: OptSpec, batch_size: int | None, metrics: tuple, steps: int, record: tuple,
               loss=None):
    """The textbook population, ``jax.jit(jax.vmap(train_one))`` over flattened members, of one
    static group (cached on the static configuration: hyperparameter values are traced)."""
    member = Member(task=task, model=model, opt=opt, batch_size=batch_size, metrics=metrics, loss=loss)
    return jax.jit(jax.vmap(functools.partial(train_one, member, steps=steps, record=record)))


def flat_inputs(sweep: Sweep, root, task, layout: Layout) -> tuple:
    """``train``'s population inputs with one entry per member: (gargs, init keys, hparams), each
    leaf shaped (G * M, ...); a member's group arguments are its data stream's."""
    hps, gargs, init_keys = population_inputs(sweep, root, task, layout)
    G, M = layout.G, layout.M
    per_member = lambda x: jnp.broadcast_to(x[:, None], (G, M) + x.shape[1:]).reshape((G * M,) + x.shape[1:])  # noqa: E731
    flat = lambda x: x.reshape((G * M,) + x.shape[2:])  # noqa: E731
    return jax.tree.map(per_member, gargs), flat(init_keys), jax.tree.map(flat, hps)


def train(sweep: Sweep, *, key) -> list[dict]:
    """Train ``sweep`` the textbook way; one dict per compiled group (``sweep.static_groups()``
    order) with its ``coords``, its ``metrics`` (name -> array over the group's traced dims then
    ``step``, as ``dt.train`` records them), ``diverged_at`` and final ``params`` (traced dims first).
    """
    if sweep.interventions:
        raise ValueError("reference.train: interventions act between segments of dt.train; the textbook path "
                         "trains without them")
    if sweep.names("derived"):
        raise ValueError(f"reference.train: derived axes {list(sweep.names('derived'))} are set from a measurement "
                         "of the initial state, which this textbook path does not make; compare them with dt.train")
    root, layout = as_key(key), Layout(sweep)
    opt = OptSpec(sweep.optimizer, sweep.schedule, sweep.steps, sweep.warmup)
    results = []
    with jax.enable_x64(sweep.dtype == "float64"):
        for coords, task, model in sweep.static_groups():
            run = population(task, model, opt, sweep.group_batch_size(coords), sweep.metrics, sweep.steps,
                             sweep.record, sweep.loss)
            metrics, final = run(*flat_inputs(sweep, root, task, layout))
            user = lambda x: layout.to_user(np.asarray(x).reshape((layout.G, layout.M) + x.shape[1:]))  # noqa: E731
            results.append({"coords": coords, "metrics": {k: user(v) for k, v in metrics.items()},
                            "diverged_at": user(final.diverged_at), "params": jax.tree.map(user, final.params)})
    return results
