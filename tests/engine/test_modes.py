"""dyntheory.metrics._modes: teacher-mode strength metrics, by hand and inside a trained population."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._config.metric import MetricContext
from dyntheory.metrics._modes import ModeSeed, ModeStrength, end_to_end, mode_seed, mode_strength, mode_strengths

X64 = jax.enable_x64


def _frame(rng, n, r):
    q, _ = np.linalg.qr(rng.normal(size=(n, r)))
    return jnp.asarray(q)


def _ctx(model, params, modes):
    return MetricContext(params=params, apply=model.apply, loss=None, batch=None, hp=None,
                         task_state={"teacher_modes": modes}, step=jnp.int32(0))


@given(seed=st.integers(0, 2**16), depth=st.integers(1, 4))
def test_mode_strength_is_a_transpose_of_the_product_times_b(seed, depth):
    rng = np.random.default_rng(seed)
    d_in, d_out, width, r = 5, 3, 4, 2
    model = dt.models.DeepLinear(depth=depth, width=width)
    dims = [d_in] + [width] * (depth - 1) + [d_out]
    with X64(True):
        params = {"layers": [{"w": jnp.asarray(rng.normal(size=(a, b)))} for a, b in zip(dims[:-1], dims[1:])]}
        a, b = _frame(rng, d_in, r), _frame(rng, d_out, r)
        product = np.linalg.multi_dot([np.asarray(p["w"]) for p in params["layers"]]) if depth > 1 \
            else np.asarray(params["layers"][0]["w"])
        for i in range(r):
            value, state = ModeStrength(i)((), _ctx(model, params, (a, jnp.ones(r), b)))
            np.testing.assert_allclose(float(value), np.asarray(a[:, i]) @ product @ np.asarray(b[:, i]),
                                       rtol=1e-12, atol=1e-12)
            assert state == ()


def test_biases_drop_out_of_the_end_to_end_map():
    model = dt.models.MLP(widths=(3,), activation="linear", bias=True)
    rng = np.random.default_rng(0)
    with X64(True):
        params = {"layers": [{"w": jnp.asarray(rng.normal(size=(2, 3))), "b": jnp.asarray(rng.normal(size=3))},
                             {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=2))}]}
        A = end_to_end(model.apply, params, 2)
        np.testing.assert_allclose(A, params["layers"][0]["w"] @ params["layers"][1]["w"], rtol=1e-12)


def test_mode_seed_of_an_aligned_balanced_start_is_its_strength():
    rng = np.random.default_rng(1)
    a, b = _frame(rng, 4, 2), _frame(rng, 3, 2)
    u0 = jnp.array([0.04, 0.01])
    # W1 = sum_k sqrt(u0_k) a_k e_k^T, W2 = sum_k sqrt(u0_k) e_k b_k^T (hidden width 5)
    eye = jnp.eye(5, 2)
    params = {"layers": [{"w": (a * jnp.sqrt(u0)) @ eye.T}, {"w": (eye * jnp.sqrt(u0)) @ b.T}]}
    ctx = _ctx(dt.models.DeepLinear(depth=2, width=5), params, (a, jnp.array([2.0, 1.0]), b))
    for i in range(2):
        assert ModeSeed(i).init(params, None) == ()
        np.testing.assert_allclose(float(ModeSeed(i)((), ctx)[0]), float(u0[i]), rtol=1e-6)
        np.testing.assert_allclose(float(ModeStrength(i)((), ctx)[0]), float(u0[i]), rtol=1e-6)


def test_mode_seed_needs_two_bias_free_layers():
    with pytest.raises(ValueError, match="two-layer"):
        ModeSeed(0).init({"layers": [{"w": jnp.ones((2, 2))}] * 3}, None)
    with pytest.raises(ValueError, match="two-layer"):
        ModeSeed(0).init({"layers": [{"w": jnp.ones((2, 2)), "b": jnp.ones(2)}] * 2}, None)


def test_names_and_validation():
    assert mode_strength(2).name == "mode_2" and mode_seed(1).name == "mode_1_seed"
    assert sorted(mode_strengths(3)) == ["mode_0", "mode_1", "mode_2"]
    assert ModeStrength(0) == ModeStrength(0) and hash(ModeStrength(0)) == hash(ModeStrength(0))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="index"):
            ModeStrength(bad)
    with pytest.raises(ValueError, match="n_modes"):
        mode_strengths(0)


def test_missing_teacher_modes_and_out_of_range_index_are_errors():
    model = dt.models.Linear()
    params = {"w": jnp.ones((2, 1))}
    ctx = MetricContext(params, model.apply, None, None, None, {"teacher": {}}, jnp.int32(0))
    with pytest.raises(ValueError, match="teacher_modes"):
        ModeStrength(0)((), ctx)
    ctx = _ctx(model, params, (jnp.ones((2, 1)), jnp.ones(1), jnp.ones((1, 1))))
    with pytest.raises(ValueError, match="out of range"):
        ModeStrength(3)((), ctx)


def test_recorded_in_a_population_and_learned_to_the_singular_values():
    # Linear student, whitened teacher: GD with lr 0.5 contracts A - M by 1/2 per step.
    s = (3.0, 2.0, 1.0)
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4, d_out=3, singular_values=s, n_train=8, whiten=True,
                                                  n_test=8),
                     model=dt.models.Linear(), init_scale=0.0, lr=0.5, steps=60, batch_size=None, seeds=2,
                     record=[0, 60], metrics=mode_strengths(3), dtype="float64")
    ds = dt.train(sweep, key=3).metrics
    for i, si in enumerate(s):
        np.testing.assert_array_equal(ds[f"mode_{i}"].sel(step=0).values, 0.0)
        np.testing.assert_allclose(ds[f"mode_{i}"].sel(step=60).values, si, rtol=1e-12)
