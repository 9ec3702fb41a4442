"""W1's own kernels alone: the bound behind the "45% of the ceiling" target (issue 30).

The ceiling (``_workloads.ceiling``) prices a member-step's matrix products at the FLOP peak of
a large matmul. W1's products are tiny (per stream of 10 members: 64x16 @ 16x320 forward and
320x64 @ 64x16 for the first layer's weight gradient), and XLA:CPU runs such batched dots far
below that peak. ``kernel_rate`` times exactly those two dots, the tanh and its derivative and
the weight update, at the shapes and chunks the engine's compiled step uses (read from its HLO),
walked as the engine walks its chunks, and nothing else (no second layer, loss, biases or
sampling). That rate is an upper bound on any engine built from XLA:CPU's kernels for W1 here;
``kernels_line`` states it against the ceiling and the engine.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dyntheory.bench._workloads import Engine, timed

STEPS = 20


def engine_chunk(eng: Engine) -> tuple[int, int, int]:
    """(streams per chunk, batch, members x hidden) of the forward dot in ``eng``'s compiled step."""
    text = eng.fns["advance"].lower(eng.gs[0], eng.members[0], eng.hps[0], 0, 1).compile().as_text()
    for line in text.splitlines():
        found = re.search(r"f32\[(\d+),(\d+),(\d+)\]\{2,1,0\} dot\(", line)
        if found and "jvp(" in line and "transpose(" not in line:  # the forward pass's dot
            return tuple(int(v) for v in found.groups())
    raise RuntimeError("dyntheory.bench.kernels: no forward dot found in the engine's compiled step")


def kernel_rate(eng: Engine, d_in: int = 16, rounds: int = 5) -> tuple[float, float, tuple]:
    """Member-steps/s of W1's first-layer kernels alone at ``eng``'s chunk shapes, and the
    engine's own rate, timed alternately (best of ``rounds`` each); and the chunk shape."""
    eng.advance(1)  # compiled before it is timed
    chunk, batch, width = engine_chunk(eng)
    streams = eng.n // 10
    devices = jax.devices()
    if streams % (len(devices) * chunk):
        raise ValueError(f"dyntheory.bench.kernels: {streams} streams do not cut into chunks of {chunk} on "
                         f"{len(devices)} devices")
    sharding = NamedSharding(Mesh(np.array(devices), ("pop",)), PartitionSpec("pop"))
    k = jax.random.key(0)
    x = jax.device_put(jax.random.normal(k, (streams, batch, d_in)), sharding)
    w = jax.device_put(0.25 * jax.random.normal(k, (streams, d_in, width)), sharding)
    g = jax.device_put(0.01 * jax.random.normal(k, (streams, batch, width)), sharding)

    def one_chunk(x, w, g):
        def step(_, w):
            h = jnp.tanh(jnp.einsum("sbi,sij->sbj", x, w))
            dw = jnp.einsum("sbj,sbi->sij", g * (1 - h * h), x)
            return w - 0.01 * dw
        return jax.lax.fori_loop(0, STEPS, step, w)

    @jax.jit
    def kernels(x, w, g):  # each device walks its streams chunk by chunk, as the engine does
        def per_device(x, w, g):
            cut = lambda a: a.reshape((-1, chunk) + a.shape[1:])  # noqa: E731
            return jax.lax.map(lambda c: one_chunk(*c), (cut(x), cut(w), cut(g))).reshape(w.shape)
        return jax.shard_map(per_device, mesh=sharding.mesh, in_specs=PartitionSpec("pop"),
                             out_specs=PartitionSpec("pop"))(x, w, g)

    jax.block_until_ready(kernels(x, w, g))
    alone, whole = 0.0, 0.0
    for _ in range(rounds):
        alone = max(alone, eng.n * STEPS / timed(lambda: jax.block_until_ready(kernels(x, w, g))))
        whole = max(whole, eng.n * STEPS / timed(eng.advance, STEPS))
    return alone, whole, (chunk, batch, width)


def kernels_line(eng: Engine, top: float) -> str:
    """The line stating W1's kernels-alone rate against the ceiling ``top`` and the engine."""
    alone, whole, (chunk, batch, width) = kernel_rate(eng)
    return (f"W1's kernels alone (its first layer's two dots at the engine's shapes, {chunk} streams x "
            f"[{batch}x16 @ 16x{width}] per chunk, with the tanh, its derivative and the update; nothing else), "
            f"walked chunk by chunk as the engine does: {alone:,.0f} model-steps/s, {100 * alone / top:.0f}% of the "
            f"ceiling; timed alternately the engine's whole step ran {whole:,.0f} ({100 * whole / alone:.0f}% of "
            "its kernels alone): no engine built from these kernels passes the first number")
