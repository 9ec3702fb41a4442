"""Benchmark: model-steps per second of the engine against the plain ways, in one run.

``python -m dyntheory.bench`` prints one table. Every figure comes from the same process, so the
ratios hold even on a shared, noisy machine (note the load average printed with it):

- ``peak``: dense float32 matmul GFLOP/s and in-place streaming bandwidth (GB/s), measured now;
- W1: teacher-student, 2-layer tanh MLP 16-32-1, batch 64, SGD;
- W2: modular addition p=97, embedding MLP, full batch, AdamW;
- W3: two-layer deep linear network, d=8, small init (the Saxe setting), full batch;
- populations are ``n / 10`` data streams (seeds) of 10 members each (a learning-rate axis): the
  members of a stream share its batches, as in a hyperparameter sweep with replicates;
- ``engine``: the compiled population step (``advance`` of ``dt.train``), steady state;
- ``textbook``: ``jax.jit(jax.vmap(train_one))`` with per-member batches and ``lax.scan``;
- ``py-loop``: a Python loop over members of a jitted single-member step (measured on a few
  members and steps; its per-member cost does not depend on the population);
- FLOPs are the matmul FLOPs a step needs (forward, weight gradients and the input gradients of
  the layers above the first); ``% limit`` is achieved over the binding roofline: the measured
  matmul peak, or state traffic times the measured bandwidth when that is lower (it is for none);
- ``peak RSS``: the process's resident-memory high-water mark over that population's setup and
  steps (reset before each row).

Below the table: per-member cost flatness (the sizes of 1,000 members and up timed again in turn,
so that drift in the machine's speed does not read as a change of cost), recording overhead, W3 at a million members trained
through ``dt.train`` with recorded trajectories, and the same population streamed in waves
through a 1 GiB memory budget (``--streaming`` runs that line alone).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import dyntheory as dt
from dyntheory import _train
from dyntheory._layout import Layout

SIZES = {"W1": (1, 100, 1_000, 10_000, 100_000), "W2": (1, 100, 1_000, 10_000),
         "W3": (1, 100, 1_000, 10_000, 100_000, 1_000_000)}
QUICK_SIZES = {"W1": (1, 100, 1_000), "W2": (1, 100), "W3": (1, 100, 1_000)}
TEXTBOOK_MAX = {"W1": 10_000, "W2": 100, "W3": 100_000}  # beyond: minutes per row, or memory
MEMBERS_PER_STREAM = 10
# Steps per segment in the flatness timing, the same at every size (W2's full-batch step takes
# over a minute at 10,000 members, and its state is a small part of its traffic).
FLAT_STEPS = {"W1": 10, "W2": 1, "W3": 10}


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
    b1, w1 = 64, 16 * 32 + 32 * 1
    w1_flops = 2 * b1 * (2 * w1 + 32 * 1)
    n2 = round(0.3 * 97 * 97)
    w2_flops = 3 * 2 * n2 * (2 * 32 * 128 + 128 * 97)
    w3_flops = 2 * 64 * (2 * (8 * 8 + 8 * 8) + 8 * 8)
    return {
        "W1": Workload("W1", dt.tasks.TeacherStudent(d_in=16, d_out=1, noise=0.1),
                       dt.models.MLP(widths=(32,), activation="tanh"), "sgd", 0.05, 64, 1.0, w1_flops),
        "W2": Workload("W2", dt.tasks.ModularArithmetic(p=97, train_frac=0.3),
                       dt.models.EmbedMLP(embed_dim=32, widths=(128,)), "adamw", 1e-3, None, 1.0, w2_flops),
        "W3": Workload("W3", dt.tasks.TeacherStudent(d_in=8, d_out=8, n_train=64, whiten=True,
                                                     singular_values=(4, 3, 2, 1)),
                       dt.models.DeepLinear(depth=2, width=8), "sgd", 0.05, None, 1e-3, w3_flops),
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
    best = min(_timed(eng.advance, steps) for _ in range(3)) / steps
    out = {"per_step": best, "hwm": vm_hwm(), "state": eng.state_bytes() / n, "parts": eng.parts.n}
    del eng
    return out


def time_interleaved(w: Workload, sizes, steps: int = 10, rounds: int = 3) -> dict[int, float]:
    """Seconds per member-step at each of ``sizes``, timed in turn (``rounds`` round robins, best
    of each): load changes on a shared machine hit every size alike, so their ratios hold, which
    the table's rows, measured one after another, do not promise. Every size runs segments of the
    same ``steps`` (a segment is the steps between two records): the table's rows time as many
    steps per call as fit their time budget, down to one at the largest sizes, where the state then
    streams through memory once per step instead of once per segment."""
    engines = {}
    for n in sizes:
        eng = engines[n] = Engine(w, n)
        eng.advance(steps)  # compiles
    best = dict.fromkeys(sizes, np.inf)
    for _ in range(rounds):
        for n, eng in engines.items():
            best[n] = min(best[n], _timed(eng.advance, steps) / (steps * n))
    return best


def flatness(ws: dict, sizes: dict) -> dict[str, float]:
    """Print, per workload, the interleaved per-member cost from 1,000 members up; return max/min - 1."""
    flat = {}
    for name, w in ws.items():
        big = [n for n in sizes[name] if n >= 1000]
        if len(big) > 1:
            steps = FLAT_STEPS[name]
            costs = time_interleaved(w, big, steps)
            flat[name] = max(costs.values()) / min(costs.values()) - 1
            each = ", ".join(f"{n:,}: {1e6 * c:.2f} us" for n, c in costs.items())
            print(f"{name}: per-member cost from 1,000 to {max(big):,} members, the sizes timed in turn, "
                  f"segments of {steps} step{'s' if steps > 1 else ''}: {each}; "
                  f"varies by {100 * flat[name]:.0f}% (max/min)", flush=True)
    return flat


def _timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


# ---- the plain ways ---------------------------------------------------------------------------
def _train_one_factory(w: Workload, steps: int):
    """The textbook recipe: one member owns its batches; vmap it; scan over steps."""
    spec = w.task.spec()
    task, model = w.task, w.model
    loss_fn = dt._step.classification_loss if task.kind == "classification" else dt._step.regression_loss

    def train_one(key, lr):
        hp = dt.HParams(lr=lr, momentum=0.0, weight_decay=0.0, init_scale=jnp.float32(w.init_scale),
                        b1=0.9, b2=0.999, eps=1e-8)
        k_task, k_init, k_data = jax.random.split(key, 3)
        state = task.setup(k_task, k_data, {f: getattr(task, f) for f in type(task).traced_fields})
        params = model.init(k_init, hp, spec)
        opt = optax.adamw(lr, weight_decay=1e-2) if w.optimizer == "adamw" else optax.sgd(lr)
        opt_state = opt.init(params)

        def step(carry, t):
            p, s = carry
            b = task.batch(state, {f: getattr(task, f) for f in type(task).traced_fields},
                           k_data, k_data, t, w.batch_size)
            loss, g = jax.value_and_grad(lambda q: loss_fn(model.apply(q, b.x), b.y))(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
        return losses[-1]

    return train_one


def time_textbook(w: Workload, n: int, steps: int) -> float:
    """Seconds per step of ``jit(vmap(train_one))`` (its setup is inside, amortised over steps)."""
    f = jax.jit(jax.vmap(_train_one_factory(w, steps)))
    keys = jax.random.split(jax.random.key(0), n)
    lrs = jnp.full((n,), w.lr, jnp.float32)
    f(keys, lrs).block_until_ready()
    return min(_timed(lambda: f(keys, lrs).block_until_ready()) for _ in range(2)) / steps


def time_py_loop(w: Workload, members: int = 4, steps: int = 20) -> float:
    """Seconds per member-step of a Python loop over members of a jitted single-member step."""
    pop = _train.population(w.sweep(1, steps, [0, steps]), w.task, w.model)
    hp = dt.HParams(lr=jnp.float32(w.lr), momentum=jnp.float32(0.9), weight_decay=jnp.float32(0.0),
                    init_scale=jnp.float32(w.init_scale), b1=jnp.float32(0.9), b2=jnp.float32(0.999),
                    eps=jnp.float32(1e-8))
    tp = {f: jnp.float32(getattr(w.task, f)) for f in type(w.task).traced_fields}
    gs = pop.group_setup(jax.random.key(1), jax.random.key(2), jax.random.key(3), tp)
    step = jax.jit(lambda ms, t: pop.member_step(ms, hp, pop.group_batch(gs, t), t))
    states = [pop.member_init(jax.random.key(10 + i), hp) for i in range(members)]
    states = [step(s, 0) for s in states]
    jax.block_until_ready(states)
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        states = [step(s, t) for s in states]
    jax.block_until_ready(states)
    return (time.perf_counter() - t0) / (members * steps)


# ---- the report -------------------------------------------------------------------------------
def recording_overhead(w: Workload, n: int, steps: int, every: tuple[int, ...]) -> list[str]:
    """``dt.train`` wall time recording every k steps against recording only the two ends (best of
    two runs each)."""
    sweeps = {k: w.sweep(n, steps, [0, steps] if k is None else k) for k in (None, *every)}
    for sweep in sweeps.values():
        dt.train(sweep, key=0)  # compiles; the timed runs reuse the executables
    times = dict.fromkeys(sweeps, np.inf)
    for _ in range(2):  # interleaved, so load changes hit every variant alike
        for k, sweep in sweeps.items():
            times[k] = min(times[k], _timed(dt.train, sweep, key=1))
    base = times[None]
    lines = [f"W1, {n:,} members, {steps} steps through dt.train: recording only steps 0 and {steps}: "
             f"{n * steps / base:,.0f} model-steps/s"]
    eng = Engine(w, n)
    eng.advance(1)
    eng.measure()
    step_s = min(_timed(eng.advance, 20) for _ in range(2)) / 20
    measure_s = min(_timed(eng.measure) for _ in range(3))
    del eng
    for k in every:
        t = times[k]
        lines.append(f"  recording every {k:>3} steps: {100 * (t / base - 1):+5.1f}% wall time "
                     f"({steps // k - 1} more records; one record measures train/test loss on the "
                     f"1,024-point test set etc. = {measure_s / step_s:.1f} steps of compute, "
                     f"{100 * (measure_s / step_s) / k:.1f}% at this k)")
    return lines


def million(w: Workload, n: int, steps: int, every: int) -> str:
    reset_hwm()
    sweep = w.sweep(n, steps, every)
    t0 = time.perf_counter()
    run = dt.train(sweep, key=0)
    wall = time.perf_counter() - t0
    finite = float(np.isfinite(run.metrics.test_loss.values).mean())
    return (f"W3, {n:,} members through dt.train with trajectories recorded every {every} steps "
            f"({len(sweep.record)} records x {len(run.metrics.data_vars)} metrics per member, "
            f"{100 * finite:.0f}% finite): {wall:.0f} s wall including setup, compile and recording, "
            f"peak RSS {vm_hwm():.1f} GiB (machine: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB)")


def streaming(w: Workload, n: int, steps: int, every: int, budget_gib: float, max_members: int | None = None) -> str:
    """``million`` again with the memory budget cut (``DYNTHEORY_MEMORY_BYTES``), into an on-disk
    store: the population streams through in waves of parts and the peak memory follows the budget."""
    import tempfile
    reset_hwm()
    sweep = w.sweep(n, steps, every)
    old = os.environ.get("DYNTHEORY_MEMORY_BYTES")
    os.environ["DYNTHEORY_MEMORY_BYTES"] = str(int(budget_gib * 2 ** 30))
    try:
        layout = Layout(sweep)
        parts = _train.make_parts(sweep, layout, _train.compiled(sweep, w.task, w.model), max_members)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run = dt.train(sweep, key=0, store=os.path.join(tmp, "run"), max_members=max_members)
            wall = time.perf_counter() - t0
            finite = float(np.isfinite(run.metrics.test_loss.values).mean())
    finally:
        if old is None:
            os.environ.pop("DYNTHEORY_MEMORY_BYTES")
        else:
            os.environ["DYNTHEORY_MEMORY_BYTES"] = old
    return (f"W3, {n:,} members streamed with the memory budget set to {budget_gib:g} GiB: {parts.n} parts "
            f"in {parts.n_waves} waves into an on-disk store, {100 * finite:.0f}% finite, {wall:.0f} s wall, "
            f"peak RSS {vm_hwm():.1f} GiB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="dyntheory benchmark: one table, ratios from one run")
    parser.add_argument("--quick", action="store_true", help="small populations, short timings (smoke run)")
    parser.add_argument("--seconds", type=float, default=None, help="target seconds per timed measurement")
    parser.add_argument("--streaming", action="store_true",
                        help="only the streaming line (W3 at a million members in a 1 GiB budget)")
    parser.add_argument("--flatness", action="store_true",
                        help="only the per-member cost flatness lines (the sizes timed in turn)")
    args = parser.parse_args(argv)
    if args.streaming:
        print(streaming(workloads()["W3"], 1_000_000, 10, 5, 1.0), flush=True)
        return 0
    if args.flatness:
        flatness(workloads(), QUICK_SIZES if args.quick else SIZES)
        return 0
    seconds = args.seconds or (0.3 if args.quick else 1.5)
    sizes = QUICK_SIZES if args.quick else SIZES
    peak_gflops, peak_gbs = measure_peak(0.5 if args.quick else 1.5)
    print(f"# dyntheory.bench  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()} {os.cpu_count()} cores  "
          f"{jax.devices()[0].device_kind} x{len(jax.devices())}  jax {jax.__version__}  "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"# measured peak: matmul {peak_gflops:.1f} GFLOP/s, in-place stream {peak_gbs:.1f} GB/s; "
          f"populations are n/{MEMBERS_PER_STREAM} data streams x {MEMBERS_PER_STREAM} members")
    print("| workload | members | engine model-steps/s | per-member us | GFLOP/s | % limit (binds) "
          "| textbook model-steps/s | engine/textbook | engine/py-loop | peak RSS GiB | parts |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ws = workloads()
    results: dict[tuple[str, int], dict] = {}
    for name, w in ws.items():
        loop = 1.0 / time_py_loop(w, steps=5 if name == "W2" else 20)
        for n in sizes[name]:
            e = time_engine(w, n, seconds)
            rate = n / e["per_step"]
            gflops = rate * w.flops / 1e9
            # State traffic per member-step (read and write, activations kept in cache by chunking).
            stream_limit = peak_gbs * w.flops / (2 * e["state"])
            limit, binds = min((peak_gflops, "FLOP"), (stream_limit, "bandwidth"))
            text_cell, ratio = "-", "-"
            if n <= TEXTBOOK_MAX[name]:
                steps = int(np.clip(seconds * rate / 4 / n, 1, 200))
                text = n / time_textbook(w, n, steps)
                text_cell, ratio = f"{text:,.0f}", f"{rate / text:.1f}x"
                results[(name, n)] = {"vs_text": rate / text}
            results.setdefault((name, n), {}).update(limit=gflops / limit, binds=binds)
            print(f"| {name} | {n:,} | {rate:,.0f} | {1e6 * e['per_step'] / n:.2f} | {gflops:.1f} | "
                  f"{100 * gflops / limit:.0f}% ({binds}) | {text_cell} | {ratio} | {rate / loop:,.0f}x | "
                  f"{e['hwm']:.2f} | {e['parts']} |", flush=True)
    print()
    flat = flatness(ws, sizes)
    w1 = ws["W1"]
    if args.quick:
        lines = recording_overhead(w1, 100, 100, (10,))
    else:
        lines = recording_overhead(w1, 1000, 1000, (100, 10))
    print("\n".join(lines), flush=True)
    if not args.quick:
        print(million(ws["W3"], 1_000_000, 10, 5), flush=True)
        print(streaming(ws["W3"], 1_000_000, 10, 5, 1.0), flush=True)
    else:
        print(streaming(ws["W3"], 3_000, 10, 5, 0.5, max_members=1_000), flush=True)
    print(f"py-loop reference: W1 {1 / time_py_loop(w1):,.0f} model-steps/s (a jitted step per member per step)")
    w1_10k = results.get(("W1", 10_000))
    if w1_10k:
        print(f"targets: W1 at 10,000 members {w1_10k['vs_text']:.1f}x the textbook (target >= 5x), "
              f"{100 * w1_10k['limit']:.0f}% of the {w1_10k['binds']} limit (target >= 50%); "
              + ", ".join(f"{k} per-member cost flat within {100 * v:.0f}%" for k, v in flat.items())
              + " (target <= 25%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
