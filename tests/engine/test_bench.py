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


@pytest.mark.slow
def test_interleaved_timing_gives_a_cost_per_member_step_for_every_size():
    costs = bench.time_interleaved(bench.workloads()["W3"], (10, 100), steps=3, rounds=2)
    assert list(costs) == [10, 100]
    assert all(np.isfinite(c) and 0 < c < 1e-2 for c in costs.values())


def test_torch_references_train_the_w1_workload():
    pytest.importorskip("torch")
    from dyntheory import _bench_torch
    # The teacher's output variance is ~1; trained, the loss falls towards the noise floor 0.005.
    rate, loss = _bench_torch.loop_rate(members=1, steps=300)
    assert rate > 0 and loss < 0.05
    rate, loss = _bench_torch.func_rate(8, steps=100)
    assert rate > 0 and loss < 0.05


def test_cpu_devices_must_be_positive_and_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--cpu-devices", "0"])
    assert "--cpu-devices must be a positive integer, got 0" in capsys.readouterr().err
