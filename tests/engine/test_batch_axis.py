"""batch_size as an axis: one compiled group per value, each equal to its own dt.train."""

import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import reference

TASK = dt.tasks.TeacherStudent(d_in=4, noise=0.1)


def _sweep(**kw):
    base = dict(task=TASK, model=dt.models.MLP(widths=(8,)), steps=12, axes={"batch_size": [2, 8], "lr": [0.05, 0.1]},
                seeds=3, record=4)
    return dt.Sweep(**(base | kw))


def test_each_batch_size_equals_its_own_run(tmp_path):
    run = dt.train(_sweep(), key=0, store=str(tmp_path / "s"))
    ds = run.metrics
    assert ds["train_loss"].dims == ("batch_size", "lr", "seed", "step") and list(ds["batch_size"].values) == [2, 8]
    for b in (2, 8):
        alone = dt.train(_sweep(batch_size=b, axes={"lr": [0.05, 0.1]}), key=0)
        for name in ("train_loss", "test_loss", "grad_norm"):
            np.testing.assert_array_equal(ds[name].sel(batch_size=b).values, alone.metrics[name].values)
        np.testing.assert_array_equal(run.params_at(12, batch_size=b)["layers"][0]["w"],
                                      alone.params_at(12)["layers"][0]["w"])
    assert not np.array_equal(ds.train_loss.sel(batch_size=2).values, ds.train_loss.sel(batch_size=8).values)
    np.testing.assert_array_equal(dt.load(str(tmp_path / "s")).metrics.train_loss.values, ds.train_loss.values)


def test_reference_path_follows_the_batch_axis():
    sweep = _sweep()
    groups = reference.train(sweep, key=0)
    run = dt.train(sweep, key=0)
    for g in groups:
        b = g["coords"]["batch_size"]
        np.testing.assert_allclose(g["metrics"]["train_loss"], run.metrics.train_loss.sel(batch_size=b).values,
                                   rtol=2e-5)


@pytest.mark.parametrize("axes, match", [
    ({"batch_size": [0, 4]}, r"Sweep.axes\['batch_size'\]\[0\] must be an integer >= 1, got 0"),
    ({"batch_size": [4, 4]}, r"repeated values"),
    ({"batch_size": [None]}, r"None \(full batch\) needs a finite task"),
])
def test_bad_batch_axis_values(axes, match):
    with pytest.raises(ValueError, match=match):
        _sweep(axes=axes)


def test_a_batch_larger_than_the_training_set_is_refused_per_group():
    finite = dt.tasks.TeacherStudent(d_in=4, n_train=16)
    with pytest.raises(ValueError, match=r"Sweep.batch_size=32 is larger than the 16 training examples .* at \{'batch_size': 32\}"):
        _sweep(task=finite, axes={"batch_size": [8, 32]})
    assert _sweep(task=finite, axes={"batch_size": [8, None]}).static_groups()[1][0] == {"batch_size": None}
