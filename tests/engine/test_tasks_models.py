"""Tasks are deterministic from their keys; models initialise and apply as documented."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory.tasks._base import Batch, finite_minibatch


def hp(**kw):
    base = dict(lr=0.1, momentum=0.9, weight_decay=0.0, init_scale=1.0, b1=0.9, b2=0.999, eps=1e-8)
    base.update(kw)
    return HParams(**{k: jnp.asarray(base[k]) for k in HPARAMS})


K = jax.random.key


def test_teacher_student_is_a_function_of_its_keys_and_whitens_exactly():
    task = dt.tasks.TeacherStudent(d_in=6, d_out=3, singular_values=(3.0, 2.0, 1.0), n_train=40, whiten=True,
                                   spectrum=(1, 1, 1, 1, 1, 1))
    with jax.enable_x64(True):
        a = task.setup(K(0), K(1), {"noise": 0.0})
        b = task.setup(K(0), K(1), {"noise": 0.0})
        np.testing.assert_array_equal(a["train"].x, b["train"].x)
        x = a["train"].x
        np.testing.assert_allclose(x.T @ x / 40, np.eye(6), atol=1e-12)
        m_a, s, m_b = a["teacher_modes"]
        np.testing.assert_allclose(m_a.T @ m_a, np.eye(3), atol=1e-12)
        np.testing.assert_allclose((m_a * s) @ m_b.T, a["teacher"]["m"], atol=1e-12)
        np.testing.assert_allclose(a["train"].y, x @ a["teacher"]["m"], atol=1e-12)


@pytest.mark.parametrize("n, d", [(8, 8), (40, 6), (64, 16)])
def test_whitening_is_the_cholesky_whitening_of_the_same_draw(n, d):
    """The whitened set is z L^-T, L the Cholesky factor of z^T z / n (computed here with numpy),
    though the task computes it by Gram-Schmidt (no LAPACK on the device)."""
    task = dt.tasks.TeacherStudent(d_in=d, n_train=n, whiten=True)
    with jax.enable_x64(True):
        k = K(3)
        got = np.asarray(task._sample(task._teacher(K(0))[0], k, K(1), n, 0.0, whiten=True).x)
        z = np.asarray(jax.random.normal(k, (n, d)))
    chol = np.linalg.cholesky(z.T @ z / n)
    np.testing.assert_allclose(got, np.linalg.solve(chol, z.T).T, atol=1e-10)


def test_streaming_batches_depend_only_on_data_key_and_step():
    task = dt.tasks.TeacherStudent(d_in=3, noise=0.5)
    state = task.setup(K(0), K(1), {"noise": 0.5})
    b1 = task.batch(state, {"noise": 0.5}, K(2), K(3), 7, 16)
    b2 = task.batch(state, {"noise": 0.5}, K(2), K(3), 7, 16)
    b3 = task.batch(state, {"noise": 0.5}, K(2), K(3), 8, 16)
    b4 = task.batch(state, {"noise": 0.5}, K(2), K(4), 7, 16)  # other noise stream: same x
    np.testing.assert_array_equal(b1.x, b2.x)
    assert not np.array_equal(b1.x, b3.x)
    np.testing.assert_array_equal(b1.x, b4.x)
    assert not np.array_equal(b1.y, b4.y)


@given(step=st.integers(0, 200), bs=st.sampled_from([3, 4, 7]))
def test_finite_minibatch_order_is_replayable_and_covers_each_epoch(step, bs):
    data = Batch(jnp.arange(21.0)[:, None], jnp.arange(21))
    per_epoch = 21 // bs
    epoch = step // per_epoch
    seen = np.concatenate([finite_minibatch(data, K(5), epoch * per_epoch + i, bs).y for i in range(per_epoch)])
    assert len(set(seen.tolist())) == per_epoch * bs  # no repeats within an epoch
    again = finite_minibatch(data, K(5), step, bs).y
    np.testing.assert_array_equal(again, finite_minibatch(data, K(5), step, bs).y)


@pytest.mark.parametrize("op,fn", [("+", lambda a, b, p: (a + b) % p), ("-", lambda a, b, p: (a - b) % p),
                                   ("*", lambda a, b, p: (a * b) % p), ("/", lambda a, b, p: (a * pow(b, -1, p)) % p)])
def test_modular_table(op, fn):
    task = dt.tasks.ModularArithmetic(p=11, op=op, train_frac=0.5)
    x, y = task.table()
    assert all(y[i] == fn(int(a), int(b), 11) for i, (a, b) in enumerate(x))
    state = task.setup(K(0), K(1), {})
    assert state["train"].x.shape[0] == task.n_train
    assert state["train"].x.shape[0] + state["test"].x.shape[0] == task.n_pairs


def test_sparse_parity_labels_are_the_parity_of_the_relevant_bits():
    task = dt.tasks.SparseParity(n_bits=10, k=3)
    state = task.setup(K(0), K(1), {})
    b = task.batch(state, {}, K(2), K(3), 0, 256)
    rel = np.asarray(state["relevant"])
    np.testing.assert_array_equal(np.asarray(b.y), (np.prod(np.asarray(b.x)[:, rel], axis=1) < 0).astype(int))
    assert 0.35 < float(np.mean(b.y)) < 0.65


def test_balanced_deep_linear_init_is_balanced_and_small():
    model = dt.models.DeepLinear(depth=3, width=6, balanced=True)
    spec = dt.tasks.Spec(4, 3)
    with jax.enable_x64(True):
        p = model.init(K(0), hp(init_scale=1e-2), spec)
        ws = [layer["w"] for layer in p["layers"]]
        for w, w_next in zip(ws[:-1], ws[1:]):
            np.testing.assert_allclose(w.T @ w, w_next @ w_next.T, atol=1e-15)
        assert np.linalg.norm(model.end_to_end(p)) < 1e-5


def test_mup_equals_standard_at_base_width_and_shrinks_the_readout():
    spec = dt.tasks.Spec(5, 2)
    std = dt.models.MLP(widths=(32,), parametrization="standard", base_width=32)
    mup = dt.models.MLP(widths=(32,), parametrization="mup", base_width=32)
    a, b = std.init(K(0), hp(), spec), mup.init(K(0), hp(), spec)
    jax.tree.map(np.testing.assert_allclose, a, b)
    wide = dt.models.MLP(widths=(512,), parametrization="mup", base_width=32).init(K(0), hp(), spec)
    ratio = np.std(wide["layers"][1]["w"]) / np.std(a["layers"][1]["w"])
    assert 32 / 512 * 0.8 < ratio < 32 / 512 * 1.2  # std ~ sqrt(base)/fan_in
    scales = dt.models.MLP(widths=(512,), parametrization="mup").lr_scales(spec, "sgd")
    assert scales["layers"][0]["w"] == 512 / 32 and scales["layers"][1]["w"] == 32 / 512


def test_ntk_uv_model_output():
    model = dt.models.DeepLinear(depth=2, width=9, parametrization="ntk")
    p = model.init(K(0), hp(), dt.tasks.Spec(1, 1))
    u, v = p["layers"][0]["w"][0], p["layers"][1]["w"][:, 0]
    np.testing.assert_allclose(model.apply(p, jnp.ones((1, 1)))[0, 0], u @ v / 3.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(8, 8), (32, 1), (16, 4), (16, 32)])
@pytest.mark.parametrize("parametrization", ["standard", "ntk"])
def test_dense_apply_small_layers_equal_the_matrix_product(shape, parametrization):
    """Layers of at most SMALL_LAYER entries are applied as multiply-and-sum: the same function,
    values and gradients, as ``x @ w`` (vmapped, as the engine runs it)."""
    from dyntheory._platform.products import SMALL_LAYER, plain_products
    from dyntheory.models._base import dense_apply

    k1, k2, k3 = jax.random.split(K(1), 3)
    params = {"w": jax.random.normal(k1, (5,) + shape), "b": jax.random.normal(k2, (5, shape[1]))}
    x = jax.random.normal(k3, (7, shape[0]))
    scale = 1 / np.sqrt(shape[0]) if parametrization == "ntk" else 1.0

    def ours(p):
        return jnp.sum(jnp.tanh(jax.vmap(lambda q: dense_apply(q, x, parametrization))(p)))

    def ref(p):
        return jnp.sum(jnp.tanh(jnp.einsum("bi,mio->mbo", x, p["w"], precision="highest") * scale + p["b"][:, None]))

    assert (shape[0] * shape[1] <= SMALL_LAYER) == (shape in [(8, 8), (32, 1), (16, 4)])
    (v, g), (v_ref, g_ref) = jax.value_and_grad(ours)(params), jax.value_and_grad(ref)(params)
    np.testing.assert_allclose(v, v_ref, rtol=1e-5)
    for name in ("w", "b"):
        np.testing.assert_allclose(g[name], g_ref[name], rtol=1e-4, atol=1e-5)
    assert ("dot_general" in str(jax.make_jaxpr(ours)(params))) == (shape[0] * shape[1] > SMALL_LAYER)
    with plain_products():  # the benchmark's textbook baseline: a function first traced here
        assert "dot_general" in str(jax.make_jaxpr(lambda p: ours(p))(params))


def test_flax_model_trains_in_a_population():
    import flax.linen as nn

    model = dt.models.FlaxModel(module=nn.Sequential([nn.Dense(8), nn.tanh, nn.Dense(1)]), name="mlp8")
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=3), model=model, steps=20, batch_size=8,
                     lr=0.05, seeds=2, record=10)
    run = dt.train(sweep, key=0)
    loss = run.metrics.train_loss
    assert loss.dims == ("seed", "step") and np.isfinite(loss).all()


def test_pythia_schedule_matches_pythia_at_its_length():
    sched = dt.pythia_schedule(143000)
    assert len(sched) == 154 and sched[:11] == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert sched[11:14] == (1000, 2000, 3000)


@pytest.mark.parametrize("shape", [(6, 3), (16, 16), (40, 7)])
def test_orthonormal_columns_is_qr_with_positive_diagonal(shape):
    from dyntheory.tasks._base import orthonormal_columns

    z = np.random.default_rng(shape[0]).normal(size=shape)
    q, r = np.linalg.qr(z)
    want = q * np.sign(np.diag(r))
    with jax.enable_x64(True):
        got = np.asarray(orthonormal_columns(jnp.asarray(z)))
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_teacher_modes_are_orthonormal_frames():
    task = dt.tasks.TeacherStudent(d_in=12, d_out=5, singular_values=(3.0, 2.0, 1.0))
    state = task.setup(jax.random.key(0), jax.random.key(1), {"noise": 0.0})
    a, s, b = state["teacher_modes"]
    np.testing.assert_allclose(a.T @ a, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(b.T @ b, np.eye(3), atol=1e-5)
    np.testing.assert_allclose((a * s) @ b.T, state["teacher"]["m"], atol=1e-5)
