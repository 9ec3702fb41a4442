"""Sizes known before compute: the store and memory estimate, its checks, and train's own arguments."""

import json
import os

import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import footprint
from dyntheory._engine.store import store_bytes


def _sweep(**kw):
    base = dict(task=dt.tasks.TeacherStudent(d_in=8, d_out=2), model=dt.models.MLP(widths=(16,)), steps=60,
                batch_size=8, axes={"lr": [0.02, 0.05]}, seeds=3)
    return dt.Sweep(**(base | kw))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(optimizer="adam", lr=1e-2, axes={"widths": [(16,), (8, 8)]}, seeds=4, record=10),
], ids=["sgd", "adam_two_groups"])
def test_store_estimate_within_20_percent_of_written(tmp_path, kw):
    path = str(tmp_path / "s")
    run = dt.train(_sweep(**kw), key=0, store=path)
    est = json.loads(run.metrics.attrs["estimate"])
    written = store_bytes(path)
    assert 0.8 <= written / est["store_bytes"] <= 1.2, (written, est)
    assert est["disk_bytes"] > est["store_bytes"] > 0 and est["memory_bytes"] > 0
    assert json.loads(dt.load(path).metrics.attrs["estimate"]) == est  # kept in the store


def test_estimate_shown_with_progress_bar(capsys):
    dt.train(_sweep(steps=5, record=5), key=0, progress=True)
    err = capsys.readouterr().err
    assert "dyntheory: estimate: store" in err and "memory peak" in err


def test_store_too_large_for_free_disk_refused_before_compute(tmp_path, monkeypatch):
    monkeypatch.setattr(footprint, "free_disk", lambda path: 1000)
    path = tmp_path / "big"
    with pytest.raises(ValueError, match=r"train: store=.*big.* would need about .* on disk .* only 1000 B"):
        dt.train(_sweep(), key=0, store=str(path))
    assert not path.exists()  # nothing created


def test_population_that_cannot_run_even_streamed_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNTHEORY_MEMORY_BYTES", str(64 << 20))
    big = dt.models.MLP(widths=(4096, 4096))  # 17M parameters: one member's step needs ~270 MB
    with pytest.raises(ValueError, match="one member's step needs about .* cannot run even streamed"):
        dt.train(_sweep(model=big), key=0, store=str(tmp_path / "s"))
    dt.train(_sweep(steps=2, record=2), key=0)  # a small model runs in that budget


def test_memory_estimate_grows_with_population():
    small, large = _estimate(_sweep(seeds=2)), _estimate(_sweep(seeds=200))
    assert large.memory_bytes > 10 * small.memory_bytes and large.store_bytes > 10 * small.store_bytes


def _estimate(sweep):
    from dyntheory._config.random import as_key
    from dyntheory._engine.train import _meta, plan_group
    plans = [plan_group(sweep, t, m, None, None) for _, t, m in sweep.static_groups()]
    return footprint.estimate(sweep, plans, _meta(sweep, as_key(0)), in_memory=False)


@pytest.mark.parametrize("kw, match", [
    (dict(store=123), r"train: store must be a directory path or None, got 123"),
    (dict(progress="yes"), r"train: progress must be True, False or None, got 'yes'"),
    (dict(overwrite="no"), r"train: overwrite must be True or False, got 'no'"),
    (dict(resume_every=-1), r"train: resume_every must be a number of seconds >= 0 \(0: at every record step\) or None, got -1"),
    (dict(resume_every="5"), r"train: resume_every must be .* got '5'"),
    (dict(resume_every=float("nan")), r"train: resume_every must be .* got nan"),
    (dict(key=1.5), r"train: key must be an int seed"),
    (dict(key="abc"), r"train: key"),
])
def test_train_arguments_checked_before_compute(kw, match):
    args = dict(key=0) | kw
    with pytest.raises((TypeError, ValueError), match=match):
        dt.train(_sweep(), **args)


def test_store_accepts_a_path_object(tmp_path):
    run = dt.train(_sweep(steps=4, record=4), key=0, store=tmp_path / "p")
    assert run.path == os.fspath(tmp_path / "p")
    np.testing.assert_array_equal(dt.load(tmp_path / "p").metrics["train_loss"], run.metrics["train_loss"])
