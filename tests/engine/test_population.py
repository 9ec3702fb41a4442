"""Engine properties: a member is the same alone or in any population; streams are decoupled.

Finding: XLA picks its matmul kernels by array shape, so the same member computed inside
populations of *different shapes* can differ in the last bits (measured: ~1e-15 relative in
float64, ~2e-7 in float32). Within one population shape the result is bitwise identical whatever
the other members are. The tests below assert exactly that: bitwise at equal shapes, 1e-12
(float64) and 1e-5 (float32) relative across shapes (metrics elementwise, parameters relative to
each leaf's largest entry).
"""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyntheory as dt
from tests.engine._helpers import small_sweep

LRS, SCALES, SEEDS = [0.05, 0.1, 0.2], [0.5, 1.0], [0, 1, 2]
RTOL = {"float64": 1e-12, "float32": 1e-5}
_RUNS = {}


def population(dtype):
    if dtype not in _RUNS:
        _RUNS[dtype] = dt.train(small_sweep(dtype=dtype), key=7)
    return _RUNS[dtype]


def alone(dtype, lr, scale, seed):
    return dt.train(small_sweep(dtype=dtype, axes={"lr": [lr], "init_scale": [scale]}, seeds=[seed]), key=7)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=3)
@given(i=st.integers(0, 2), j=st.integers(0, 1), k=st.integers(0, 2))
def test_member_alone_equals_member_in_population(dtype, i, j, k):
    pop, one = population(dtype), alone(dtype, LRS[i], SCALES[j], SEEDS[k])
    sel = dict(lr=LRS[i], init_scale=SCALES[j], seed=SEEDS[k])
    for name in ("train_loss", "test_loss", "param_norm", "grad_norm"):
        a = pop.metrics[name].sel(**sel).values
        b = one.metrics[name].isel(lr=0, init_scale=0, seed=0).values
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=0, err_msg=name)
    pa = jax.tree.map(lambda x: x[i, j, k], pop.params_at(24))
    pb = jax.tree.map(lambda x: x[0, 0, 0], one.params_at(24))
    # Relative to each leaf's scale: an entry near zero carries the rounding of its larger-magnitude
    # operands (float32 on an AMD EPYC: 2.4e-7 absolute on a bias of 0.003 in a leaf of scale 0.07).
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=0, atol=RTOL[dtype] * np.abs(y).max()), pa, pb)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_other_members_never_touch_a_member_bitwise(dtype):
    """Same population shape, different neighbours: the shared member is bitwise identical."""
    pop = population(dtype)
    other = dt.train(small_sweep(dtype=dtype, axes={"lr": [0.05, 0.3, 0.4], "init_scale": [0.5, 2.0]},
                                 seeds=[0, 5, 6]), key=7)
    for name in ("train_loss", "test_loss", "grad_norm", "update_norm"):
        np.testing.assert_array_equal(pop.metrics[name].sel(lr=0.05, init_scale=0.5, seed=0).values,
                                      other.metrics[name].sel(lr=0.05, init_scale=0.5, seed=0).values)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_growing_the_population_leaves_members_unchanged(dtype):
    """The README's guarantee: streams never move; values agree to the last bits of the dtype."""
    small = dt.train(small_sweep(dtype=dtype, axes={"lr": [0.1], "init_scale": [1.0]}, seeds=2), key=3)
    big = dt.train(small_sweep(dtype=dtype, axes={"lr": [0.3, 0.1, 0.05], "init_scale": [2.0, 1.0]},
                               seeds=[5, 1, 0, 9]), key=3)
    for seed in (0, 1):
        a = small.metrics.sel(lr=0.1, init_scale=1.0, seed=seed)
        b = big.metrics.sel(lr=0.1, init_scale=1.0, seed=seed)
        for name in ("train_loss", "test_loss", "param_norm"):
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=RTOL[dtype], atol=0)


def _batch_sum(params, batch):
    return batch.x.sum()


def test_streams_are_decoupled():
    sweep = small_sweep(dtype="float64", axes={"init_seed": [0, 1], "data_seed": [0, 1]}, seeds=1,
                        metrics={"batch_sum": _batch_sum}, task=dt.tasks.TeacherStudent(d_in=4, d_out=2))
    run = dt.train(sweep, key=0)
    p0 = run.params_at(0)["layers"][0]["w"]  # dims init_seed, data_seed, seed
    np.testing.assert_array_equal(p0[0, 0], p0[0, 1])  # data seed does not move the init
    assert not np.array_equal(p0[0, 0], p0[1, 0])  # init seed does
    bs = run.metrics["batch_sum"]
    np.testing.assert_array_equal(bs.sel(init_seed=0).values, bs.sel(init_seed=1).values)
    assert not np.array_equal(bs.sel(data_seed=0).values, bs.sel(data_seed=1).values)
    # The seed axis moves every stream.
    other = dt.train(sweep.__class__(**{**sweep.__dict__, "seeds": (1,)}), key=0)
    assert not np.array_equal(other.params_at(0)["layers"][0]["w"][0, 0], p0[0, 0])


def test_same_key_same_numbers_and_different_key_different_numbers():
    sweep = small_sweep(seeds=1, axes={"lr": [0.1]})
    a, b, c = dt.train(sweep, key=1), dt.train(sweep, key=1), dt.train(sweep, key=2)
    np.testing.assert_array_equal(a.metrics.train_loss.values, b.metrics.train_loss.values)
    assert not np.array_equal(a.metrics.train_loss.values, c.metrics.train_loss.values)


def test_divergent_members_are_frozen_and_flagged_without_touching_others():
    sweep = small_sweep(dtype="float64", axes={"lr": [0.1, 1e150]}, seeds=2, optimizer="sgd")
    run = dt.train(sweep, key=0)
    div = run.metrics.diverged_at
    assert (div.sel(lr=1e150) >= 0).all() and (div.sel(lr=0.1) == -1).all()
    # Metrics recorded up to divergence are finite; every one recorded after it is NaN (the frozen,
    # finite parameters could still give an overflowing loss on a new batch: 1e26 or inf).
    for name in ("train_loss", "test_loss", "param_norm", "grad_norm", "update_norm"):
        m = run.metrics[name].sel(lr=1e150)
        upto = m.step <= div.sel(lr=1e150)
        assert np.isfinite(m.where(upto, 0.0)).all() and upto.any()
        assert np.isnan(m.where(~upto, np.nan)).all() and (~upto).any()
    assert np.isfinite(run.metrics.train_loss.sel(lr=0.1)).all()
    params = run.params_at(24)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))
    calm = dt.train(small_sweep(dtype="float64", axes={"lr": [0.1]}, seeds=2, optimizer="sgd"), key=0)
    np.testing.assert_allclose(calm.metrics.train_loss.values, run.metrics.train_loss.sel(lr=[0.1]).values,
                               rtol=RTOL["float64"], atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=300)
@given(data=st.data())
def test_a_finite_update_norm_keeps_finite_parameters_finite(dtype, data):
    """The step checks only the update's squared norm (and the loss) for finiteness: a finite
    parameter plus any update of finite squared norm is finite, near the largest float too."""
    big = float(np.finfo(dtype).max)
    width = 32 if dtype == np.float32 else 64
    p = dtype(data.draw(st.one_of(st.floats(width=width, allow_nan=False, allow_infinity=False),
                                  st.sampled_from([big, -big]))))
    r = float(np.sqrt(dtype(big)))  # the largest |u| whose square can be finite
    u = dtype(data.draw(st.floats(-r, r, width=width)))
    if np.isfinite(u * u):
        assert np.isfinite(p + u), (p, u)


def test_an_update_whose_squared_norm_overflows_counts_as_divergence():
    # float32, lr 1e25: the first update is ~1e25 per weight, finite, but its square is not, so
    # the member is flagged at step 0 and keeps its initial parameters; lr 0.1 trains on.
    sweep = small_sweep(dtype="float32", axes={"lr": [0.1, 1e25]}, seeds=1, optimizer="sgd")
    run = dt.train(sweep, key=0)
    div = run.metrics.diverged_at
    assert (div.sel(lr=1e25) == 0).all() and (div.sel(lr=0.1) == -1).all()
    end, start = run.params_at(sweep.steps), run.params_at(0)
    for a, b in zip(jax.tree.leaves(end), jax.tree.leaves(start)):
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.array_equal(a[0], b[0])


def test_classification_records_accuracy_and_static_axes_make_groups():
    sweep = dt.Sweep(task=dt.tasks.ModularArithmetic(p=7, train_frac=0.5),
                     model=dt.models.EmbedMLP(embed_dim=4, widths=(8,)), optimizer="adamw", lr=1e-2,
                     steps=10, axes={"widths": [(8,), (16,)], "train_frac": [0.4, 0.6]}, seeds=2, record=5)
    run = dt.train(sweep, key=0)
    acc = run.metrics.test_acc
    assert acc.dims == ("widths", "train_frac", "seed", "step")
    assert ((acc >= 0) & (acc <= 1)).all()
    assert run.params_at(10, widths=(16,), train_frac=0.6)["layers"][0]["w"].shape == (2, 8, 16)
