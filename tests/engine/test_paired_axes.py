"""Zipped axes (hyperparameters varying together) and hyperparameters derived per member at init."""

import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory._engine import reference

T, M = dt.tasks.TeacherStudent(d_in=4), dt.models.MLP(widths=(8,))


def _sweep(**kw):
    return dt.Sweep(**(dict(task=T, model=M, steps=8, batch_size=4, seeds=3, record=4, dtype="float64") | kw))


def test_zipped_members_equal_the_crossed_grid_diagonal():
    z = _sweep(axes={"cfg": dt.zipped(lr=[0.05, 0.1], weight_decay=[0.0, 1e-2])})
    run = dt.train(z, key=0)
    ds = run.metrics
    assert ds.train_loss.dims == ("cfg", "seed", "step")
    assert list(ds.lr.values) == [0.05, 0.1] and ds.lr.dims == ("cfg",) and list(ds.weight_decay.values) == [0.0, 1e-2]
    grid = dt.train(_sweep(axes={"lr": [0.05, 0.1], "weight_decay": [0.0, 1e-2]}), key=0).metrics
    for i, (lr, wd) in enumerate([(0.05, 0.0), (0.1, 1e-2)]):
        np.testing.assert_allclose(ds.train_loss.isel(cfg=i).values,
                                   grid.train_loss.sel(lr=lr, weight_decay=wd).values, rtol=1e-12)


def sq_norm(params, batch):
    return jnp.sum(params["layers"][0]["w"] ** 2)


def test_derived_lr_is_rule_of_the_members_own_initial_measure(tmp_path):
    sweep = _sweep(axes={"c": dt.derived("lr", [0.5, 2.0], measure=sq_norm, rule=lambda c, q: c / q)})
    run = dt.train(sweep, key=0, store=str(tmp_path / "s"))
    q = (run.params_at(0)["layers"][0]["w"] ** 2).sum(axis=(-2, -1))  # (c, seed)
    lr = run.metrics["lr"]
    assert lr.dims == ("c", "seed")
    np.testing.assert_allclose(lr.values, np.array([0.5, 2.0])[:, None] / q, rtol=1e-12)
    assert len(np.unique(lr.values)) == lr.size  # one lr per member, not per coordinate
    # The member trained with that lr: the same member alone on a plain grid at that lr.
    seed = 1
    alone = dt.train(_sweep(lr=float(lr.sel(c=2.0, seed=seed)), seeds=[seed]), key=0)
    np.testing.assert_allclose(run.metrics.train_loss.sel(c=2.0, seed=seed).values,
                               alone.metrics.train_loss.sel(seed=seed).values, rtol=1e-10)
    np.testing.assert_array_equal(dt.load(str(tmp_path / "s")).metrics["lr"].values, lr.values)


def test_branch_keeps_a_derived_lr_for_unchanged_members():
    sweep = _sweep(axes={"c": dt.derived("lr", [0.5, 2.0], measure=sq_norm, rule=lambda c, q: c / q)},
                   checkpoints=(4, 8))
    run = dt.train(sweep, key=0)
    twin = dt.branch(run, step=4, changes={"weight_decay": 0.1}, where={"c": 2.0})
    np.testing.assert_array_equal(twin.metrics.train_loss.sel(c=0.5).values,
                                  run.metrics.train_loss.sel(c=0.5, step=[8]).values)


@pytest.mark.parametrize("axes, match", [
    ({"cfg": dt.zipped(lr=[0.1, 0.2], widths=[8, 16])}, r"zips 'widths', which is not a hyperparameter"),
    ({"cfg": dt.zipped(lr=[0.1, 0.2], weight_decay=[0.0, 0.1]), "lr": [0.1]}, r"zips 'lr', which is also swept"),
    ({"cfg": dt.zipped(lr=[0.1, -0.2], weight_decay=[0.0, 0.1])}, r"\['lr'\]\[1\] must be finite and in"),
    ({"lr": dt.zipped(lr=[0.1, 0.2], weight_decay=[0.0, 0.1])}, r"needs a name of its own"),
    ({"c": dt.derived("lr", [1.0], measure=sq_norm, rule=lambda c, q: c / q), "lr": [0.1]}, r"derives 'lr', which is also swept"),
])
def test_bad_paired_axes_refused_at_construction(axes, match):
    with pytest.raises(ValueError, match=match):
        _sweep(axes=axes)


def test_zipped_and_derived_check_their_own_arguments():
    with pytest.raises(ValueError, match="same number of values"):
        dt.zipped(lr=[0.1, 0.2], weight_decay=[0.0])
    with pytest.raises(ValueError, match="target must be a hyperparameter set after init"):
        dt.derived("init_scale", [1.0], measure=sq_norm, rule=lambda c, q: c)


def test_a_derived_value_that_is_invalid_is_refused_before_training():
    sweep = _sweep(axes={"c": dt.derived("lr", [1.0], measure=lambda p, b: 0.0 * sq_norm(p, b),
                                         rule=lambda c, q: c / q)})
    with pytest.raises(ValueError, match=r"derived axis 'c': 3 of 3 members get an invalid lr"):
        dt.train(sweep, key=0)
    with pytest.raises(ValueError, match="derived axes .* reference path|textbook path does not make"):
        reference.train(sweep, key=0)


def test_branch_where_selects_a_zipped_value():
    run = dt.train(_sweep(axes={"cfg": dt.zipped(lr=[0.05, 0.1], weight_decay=[0.0, 1e-2])}, checkpoints=(4, 8)),
                   key=0)
    twin = dt.branch(run, step=4, changes={"lr": 0.01}, where={"cfg": (0.1, 1e-2)})
    assert twin.metrics.branched.sel(cfg="0.1,0.01").all() and not twin.metrics.branched.sel(cfg="0.05,0.0").any()
