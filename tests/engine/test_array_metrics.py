"""Array-valued metrics: their axes become labelled dims, in memory, on disk, in parts and on resume."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt


def per_output_sq(params, batch):
    return jnp.mean(batch.y ** 2, axis=0)  # (d_out,)


def outer(params, batch):
    return jnp.ones((2, 3)) * jnp.sum(batch.x)


def _sweep(**kw):
    base = dict(task=dt.tasks.TeacherStudent(d_in=4, d_out=3), model=dt.models.MLP(widths=(8,)), steps=6,
                batch_size=4, axes={"lr": [0.05, 0.1]}, seeds=3, record=3)
    return dt.Sweep(**(base | kw))


def test_array_metric_axes_become_labelled_dims(tmp_path):
    metrics = {"out": dt.metrics.labelled(per_output_sq, dims="output", coords={"output": ["a", "b", "c"]}),
               "grid": outer, "xsum": lambda p, b: jnp.sum(b.x)}
    run = dt.train(_sweep(metrics=metrics), key=0, store=str(tmp_path / "s"))
    ds = run.metrics
    assert ds["out"].dims == ("lr", "seed", "step", "output") and list(ds["output"].values) == ["a", "b", "c"]
    assert ds["grid"].dims == ("lr", "seed", "step", "grid_0", "grid_1") and ds["grid"].shape == (2, 3, 3, 2, 3)
    assert ds["xsum"].dims == ("lr", "seed", "step")
    # Each entry is what the function computes: the grid is the batch sum everywhere.
    np.testing.assert_allclose(ds["grid"].values, np.broadcast_to(ds["xsum"].values[..., None, None], (2, 3, 3, 2, 3)))
    loaded = dt.load(str(tmp_path / "s")).metrics
    np.testing.assert_array_equal(loaded["out"].sel(output="b").values, ds["out"].sel(output="b").values)
    est = json.loads(ds.attrs["estimate"])
    assert est["store_bytes"] > 0


def test_array_metrics_written_in_parts_equal_one_part():
    metrics = {"out": dt.metrics.labelled(per_output_sq, dims="output"), "grid": outer}
    whole = dt.train(_sweep(metrics=metrics), key=0)
    parts = dt.train(_sweep(metrics=metrics), key=0, max_members=2)  # cut into parts: region writes
    for name in ("out", "grid", "train_loss"):
        np.testing.assert_array_equal(parts.metrics[name].values, whole.metrics[name].values)


def test_a_labelled_stateful_metric_and_a_scalar_one():
    run = dt.train(_sweep(metrics={"sharp": dt.Sharpness()}), key=0)
    assert run.metrics["sharp"].dims == ("lr", "seed", "step")


@pytest.mark.parametrize("metrics, match", [
    ({"m": dt.metrics.labelled(outer, dims="only_one")}, r"metric 'm' returns shape \(2, 3\) per member but declares dims \['only_one'\]"),
    ({"m": dt.metrics.labelled(per_output_sq, dims="lr")}, r"metric 'm' dim 'lr' clashes with the run's dims"),
    ({"m": dt.metrics.labelled(lambda p, b: jnp.sum(b.x), dims="k")}, r"metric 'm' declares dims \['k'\] but returns one number"),
    ({"m": dt.metrics.labelled(per_output_sq, dims="k"), "n": dt.metrics.labelled(outer, dims=("k", "j"))},
     r"dim 'k' has size 3 in metric 'm' but 2 in metric 'n'"),
    ({"m": dt.metrics.labelled(per_output_sq, dims="k", coords={"k": [1, 2]})}, r"labels dim 'k' with 2 coords"),
])
def test_bad_array_metrics_refused_before_compute(metrics, match):
    with pytest.raises(ValueError, match=match):
        dt.train(_sweep(metrics=metrics), key=0)


def test_labelled_checks_its_arguments():
    with pytest.raises(ValueError, match="dims must be distinct identifiers"):
        dt.metrics.labelled(outer, dims=("a", "a"))
    with pytest.raises(ValueError, match=r"coords name \['b'\]"):
        dt.metrics.labelled(outer, dims="a", coords={"b": [1]})


def test_dims_are_part_of_the_metric_identity():
    a = _sweep(metrics={"m": dt.metrics.labelled(per_output_sq, dims="output")})
    b = _sweep(metrics={"m": dt.metrics.labelled(per_output_sq, dims="target")})
    assert a.config()["metrics"] != b.config()["metrics"]


def test_at_steps_wraps_an_array_metric():
    metrics = {"out": dt.metrics.AtSteps(dt.metrics.labelled(per_output_sq, dims="output"), (0, 6))}
    ds = dt.train(_sweep(metrics=metrics), key=0).metrics
    assert ds["out"].dims == ("lr", "seed", "step", "output")
    finite = np.isfinite(ds["out"]).all(("lr", "seed", "output"))
    assert finite.sel(step=0) and finite.sel(step=6) and not finite.sel(step=3)
