"""dyntheory.metrics._at_steps: a metric evaluated only at chosen steps, inside a trained population."""

import doctest

import jax
import jax.numpy as jnp
import numpy as np

import dyntheory as dt
import dyntheory.metrics._at_steps as at_steps_mod


def test_docstring_examples_run():
    assert doctest.testmod(at_steps_mod, raise_on_error=False).failed == 0


def _norm(params, batch):
    return jnp.sqrt(sum(jnp.vdot(w, w) for w in jax.tree.leaves(params)))


def test_values_at_listed_steps_equal_the_unwrapped_metric_and_nan_elsewhere():
    steps = (0, 3, 6)
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.Linear(), steps=6,
                     batch_size=8, axes={"lr": [0.05, 0.2]}, seeds=2, record=1,
                     metrics={"every": _norm, "some": dt.AtSteps(dt.FnMetric("norm", _norm), steps)})
    m = dt.train(sweep, key=0).metrics
    hit = np.isin(m.step.values, steps)
    assert hit.sum() == len(steps)
    # the same computation, compiled inside a cond: equal up to a few roundings
    np.testing.assert_allclose(m.some.isel(step=np.flatnonzero(hit)),
                               m.every.isel(step=np.flatnonzero(hit)), rtol=1e-6)
    assert np.isnan(m.some.isel(step=np.flatnonzero(~hit))).all()
