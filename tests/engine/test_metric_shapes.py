"""A metric that cannot be recorded is refused before compute, by name; stateful metrics still trace."""

import jax.numpy as jnp
import pytest

import dyntheory as dt

T, M = dt.tasks.TeacherStudent(d_in=4), dt.models.MLP(widths=(8,))


def _sweep(**kw):
    return dt.Sweep(**(dict(task=T, model=M, steps=4, batch_size=4, seeds=2, record=2) | kw))


@pytest.mark.parametrize("fn, match", [
    (lambda p, b: {"a": b.x[0]}, r"train: metric 'bad' fails when traced .*"),
    (lambda p, b: "a", r"train: metric 'bad' fails when traced for one member before compute \(TypeError"),
    (lambda p, b: b.missing, r"train: metric 'bad' fails when traced .*AttributeError"),
])
def test_bad_metric_named_before_compute(tmp_path, fn, match):
    path = tmp_path / "s"
    with pytest.raises(ValueError, match=match):
        dt.train(_sweep(metrics={"good": lambda p, b: jnp.sum(b.x), "bad": fn}), key=0, store=str(path))
    assert not path.exists()  # refused before the store was created


def test_stateful_and_function_metrics_pass_the_trace():
    run = dt.train(_sweep(metrics={"sharp": dt.Sharpness(), "xsum": lambda p, b: jnp.sum(b.x)}), key=0)
    assert run.metrics["sharp"].dims == ("seed", "step") and run.metrics["xsum"].shape == (2, len(run.record))


def test_branch_refuses_a_change_the_optimizer_never_reads():
    run = dt.train(_sweep(), key=0)
    with pytest.raises(ValueError, match=r"branch: changes\['momentum'\] has no effect with optimizer='sgd'"):
        dt.branch(run, step=2, changes={"momentum": 0.5})
