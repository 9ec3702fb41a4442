"""W1's whole step written by hand: the second bound behind the "45% of the ceiling" target (issue 30).

``kernels`` times W1's first-layer kernels alone (81% of the ceiling on the quiet 2-core
machine, 2026-12-06) and the engine's whole step ran at 45% of them. Is the rest lost to the
engine's generality (``vmap`` over members of a user's model, the layouts XLA then picks) or to
XLA:CPU running the rest of the step? ``hand_step`` answers that: W1's full SGD step (biases,
the tanh readout, the half squared error, every gradient, the divergence guard on the update's
squared norm and the guarded update) written directly for a chunk of data streams with their
members side by side, in the layouts its dots want (the first layer's weights ``(streams, d_in,
members x hidden)``, so no transposes), with each stream's batch *fixed* (no sampling: about 13%
of the engine's step, so this favours the hand-written step). ``hand_line`` times it walked chunk
by chunk per device as the engine walks its chunks, alternately with the engine's own step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dyntheory.bench._workloads import Engine, timed
from dyntheory.bench.kernels import STEPS, engine_chunk

MEMBERS, HIDDEN, D_IN = 10, 32, 16  # W1: 10 learning rates per stream, a 16-32-1 tanh MLP


def hand_step(params, x, y, lr):
    """One guarded SGD step of W1 for ``S`` streams of ``M`` members sharing each stream's batch.

    ``params = (w1 (S, D, M*H), b1 (S, M*H), w2 (S, M*H), b2 (S, M))``, ``x (S, B, D)``, ``y (S, B,
    1)``, ``lr (S, M)``. The loss is ``mean_b 0.5 (f(x_b) - y_b)^2`` per member; a member whose
    loss or update's squared norm is not finite keeps its parameters (the engine's guard).
    Returns the new parameters and the members' losses ``(S, M)``."""
    w1, b1, w2, b2 = params
    s, batch, _ = x.shape
    m = b2.shape[1]
    hidden = w2.shape[1] // m
    h = jnp.tanh(jnp.einsum("sbi,sij->sbj", x, w1) + b1[:, None])            # (S, B, M*H)
    h4 = h.reshape(s, batch, m, hidden)
    w2m = w2.reshape(s, 1, m, hidden)
    r = jnp.sum(h4 * w2m, -1) + b2[:, None] - y                              # (S, B, M)
    loss = 0.5 * jnp.mean(r * r, 1)
    dout = r / batch
    g = (dout[..., None] * w2m * (1 - h4 * h4)).reshape(s, batch, m * hidden)
    dw1 = jnp.einsum("sbi,sbj->sij", x, g)
    db1, dw2 = jnp.sum(g, 1), jnp.sum(dout[..., None] * h4, 1).reshape(s, m * hidden)
    db2 = jnp.sum(dout, 1)
    per_member = lambda a: jnp.sum(a.reshape(a.shape[:-1] + (m, hidden)), -1)  # noqa: E731
    sq = lr * lr * (per_member(jnp.sum(dw1 * dw1, 1)) + per_member(db1 * db1 + dw2 * dw2) + db2 * db2)
    ok = jnp.isfinite(sq) & jnp.isfinite(loss)
    lr_h, ok_h = jnp.repeat(lr, hidden, axis=1), jnp.repeat(ok, hidden, axis=1)
    new = (jnp.where(ok_h[:, None], w1 - lr_h[:, None] * dw1, w1), jnp.where(ok_h, b1 - lr_h * db1, b1),
           jnp.where(ok_h, w2 - lr_h * dw2, w2), jnp.where(ok, b2 - lr * db2, b2))
    return new, loss


def hand_rate(eng: Engine, rounds: int = 5) -> tuple[float, float, int]:
    """Member-steps/s of ``hand_step`` on ``eng``'s population, chunked as ``eng``'s compiled step
    is, and the engine's own rate, timed alternately (best of ``rounds`` each); and the chunk."""
    eng.advance(1)  # compiled before it is timed
    chunk, batch, _ = engine_chunk(eng)
    streams, devices = eng.n // MEMBERS, jax.devices()
    if streams % (len(devices) * chunk):
        raise ValueError(f"dyntheory.bench.by_hand: {streams} streams do not cut into chunks of {chunk} on "
                         f"{len(devices)} devices")
    sharding = NamedSharding(Mesh(np.array(devices), ("pop",)), PartitionSpec("pop"))
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    put = lambda a: jax.device_put(a, sharding)  # noqa: E731
    width = MEMBERS * HIDDEN
    params = (put(jax.random.normal(k1, (streams, D_IN, width)) / 4), put(jnp.zeros((streams, width))),
              put(jax.random.normal(k2, (streams, width)) / HIDDEN ** 0.5), put(jnp.zeros((streams, MEMBERS))))
    x = put(jax.random.normal(k3, (streams, batch, D_IN)))
    y = put(x[..., :1] + 0.1 * jax.random.normal(k4, (streams, batch, 1)))
    lr = put(jnp.full((streams, MEMBERS), 0.05))

    def one_chunk(params, x, y, lr):
        return jax.lax.fori_loop(0, STEPS, lambda _, p: hand_step(p, x, y, lr)[0], params)

    @jax.jit
    def walk(params, x, y, lr):  # each device walks its streams chunk by chunk, as the engine does
        def per_device(params, x, y, lr):
            cut = lambda a: a.reshape((-1, chunk) + a.shape[1:])  # noqa: E731
            out = jax.lax.map(lambda c: one_chunk(*c), jax.tree.map(cut, (params, x, y, lr)))
            return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out)
        return jax.shard_map(per_device, mesh=sharding.mesh, in_specs=PartitionSpec("pop"),
                             out_specs=PartitionSpec("pop"))(params, x, y, lr)

    jax.block_until_ready(walk(params, x, y, lr))
    by_hand, whole = 0.0, 0.0
    for _ in range(rounds):
        by_hand = max(by_hand, eng.n * STEPS / timed(lambda: jax.block_until_ready(walk(params, x, y, lr))))
        whole = max(whole, eng.n * STEPS / timed(eng.advance, STEPS))
    return by_hand, whole, chunk


def hand_line(eng: Engine, top: float) -> str:
    """The line stating the hand-written W1 step's rate against the ceiling ``top`` and the engine."""
    by_hand, whole, chunk = hand_rate(eng)
    return (f"W1 written by hand (its whole SGD step for {chunk} streams x {MEMBERS} members at a time, layouts "
            f"chosen for its dots, each stream's batch fixed: no sampling), walked as the engine walks its chunks: "
            f"{by_hand:,.0f} model-steps/s, {100 * by_hand / top:.0f}% of the ceiling, {by_hand / whole:.2f}x the "
            f"engine's whole step timed alternately ({whole:,.0f})")
