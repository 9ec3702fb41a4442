"""Default checkpoints stay few and log-spaced while metrics keep the dense record."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._config.schedule import DEFAULT_CHECKPOINTS, every, log_checkpoints, pythia_schedule
from tests.engine._helpers import small_sweep


def test_default_checkpoints_are_few_and_log_spaced_while_records_stay_dense():
    """A 300-step run used to store every member's full state at all 148 record steps."""
    sweep = small_sweep(steps=300, record=None)
    assert len(sweep.record) == 148
    assert sweep.checkpoints == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300)
    assert set(sweep.checkpoints) <= set(sweep.record)  # every checkpoint is a record: no extra segments
    # 143,000 steps (Pythia's run): the record has no power of two past 512, so its nearest steps.
    long = small_sweep(steps=143_000, record=None, seeds=1)
    assert long.checkpoints[-10:] == (512, 1000, 2000, 4000, 8000, 16000, 33000, 66000, 131000, 143000)
    assert 512 in small_sweep(steps=2000, record=None).checkpoints  # README: params_at(step=512)
    assert len(log_checkpoints(2 ** 40, pythia_schedule(2 ** 40))) <= DEFAULT_CHECKPOINTS == 32
    assert small_sweep(checkpoints=[0, 7, 24]).checkpoints == (0, 7, 24)  # explicit ones are kept
    assert small_sweep(record=6).checkpoints == (0, 6, 12, 18, 24)  # a short schedule is kept whole
    assert small_sweep(record=[6, 12]).checkpoints == (0, 6, 12, 24)  # with the first and last step


@given(steps=st.integers(1, 2_000_000), every_k=st.one_of(st.none(), st.integers(1, 5000)),
       n=st.integers(4, 40))
def test_log_checkpoints_bound_the_count_and_space_evenly_in_log(steps, every_k, n):
    record = pythia_schedule(steps) if every_k is None else every(min(every_k, steps), steps)
    ckpt = log_checkpoints(steps, record, n=n)
    pool = sorted(set(record) | {0, steps})
    assert len(ckpt) <= n and ckpt[0] == 0 and ckpt[-1] == steps and set(ckpt) <= set(pool)
    assert list(ckpt) == sorted(set(ckpt))
    if len(pool) <= n:
        assert list(ckpt) == pool
        return
    # Log-spaced: no gap in log(step) between consecutive positive checkpoints is wider than two
    # spacings of the targets (powers of two, or of 2**k for n - 2 of them), unless the record
    # has no step inside (the record steps inside would own over a spacing of log(step), hence a
    # target).
    spacing = np.log(steps) / (n - 2) + np.log(2)
    positive = [s for s in ckpt if s > 0]
    for a, b in zip(positive[:-1], positive[1:]):
        inside = [s for s in pool if a < s < b]
        assert np.log(b / a) <= 2 * spacing + 1e-9 or not inside, (a, b)


def test_a_run_with_default_checkpoints_stores_only_those():
    sweep = small_sweep(steps=100, record=1, seeds=1, axes={"lr": [0.1]})
    assert len(sweep.record) == 101 and len(sweep.checkpoints) <= 32
    run = dt.train(sweep, key=0)
    assert run.checkpoints == sweep.checkpoints
    assert run.params_at(100)["layers"][0]["w"].shape[-2:] == (4, 8)
    with pytest.raises(ValueError, match="step=99 is not a checkpoint of this run"):
        run.params_at(99)
