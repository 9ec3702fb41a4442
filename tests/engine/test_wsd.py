"""Warmup-stable-decay: warm-up, a constant plateau, then a linear decay over the last 20%."""

import numpy as np
import pytest

import dyntheory as dt
from dyntheory._config.optim import wsd_schedule


@pytest.mark.parametrize("warmup, expect", [
    (10, {0: 0.0, 5: 0.5, 10: 1.0, 79: 1.0, 80: 1.0, 90: 0.5, 100: 0.0}),
    (0, {0: 1.0, 79: 1.0, 80: 1.0, 90: 0.5, 100: 0.0}),
])
def test_wsd_values(warmup, expect):
    f = wsd_schedule(1.0, 100, warmup)
    for t, v in expect.items():
        assert float(f(t)) == pytest.approx(v, abs=1e-6), t


def test_wsd_trains_and_accepts_warmup():
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(), steps=20, batch_size=8,
                     schedule="wsd", warmup=4, seeds=2, record=20)
    run = dt.train(sweep, key=0)
    assert np.isfinite(run.metrics.train_loss.values).all()
    with pytest.raises(ValueError, match=r"only 'warmup_cosine' and 'wsd' warm up"):
        dt.Sweep(**{**sweep.__dict__, "schedule": "cosine"})
