"""A one-member population's step and measurement lowered (not compiled, nothing runs), to look
for LAPACK calls before a run on several CPU devices (see ``dyntheory._platform.lapack``)."""

from __future__ import annotations

import jax

from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory._engine.parts import member_shapes
from dyntheory._platform.lapack import lapack_targets


def one_member(fns: dict, task, dtype) -> tuple:
    """Shapes of a one-member population's group state, members, hyperparameters and step."""
    key = jax.ShapeDtypeStruct((1,), jax.random.key(0).dtype)
    tp = {f: jax.ShapeDtypeStruct((1,), dtype) for f in type(task).traced_fields}
    hps = HParams(**{n: jax.ShapeDtypeStruct((1, 1), dtype) for n in HPARAMS})
    gs = jax.eval_shape(fns["setup"], key, key, key, tp)
    return gs, member_shapes(fns, hps), hps, jax.ShapeDtypeStruct((), "int32")


def lapack_calls(fns: dict, task, dtype) -> dict[str, list[str]]:
    """The LAPACK custom-call targets in ``fns``'s ``advance`` and ``measure``, lowered (not
    compiled, nothing runs) for a population of one member."""
    gs, members, hps, t = one_member(fns, task, dtype)
    texts = {"advance": fns["advance"].lower(gs, members, hps, t, t).as_text(),
             "measure": fns["measure"].lower(gs, members, hps, t).as_text()}
    return {name: lapack_targets(text) for name, text in texts.items()}
