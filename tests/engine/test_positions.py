"""Per-position accuracy and exact match on sequence and multi-label tasks; the metric context."""

import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt

SEQ = dict(task=dt.tasks.RepeatedTokens(vocab=6, prefix=4, n_test=64),
           model=dt.models.Transformer(layers=1, heads=1, d_model=8), optimizer="adam", lr=1e-2, steps=6,
           batch_size=8, seeds=2, record=3)


def test_position_accuracy_is_an_array_over_positions_and_agrees_with_exact_match():
    run = dt.train(dt.Sweep(**SEQ, metrics={"pos": dt.metrics.PositionAccuracy(), "em": dt.metrics.ExactMatch(),
                                            "p2": dt.metrics.PositionAccuracy(position=2)}), key=0)
    ds = run.metrics
    assert ds["pos"].dims == ("seed", "step", "position") and ds.sizes["position"] == 7
    np.testing.assert_allclose(ds["pos"].sel(position=2).values, ds["p2"].values)
    np.testing.assert_allclose(ds["pos"].mean("position").values, ds["test_acc"].values, rtol=1e-6)
    assert (ds["em"] <= ds["pos"].min("position") + 1e-7).all()  # all right is rarer than any one right


def test_a_position_past_the_output_is_refused_by_name():
    with pytest.raises(ValueError, match=r"metric 'p9' fails .* position=9 but the output has 7 positions"):
        dt.train(dt.Sweep(**SEQ, metrics={"p9": dt.metrics.PositionAccuracy(position=9)}), key=0)


def test_multilabel_per_label_accuracy_and_exact_match():
    task = dt.tasks.MultiLabel(d_in=4, n_labels=3, n_test=128)
    run = dt.train(dt.Sweep(task=task, model=dt.models.Linear(), steps=10, batch_size=8, seeds=2, record=5,
                            metrics={"lab": dt.metrics.labelled(dt.metrics.PositionAccuracy(), dims="label"),
                                     "em": dt.metrics.ExactMatch()}), key=0)
    ds = run.metrics
    assert ds["lab"].dims == ("seed", "step", "label")
    np.testing.assert_allclose(ds["em"].values, ds["test_exact_match"].values, rtol=1e-6)
    np.testing.assert_allclose(ds["lab"].mean("label").values, ds["test_acc"].values, rtol=1e-6)


def test_a_one_label_classifier_is_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"needs per-position outputs.* got predictions \(.*, 7\) and targets"):
        dt.train(dt.Sweep(task=dt.tasks.ModularArithmetic(p=7), model=dt.models.EmbedMLP(widths=(8,)), steps=2,
                          batch_size=4, metrics={"pos": dt.metrics.PositionAccuracy()}), key=0)


class TeacherAlignment:
    """A stateful metric reading the teacher and the test set through the context's accessors."""

    name = "align"

    def init(self, params, key):
        return ()

    def __call__(self, state, ctx):
        x, y = ctx.eval_set("test")
        pred = ctx.predict(x)
        return jnp.mean((pred - y) ** 2) + 0.0 * jnp.sum(ctx.teacher["m"]), state


def test_metric_context_accessors():
    task = dt.tasks.TeacherStudent(d_in=4)
    run = dt.train(dt.Sweep(task=task, model=dt.models.Linear(), steps=4, batch_size=4, seeds=2, record=2,
                            metrics={"align": TeacherAlignment()}), key=0)
    np.testing.assert_allclose(run.metrics["align"].values, run.metrics["test_loss"].values * 2, rtol=1e-5)
