"""The benchmark's parts: this machine's limits, the four workloads, and the engine set up and
timed as ``dt.train`` runs it (``dyntheory.bench`` builds its table from them)."""

from __future__ import annotations

import dataclasses
import gc
import time

import jax
import jax.numpy as jnp
import numpy as np

import dyntheory as dt
from dyntheory._engine import train as _train
from dyntheory._engine.layout import Layout

MEMBERS_PER_STREAM = 10
W4_BATCH = 32


# ---- the machine ------------------------------------------------------------------------------
def vm_hwm() -> float:
    """The process's peak resident memory since the last ``reset_hwm``, GiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    return float("nan")


def reset_hwm() -> None:
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux: reset VmHWM to the current RSS
    except OSError:
        pass


def _best(fn, seconds: float) -> float:
    fn()
    best, t_end = np.inf, time.perf_counter() + seconds
    while time.perf_counter() < t_end or best == np.inf:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_peak(seconds: float = 1.0) -> tuple[float, float]:
    """Dense float32 matmul GFLOP/s (best of sizes) and in-place streaming bandwidth GB/s."""
    flops = 0.0
    for n in (1024, 2048):
        a = jnp.ones((n, n), jnp.float32)
        mm = jax.jit(lambda x: x @ x)
        flops = max(flops, 2 * n ** 3 / _best(lambda: mm(a).block_until_ready(), seconds))
    state = {"x": jnp.ones((64 << 20,), jnp.float32)}  # 256 MiB, updated in place (no page faults)
    axpy = jax.jit(lambda x: x * 0.999 + 1.0, donate_argnums=0)

    def run():
        state["x"] = axpy(state["x"])
        state["x"].block_until_ready()

    bw = 2 * state["x"].nbytes / _best(run, seconds)
    return flops / 1e9, bw / 1e9


def measure_tanh(seconds: float = 1.0) -> float:
    """float32 tanh evaluations per second, in G/s: the best of cache-sized arrays, on the first
    device and, with several, sharded over them all (the fastest form measured here, 2026-12-04:
    ``tanh(x)`` written out, 0.23-0.30 ns an element on 2 cores; with a sum fused in, 0.35-0.5)."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    tanh = jax.jit(jnp.tanh)
    places = [None]
    if jax.device_count() > 1:
        places.append(NamedSharding(Mesh(np.array(jax.devices()), ("d",)), PartitionSpec("d")))
    best = 0.0
    for n in (1 << 18, 1 << 20, 1 << 22):
        x = jnp.linspace(-3.0, 3.0, n, dtype=jnp.float32)
        for place in places:
            xp = x if place is None else jax.device_put(x, place)
            best = max(best, n / _best(lambda xp=xp: tanh(xp).block_until_ready(), seconds / 6))
    return best / 1e9


def ceiling(w: Workload, peak_gflops: float, tanh_gps: float) -> float:
    """Model-steps per second that no engine on XLA:CPU can pass on workload ``w``: a member-step's
    matmul FLOPs at the measured peak, then its tanh at the measured rate. XLA:CPU runs a dot and
    the loop fusion holding a tanh as separate kernels, one after the other, on the same vector
    units, so their times add. Everything else a step does (biases, the tanh's derivative, the
    loss, the update, sampling the data) comes on top, so the true ceiling is lower still."""
    return 1.0 / (w.flops / (peak_gflops * 1e9) + w.tanh / (tanh_gps * 1e9))


# ---- the workloads ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    task: object
    model: object
    optimizer: str
    lr: float
    batch_size: int | None
    init_scale: float
    flops: float  # matmul FLOPs of one member-step
    forward_flops: float  # matmul FLOPs of one member's forward pass on one input
    tanh: int = 0  # tanh evaluations of one member-step (its batch's hidden units)

    def record_flops(self, n_test: int) -> float:
        """Matmul FLOPs of one member's record: a step's gradient on the train batch (as
        ``Population.member_core`` computes it) plus the forward pass over an ``n_test``-point test set."""
        return self.flops + self.forward_flops * n_test

    def sweep(self, n: int, steps: int, record) -> dt.Sweep:
        m = min(n, MEMBERS_PER_STREAM)  # members per data stream (a learning-rate axis)
        lrs = list(self.lr * (1 + 0.01 * np.arange(m)))
        return dt.Sweep(task=self.task, model=self.model, optimizer=self.optimizer, steps=steps,
                        batch_size=self.batch_size, init_scale=self.init_scale, axes={"lr": lrs},
                        seeds=max(1, n // m), record=record, checkpoints=[steps])


def workloads() -> dict[str, Workload]:
    # forward 2*B*sum(fan_in*fan_out), the same again for weight gradients, and the input
    # gradients of every layer but the first (whose input is data) -- or of all of them for W2,
    # whose input is a trained embedding.
    # w1, w2, w3: sum of fan_in * fan_out, so one input's forward pass is 2 * w FLOPs.
    w1, w2, w3 = 16 * 32 + 32 * 1, 2 * 32 * 128 + 128 * 97, 8 * 8 + 8 * 8
    fwd1, fwd2, fwd3 = 2 * w1, 2 * w2, 2 * w3
    w1_flops = 2 * 64 * (2 * w1 + 32 * 1)
    w2_flops = 3 * 2 * round(0.3 * 97 * 97) * w2
    w3_flops = 2 * 64 * (2 * w3 + 8 * 8)
    # W4, per sequence of 32 tokens, T = 31 inputs each predicting the next (d 32, 4 heads of 8,
    # vocabulary 16): per layer the q, k, v and o projections 4 * 2 T d^2 and the scores and their
    # mix 2 * 2 T^2 d; the unembedding 2 T d V. Every operand of every product carries a gradient
    # (the embedding is trained), so a step is 3x the forward pass over its batch.
    fwd4 = 2 * (4 * 2 * 31 * 32 * 32 + 2 * 2 * 31 * 31 * 32) + 2 * 31 * 32 * 16
    w4_flops = 3 * fwd4 * W4_BATCH
    return {
        "W1": Workload("W1", dt.tasks.TeacherStudent(d_in=16, d_out=1, noise=0.1),
                       dt.models.MLP(widths=(32,), activation="tanh"), "sgd", 0.05, 64, 1.0, w1_flops, fwd1,
                       tanh=64 * 32),
        "W2": Workload("W2", dt.tasks.ModularArithmetic(p=97, train_frac=0.3),
                       dt.models.EmbedMLP(embed_dim=32, widths=(128,)), "adamw", 1e-3, None, 1.0, w2_flops, fwd2),
        "W3": Workload("W3", dt.tasks.TeacherStudent(d_in=8, d_out=8, n_train=64, whiten=True,
                                                     singular_values=(4, 3, 2, 1)),
                       dt.models.DeepLinear(depth=2, width=8), "sgd", 0.05, None, 1e-3, w3_flops, fwd3),
        # A tiny transformer population (issue 26): 2 attention-only layers on repeated tokens.
        "W4": Workload("W4", dt.tasks.RepeatedTokens(vocab=16, prefix=16, n_test=64),
                       dt.models.Transformer(layers=2, heads=4, d_model=32), "adam", 1e-3, W4_BATCH, 1.0,
                       w4_flops, fwd4),
    }


# ---- the engine -------------------------------------------------------------------------------
class Engine:
    """One population of a workload, set up as ``dt.train`` sets it up (auto parts included)."""

    def __init__(self, w: Workload, n: int):
        self.sweep = sweep = w.sweep(n, 1, [0, 1])
        layout = Layout(sweep)
        self.fns = _train.compiled(sweep, w.task, w.model)
        self.parts = _train.make_parts(sweep, layout, self.fns, None)
        self.gs, self.members, self.hps = _train.initial_parts(sweep, jax.random.key(0), w.task, layout,
                                                               self.fns, self.parts)
        self.n, self.t = n, 0

    def advance(self, steps: int) -> None:
        self.members = [self.fns["advance"](g, m, h, self.t, self.t + steps)
                        for g, m, h in zip(self.gs, self.members, self.hps)]
        jax.block_until_ready(self.members)
        self.t += steps

    def measure(self) -> None:
        outs = [self.fns["measure"](g, m, h, self.t) for g, m, h in zip(self.gs, self.members, self.hps)]
        self.members = [m for _, m in outs]
        jax.block_until_ready(outs)

    def state_bytes(self) -> int:
        return sum(x.nbytes for x in jax.tree.leaves((self.members, self.hps)))


def time_engine(w: Workload, n: int, seconds: float) -> dict:
    """Steady-state seconds per step of the engine's compiled step, and the row's peak memory."""
    reset_hwm()
    eng = Engine(w, n)
    t0 = time.perf_counter()
    eng.advance(1)  # compiles
    first = time.perf_counter() - t0
    steps = int(np.clip(seconds / max(first, 1e-4), 1, 400))
    t0 = time.perf_counter()
    eng.advance(steps)
    per_step = (time.perf_counter() - t0) / steps
    steps = int(np.clip(seconds / max(per_step, 1e-6), 1, 2000))
    best = min(timed(eng.advance, steps) for _ in range(3)) / steps
    out = {"per_step": best, "hwm": vm_hwm(), "state": eng.state_bytes() / n, "parts": eng.parts.n}
    del eng
    return out


def timed(fn, *args, **kwargs) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0
