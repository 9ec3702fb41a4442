"""The benchmark runs end to end at its smoke size (slow: about two minutes)."""

import numpy as np
import pytest

from dyntheory import bench


@pytest.mark.slow
def test_quick_benchmark_prints_its_table(capsys):
    assert bench.main(["--quick", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| W")]
    assert [r.split("|")[1].strip() for r in rows] == ["W1"] * 3 + ["W2"] * 2 + ["W3"] * 3
    assert "recording every  10 steps" in out and "streamed with the memory budget" in out
    # the default configuration beside one device (a fresh process), then the targets
    assert "W1 at 1,000 members, timed alternately" in out and "on one CPU device" in out
    assert "targets, W1 at 1,000 members in this configuration" in out and "of the W1 ceiling" in out
    assert "W1's kernels alone" in out and "W1 written by hand" in out


@pytest.mark.slow
def test_w4_flag_prints_the_transformer_rows_and_their_targets(capsys):
    assert bench.main(["--w4", "--quick", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| W")]
    assert [r.split("|")[1].strip() for r in rows] == ["W4"] * 3
    assert rows[-1].split("|")[8].strip().endswith("x")  # engine/textbook timed at 1,000 members
    assert "W4 targets: engine/textbook at 1,000 members" in out and "W1 at" not in out


@pytest.mark.slow
def test_interleaved_timing_gives_a_cost_per_member_step_for_every_size():
    costs = bench.time_interleaved(bench.workloads()["W3"], (10, 100), steps=3, rounds=2)
    assert list(costs) == [10, 100]
    assert all(np.isfinite(c) and 0 < c < 1e-2 for c in costs.values())


def test_torch_references_train_the_w1_workload():
    pytest.importorskip("torch")
    from dyntheory.bench import torch_loops as _bench_torch
    # The teacher's output variance is ~1; trained, the loss falls towards the noise floor 0.005.
    rate, loss = _bench_torch.loop_rate(members=1, steps=300)
    assert rate > 0 and loss < 0.05
    rate, loss = _bench_torch.func_rate(8, steps=100)
    assert rate > 0 and loss < 0.05


def test_torch_references_train_the_w4_workload():
    torch = pytest.importorskip("torch")
    import jax

    from dyntheory.bench import torch_w4
    from dyntheory.bench._workloads import workloads
    from dyntheory._config.hparams import HPARAMS, HParams
    # The same model as W4's: positions 31x32, embedding 16x32, 2 layers of q, k, v, o 32x32,
    # unembedding 32x16, as many parameters in each.
    w = workloads()["W4"]
    hp = HParams(**{n: jax.numpy.float32(1.0) for n in HPARAMS})
    ours = jax.eval_shape(lambda k: w.model.init(k, hp, w.task.spec()), jax.random.key(0))
    want = 31 * 32 + 16 * 32 + 2 * 4 * 32 * 32 + 32 * 16
    assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(ours)) == want
    assert sum(v.numel() for v in torch_w4._model(torch).parameters()) == want
    rate, loss = torch_w4.loop_rate(members=1, steps=3)
    assert rate > 0 and 2.0 < loss < 3.5  # about ln 16 = 2.77 untrained
    rate, loss = torch_w4.func_rate(4, steps=2)
    assert rate > 0 and 2.0 < loss < 3.5


def test_cpu_devices_must_be_positive_and_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--cpu-devices", "0"])
    assert "--cpu-devices must be a positive integer, got 0" in capsys.readouterr().err


def _dot_flops(jaxpr) -> int:
    """2 x output size x contracted size of every dot_general in a jaxpr, sub-jaxprs included."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[d] for d in lhs_contract]))
        for p in eqn.params.values():
            sub = getattr(p, "jaxpr", p)
            if hasattr(sub, "eqns"):
                total += _dot_flops(sub)
    return total


def _elements_of(jaxpr, primitive: str) -> int:
    """Output elements of every ``primitive`` in a jaxpr, sub-jaxprs included."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == primitive:
            total += sum(int(np.prod(v.aval.shape)) for v in eqn.outvars)
        for p in eqn.params.values():
            sub = getattr(p, "jaxpr", p)
            if hasattr(sub, "eqns"):
                total += _elements_of(sub, primitive)
    return total


@pytest.mark.parametrize("name", ["W1", "W2", "W3", "W4"])
def test_hand_counted_flops_match_the_traced_step_and_forward(name):
    """The table's GFLOP/s and the record's FLOP count use hand-written counts; they are the matmul
    FLOPs of one member's gradient step and of its forward pass on one input, as traced."""
    import jax
    import jax.numpy as jnp

    import dyntheory as dt
    from dyntheory._engine import train as _train
    from dyntheory._platform.products import plain_products

    w = bench.workloads()[name]
    pop = _train.population(w.sweep(1, 1, [0, 1]), w.task, w.model)
    hp = dt.HParams(lr=jnp.float32(w.lr), momentum=jnp.float32(0.9), weight_decay=jnp.float32(0.0),
                    init_scale=jnp.float32(w.init_scale), b1=jnp.float32(0.9), b2=jnp.float32(0.999),
                    eps=jnp.float32(1e-8))
    tp = {f: jnp.float32(getattr(w.task, f)) for f in type(w.task).traced_fields}
    gs = pop.group_setup(jax.random.key(1), jax.random.key(2), jax.random.key(3), tp)
    params = pop.member_init(jax.random.key(4), hp).params
    batch = pop.group_batch(gs, 0)
    with plain_products():  # every layer a dot_general, so the count sees it
        step = jax.make_jaxpr(jax.value_and_grad(pop.loss))(params, batch).jaxpr
        forward = jax.make_jaxpr(pop.model.apply)(params, batch.x[:1]).jaxpr
    assert _dot_flops(step) == w.flops
    assert _dot_flops(forward) == w.forward_flops
    assert _elements_of(step, "tanh") == w.tanh  # the ceiling's tanh count (W1: 64 x 32; none else)


def test_the_ceiling_adds_the_matmul_time_at_peak_and_the_tanh_time():
    w1 = bench.workloads()["W1"]
    # 143,360 FLOPs at 143.36 GFLOP/s: 1 us; 2,048 tanh at 2.048 G/s: 1 us; so 500,000 model-steps/s
    assert w1.flops == 143_360 and w1.tanh == 2_048
    assert bench.ceiling(w1, 143.36, 2.048) == pytest.approx(500_000)
    w3 = bench.workloads()["W3"]  # no tanh: the FLOP peak alone
    assert bench.ceiling(w3, 100.0, 1.0) == pytest.approx(100e9 / w3.flops)
    line, top = bench.ceiling_line(w1, 143.36, 2.048, 250_000, 10_000, 5_000.0)
    assert top == pytest.approx(500_000)
    assert "at most 500,000 model-steps/s, 50% of the FLOP peak, 100x the PyTorch loop" in line
    assert line.endswith("the engine at 10,000 members runs at 50% of it")


def test_targets_line_states_each_target_against_its_measurement():
    line = bench.targets_line(10_000, here=300_000, one=140_000, top=600_000, torch_loop=None, vs_textbook=7.0)
    assert "2.14x one device (target >= 2x: ok)" in line
    assert "50% of the W1 ceiling (target >= 45%: ok)" in line
    assert "PyTorch not installed" in line and "7.0x the textbook recipe (target >= 5x: ok)" in line
    line = bench.targets_line(10_000, here=250_000, one=140_000, top=600_000, torch_loop=1_000.0, vs_textbook=None)
    assert "1.79x one device (target >= 2x: MISSED)" in line
    assert "42% of the W1 ceiling (target >= 45%: MISSED)" in line
    assert "250x a per-model PyTorch loop (target >= 300x: MISSED; the ceiling 600x)" in line
    assert "textbook" not in line


@pytest.mark.slow
def test_side_by_side_times_this_process_and_a_one_device_one_alternately():
    from dyntheory.bench import targets

    got = targets.side_by_side(bench.workloads()["W1"], 100, 0.2, rounds=2)  # raises unless one device there
    assert set(got) == {"here", "one"}
    assert all(rate > 0 and 0 < cores < 64 for rate, cores in got.values())


@pytest.mark.slow  # compiles W1's engine and kernels: about 10 s quiet, 25 s under load
def test_w1_kernels_alone_are_the_engine_chunks_first_layer():
    # The bound line times the engine's own forward-dot shape, read from its compiled step.
    from dyntheory.bench import kernels
    from dyntheory.bench._workloads import Engine, workloads

    eng = Engine(workloads()["W1"], 200)
    chunk, batch, width = kernels.engine_chunk(eng)
    assert batch == 64 and width == 10 * 32 and 20 % chunk == 0  # 20 streams of 10 members, 32 hidden
    alone, whole, shape = kernels.kernel_rate(eng, rounds=1)
    assert alone > 0 and whole > 0 and shape == (chunk, batch, width)
    assert "of the ceiling" in kernels.kernels_line(eng, top=10 * alone)


@pytest.mark.slow  # compiles W1's engine and the hand-written step: about 10 s quiet
def test_w1_by_hand_times_the_engine_chunks():
    from dyntheory.bench import by_hand
    from dyntheory.bench._workloads import Engine, workloads

    eng = Engine(workloads()["W1"], 200)
    rate, whole, chunk = by_hand.hand_rate(eng, rounds=1)
    assert rate > 0 and whole > 0 and 20 % chunk == 0
    assert "of the ceiling" in by_hand.hand_line(eng, top=10 * rate)


def test_w1_by_hand_is_the_engine_members_sgd_step():
    # The hand-written bound computes W1's own step: each member's guarded SGD update of the MLP.
    import jax
    import jax.numpy as jnp

    import dyntheory as dt
    from dyntheory.bench.by_hand import hand_step

    s, m, h, d, b = 2, 3, 4, 5, 6
    ks = jax.random.split(jax.random.key(1), 5)
    w1, w2 = jax.random.normal(ks[0], (s, m, d, h)), jax.random.normal(ks[1], (s, m, h))
    b1, b2 = 0.1 * jax.random.normal(ks[2], (s, m, h)), 0.1 * jax.random.normal(ks[3], (s, m))
    x = jax.random.normal(ks[4], (s, b, d))
    y = x[..., :1] ** 2
    lr = jnp.array([[0.1, 0.2, 1e30], [0.3, 0.01, 0.05]])  # member (0, 2): its update overflows
    model = dt.models.MLP(widths=(h,), activation="tanh")

    def member(w1, b1, w2, b2, x, y, lr):
        p = {"layers": [{"w": w1, "b": b1}, {"w": w2[:, None], "b": b2[None]}]}
        loss, g = jax.value_and_grad(lambda p: 0.5 * jnp.mean((model.apply(p, x) - y) ** 2))(p)
        return loss, jax.tree.map(lambda a, da: a - lr * da, p, g)

    loss, want = jax.vmap(jax.vmap(member, (0, 0, 0, 0, None, None, 0)))(w1, b1, w2, b2, x, y, lr)
    cat = lambda a: a.reshape(a.shape[:-2] + (-1,))  # noqa: E731  (..., M, H) -> (..., M*H)
    got, got_loss = hand_step((cat(jnp.moveaxis(w1, 1, 2)), cat(b1), cat(w2), b2), x, y, lr)
    got = (jnp.moveaxis(got[0].reshape(s, d, m, h), 2, 1), got[1].reshape(s, m, h), got[2].reshape(s, m, h), got[3])
    layers = want["layers"]
    new = (layers[0]["w"], layers[0]["b"], layers[1]["w"][..., 0], layers[1]["b"][..., 0])
    ok = lr < 1e29
    np.testing.assert_allclose(got_loss, loss, rtol=1e-5)
    for g, n, old in zip(got, new, (w1, b1, w2, b2)):
        expect = np.where(ok.reshape(ok.shape + (1,) * (old.ndim - 2)), n, old)
        np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-6)
