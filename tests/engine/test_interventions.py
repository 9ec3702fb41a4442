"""Interventions during training: they act where and when they say, nowhere and never else."""

import numpy as np
import pytest

import dyntheory as dt

I = dt.interventions
BASE = dict(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.MLP(widths=(8,)), steps=40, batch_size=8,
            seeds=2, record=5, dtype="float64", axes={"lr": [0.05, 0.1]})


@pytest.fixture(scope="module")
def plain():
    return dt.train(dt.Sweep(**BASE), key=0).metrics


def _run(*items, **kw):
    return dt.train(dt.Sweep(**(BASE | kw), interventions=items), key=0).metrics


@pytest.mark.parametrize("action, at", [
    (I.ScaleLR(0.1, 10), 10), (I.WeightDecayPulse(0.5, 10), 10), (I.SkipBatches(10), 10), (I.Rewind(10), 20),
    (I.AverageWeights(3), 20), (I.Grokfast(alpha=0.9, lamb=1.0), 10),
])
def test_an_action_changes_only_its_members_and_only_after_its_step(plain, action, at):
    ds = _run(action.at(at, where={"lr": 0.1}))
    for name in ("train_loss", "param_norm"):
        np.testing.assert_array_equal(ds[name].sel(lr=0.05).values, plain[name].sel(lr=0.05).values)
        before = ds[name].sel(lr=0.1, step=slice(0, at)).values  # the record at ``at`` is taken before it acts
        np.testing.assert_array_equal(before, plain[name].sel(lr=0.1, step=slice(0, at)).values)
    assert not np.array_equal(ds.train_loss.sel(lr=0.1).values, plain.train_loss.sel(lr=0.1).values)
    assert ds["intervened_0"].sel(lr=0.1).values.tolist() == [at, at]
    assert (ds["intervened_0"].sel(lr=0.05) == -1).all()


def test_a_switchable_filter_agrees_to_rounding_before_it_switches_on(plain):
    # The clip is in the compiled program from step 0 (switched off): XLA may round differently.
    ds = _run(I.ClipUpdates(0.01).at(20))
    np.testing.assert_allclose(ds.train_loss.sel(step=slice(0, 20)).values,
                               plain.train_loss.sel(step=slice(0, 20)).values, rtol=1e-12)
    after = ds.update_norm.sel(step=slice(25, None)).values
    assert (after <= 0.01 * (1 + 1e-9)).all() and (plain.update_norm.sel(step=slice(25, None)) > 0.01).any()


def test_a_threshold_fires_at_the_first_record_past_it(plain):
    ds = _run(I.ScaleLR(0.5, 10).when(I.Threshold("train_loss", 0.3, "below")))
    loss = plain.train_loss.values  # (lr, seed, step); identical to ds up to the firing
    steps = plain.step.values
    for i in range(2):
        for j in range(2):
            hit = np.flatnonzero(loss[i, j] <= 0.3)
            want = int(steps[hit[0]]) if hit.size else -1
            assert int(ds["intervened_0"].values[i, j]) == want


def test_above_median_waits_for_its_history(plain):
    ds = _run(I.ResetOptimizer().when(I.AboveMedian("grad_norm", c=1e-6, warmup=2)), optimizer="adam", lr=1e-2)
    assert (ds["intervened_0"] == 10).all()  # records at 0 and 5 are the history; it fires at 10


def test_rewind_revives_a_diverged_member():
    kw = dict(axes={"lr": [0.05, 30.0]}, steps=30)
    diverged = _run(**kw)
    d = int(diverged.diverged_at.sel(lr=30.0, seed=0))
    assert 0 < d < 15
    ds = _run(I.Rewind(100).at(15, where={"lr": 30.0}), **kw)  # back to the first record, step 0
    again = ds.diverged_at.sel(lr=30.0)
    assert ((again >= 15) | (again == -1)).all()  # revived at 15: any new divergence comes later
    np.testing.assert_array_equal(ds.train_loss.sel(lr=0.05).values, diverged.train_loss.sel(lr=0.05).values)


def test_interventions_are_in_the_config_and_the_store(tmp_path, plain):
    a = dt.Sweep(**BASE, interventions=(I.ScaleLR(0.1, 10).at(10),))
    b = dt.Sweep(**BASE, interventions=(I.ScaleLR(0.2, 10).at(10),))
    assert a.config()["interventions"] != b.config()["interventions"] and "interventions" not in dt.Sweep(**BASE).config()
    stored = dt.train(a, key=0, store=str(tmp_path / "s")).metrics
    memory = dt.train(a, key=0).metrics
    np.testing.assert_array_equal(stored.train_loss.values, memory.train_loss.values)
    np.testing.assert_array_equal(dt.load(str(tmp_path / "s")).metrics["intervened_0"].values, memory["intervened_0"].values)


@pytest.mark.parametrize("items, match", [
    ((I.Rewind(5).when(I.Spike("nope")),), r"trigger metric 'nope' is not recorded"),
    ((I.Rewind(5).at(40),), r"at step 40, but the run has 40 steps"),
    ((I.Rewind(5).at(10, where={"width": 3}),), r"where names unknown axes \['width'\]"),
    ((I.ClipUpdates(1.0).at(5), I.ClipUpdates(2.0).at(10)), r"clip updates to several norms"),
    (("rewind",), r"must be an action with .at\(step\) or .when\(trigger\)"),
])
def test_bad_interventions_refused_at_construction(items, match):
    with pytest.raises(ValueError, match=match):
        dt.Sweep(**BASE, interventions=items)


def test_bad_action_values_name_the_field():
    with pytest.raises(ValueError, match=r"ScaleLR.factor must be a finite number > 0, got 0"):
        I.ScaleLR(0, 10)
    with pytest.raises(ValueError, match=r"Grokfast.alpha must be in \(0, 1\)"):
        I.Grokfast(alpha=1.5)


def l2(params):
    return sum(0.5 * (w ** 2).sum() for w in __import__("jax").tree.leaves(params))


def test_a_penalty_acts_for_its_window_only(plain):
    ds = _run(I.Penalty(l2, weight=5.0, steps=10).at(10, where={"lr": 0.1}))
    np.testing.assert_array_equal(ds.train_loss.sel(lr=0.05).values, plain.train_loss.sel(lr=0.05).values)
    shrink = ds.param_norm.sel(lr=0.1, step=20) < plain.param_norm.sel(lr=0.1, step=20)
    assert shrink.all()  # the L2 penalty pulled the weights in during the window
    # After the window the penalty is off: the same as a weight-decay pulse of the same strength.
    pulse = _run(I.WeightDecayPulse(5.0, 10).at(10, where={"lr": 0.1}))
    np.testing.assert_allclose(ds.param_norm.values, pulse.param_norm.values, rtol=1e-9)
