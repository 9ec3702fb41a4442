"""Scaling-law tasks: multitask sparse parity (Zipf subtasks) and power-law features.

Shapes, labels, determinism from the stream keys, Zipf frequencies within binomial intervals,
and the sampled covariance spectrum within its sampling error; the exact (whitened) sets have
the population's second moments to rounding.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt

Z = 5.0  # standard errors allowed per check (many checks per test: keep false alarms ~1e-5)


@functools.cache
def _jitted(task):
    # one compile per task instead of one per eager op (slow on a loaded CPU)
    return jax.jit(task.setup), jax.jit(task.batch, static_argnums=5)


def _setup(task, kt, kn, tp):
    return _jitted(task)[0](kt, kn, tp)


def _batch(task, st, tp, kd, kn, step, n):
    return _jitted(task)[1](st, tp, kd, kn, step, n)


def _keys(seed=0):
    k = jax.random.split(jax.random.key(seed), 3)
    return k[0], k[1], k[2]


# ---- multitask sparse parity ------------------------------------------------------------------

def _mtp(**kw):
    base = dict(n_tasks=12, n_bits=10, k=3, alpha=0.4, n_test=512, n_per_task=32)
    base.update(kw)
    return dt.tasks.MultitaskSparseParity(**base)


def _parity_labels(task, subsets, x):
    x = np.asarray(x)
    t = np.argmax(x[..., : task.n_tasks], axis=-1)
    bits = x[..., task.n_tasks:]
    rel = np.take_along_axis(bits, np.asarray(subsets)[t], axis=-1)
    return (np.prod(rel, axis=-1) < 0).astype(int), t


def test_multitask_parity_shapes_and_labels():
    task = _mtp()
    assert task.spec() == dt.tasks.Spec(d_in=22, d_out=2)
    kt, kn, kd = _keys()
    st = _setup(task, kt, kn, {"alpha": jnp.float32(0.4)})
    sub = np.asarray(st["subsets"])
    assert sub.shape == (12, 3)
    assert (np.diff(sub, axis=1) > 0).all() and sub.min() >= 0 and sub.max() < 10
    assert len({tuple(r) for r in sub.tolist()}) == 12, "subsets must be distinct"
    assert st["test"].x.shape == (512, 22) and st["test"].y.shape == (512,)
    assert st["per_task"].x.shape == (12, 32, 22) and st["per_task"].y.shape == (12, 32)
    b = _batch(task, st, {"alpha": 0.4}, kd, kn, 3, 64)
    assert b.x.shape == (64, 22) and b.y.dtype == jnp.int32
    for batch, tasks in ((st["test"], st["test_task"]), (b, None),
                         (dt.tasks.Batch(st["per_task"].x.reshape(-1, 22),
                                         st["per_task"].y.reshape(-1)),
                          np.repeat(np.arange(12), 32))):
        x = np.asarray(batch.x)
        ctrl, bits = x[:, :12], x[:, 12:]
        assert set(np.unique(ctrl)) <= {0.0, 1.0} and (ctrl.sum(1) == 1).all()
        assert set(np.unique(bits)) <= {-1.0, 1.0}
        y, t = _parity_labels(task, sub, x)
        np.testing.assert_array_equal(y, np.asarray(batch.y))
        if tasks is not None:
            np.testing.assert_array_equal(t, np.asarray(tasks))


def test_multitask_parity_is_deterministic_from_its_keys():
    task = _mtp()
    kt, kn, kd = _keys()
    tp = {"alpha": jnp.float32(0.4)}
    a, b = _setup(task, kt, kn, tp), _setup(task, kt, kn, tp)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    other = _setup(task, jax.random.key(9), kn, tp)
    assert not np.array_equal(np.asarray(a["subsets"]), np.asarray(other["subsets"]))
    b1, b2 = _batch(task, a, tp, kd, kn, 5, 128), _batch(task, a, tp, kd, kn, 5, 128)
    np.testing.assert_array_equal(b1.x, b2.x)
    assert not np.array_equal(np.asarray(b1.x), np.asarray(_batch(task, a, tp, kd, kn, 6, 128).x))
    assert not np.array_equal(np.asarray(b1.x),
                              np.asarray(_batch(task, a, tp, jax.random.key(5), kn, 5, 128).x))


@pytest.mark.parametrize("alpha", [0.4, 1.0])
def test_multitask_parity_zipf_frequencies_within_binomial_intervals(alpha):
    task = _mtp(n_tasks=20, n_bits=8, alpha=alpha)
    kt, kn, kd = _keys(1)
    tp = {"alpha": jnp.float32(alpha)}
    st = _setup(task, kt, kn, tp)
    p = np.arange(1, 21, dtype=float) ** -(alpha + 1)
    p /= p.sum()
    np.testing.assert_allclose(np.asarray(st["probs"]), p, rtol=1e-6)
    n = 1 << 18
    batch = _batch(task, st, tp, kd, kn, 0, n)
    counts = np.asarray(batch.x[:, :20]).sum(0)
    sd = np.sqrt(n * p * (1 - p))
    assert (np.abs(counts - n * p) <= Z * sd).all(), (counts, n * p, sd)
    # the held-out set follows the same law
    c_test = np.bincount(np.asarray(st["test_task"]), minlength=20)
    sd_t = np.sqrt(task.n_test * p * (1 - p))
    assert (np.abs(c_test - task.n_test * p) <= Z * sd_t + 1).all()
    # data bits and labels are fair coins
    y = np.asarray(batch.y)
    assert abs(y.mean() - 0.5) <= Z * 0.5 / math.sqrt(y.size)
    bits = np.asarray(batch.x[:, 20:])
    assert (np.abs(bits.mean(0)) <= Z / math.sqrt(n)).all()


def test_multitask_parity_finite_set_and_validation():
    task = _mtp(n_train=300)
    kt, kn, kd = _keys()
    st = _setup(task, kt, kn, {"alpha": jnp.float32(0.4)})
    assert task.finite and st["train"].x.shape == (300, 22) and st["train_task"].shape == (300,)
    b = _batch(task, st, {}, kd, kn, 0, 50)
    assert b.x.shape == (50, 22)
    with pytest.raises(ValueError, match="k must be <= n_bits"):
        _mtp(n_bits=2)
    with pytest.raises(ValueError, match="distinct subsets"):
        _mtp(n_tasks=11, n_bits=4, k=2)
    with pytest.raises(ValueError, match="alpha"):
        _mtp(alpha=-0.1)
    # more subsets than can be enumerated cheaply: independent draws, still valid rows
    big = _mtp(n_tasks=50, n_bits=64, k=6, n_per_task=2, n_test=8)
    sub = np.asarray(jax.jit(big.subsets)(jax.random.key(3)))
    assert sub.shape == (50, 6) and (np.diff(sub, axis=1) > 0).all() and sub.max() < 64


# ---- power-law features -----------------------------------------------------------------------

def _tp(task):
    return {"alpha": jnp.asarray(task.alpha), "beta": jnp.asarray(task.beta),
            "noise": jnp.asarray(task.noise)}


def _population(task):
    j = np.arange(1, task.n_features + 1, dtype=float)
    lam, b = j ** (-2 * task.alpha), j ** (-task.beta)
    return lam, b


def test_power_law_shapes_and_exact_sets():
    task = dt.tasks.PowerLawFeatures(d=16, n_features=512, alpha=0.75, beta=0.6, noise=0.1,
                                     n_train=40, whiten=True, n_test=64)
    assert task.spec() == dt.tasks.Spec(d_in=16, d_out=1)
    kt, kn, kd = _keys()
    with jax.enable_x64(True):
        st = _setup(task, kt, kn, _tp(task))
        lam, b = _population(task)
        floor = 0.5 * (lam[16:] * b[16:] ** 2).sum() + 0.5 * 0.1**2
        np.testing.assert_allclose(float(st["floor"]), floor, rtol=1e-12)
        for name, n in (("test", 64), ("train", 40)):
            x, y = (np.asarray(a) for a in st[name])
            assert x.shape == (n, 16) and y.shape == (n, 1)
            np.testing.assert_allclose(x.T @ x / n, np.diag(lam[:16]), atol=1e-12)
            np.testing.assert_allclose((x.T @ y)[:, 0] / n, lam[:16] * b[:16], atol=1e-12)
            np.testing.assert_allclose(float(y[:, 0] @ y[:, 0]) / n, (lam * b**2).sum() + 0.01, rtol=1e-10)
            # the best visible model, w = b, sits exactly on the floor
            np.testing.assert_allclose(0.5 * np.mean((x @ b[:16] - y[:, 0]) ** 2), floor, rtol=1e-10)
        bt = _batch(task, st, _tp(task), kd, kn, 7, 32)
        assert bt.x.shape == (32, 16) and bt.y.shape == (32, 1)


def test_power_law_streaming_spectrum_within_sampling_error():
    task = dt.tasks.PowerLawFeatures(d=64, n_features=2048, alpha=1.0, beta=0.5, noise=0.2)
    kt, kn, kd = _keys(2)
    tp = _tp(task)
    st = _setup(task, kt, kn, tp)
    bb = _batch(task, st, tp, kd, kn, 0, 1 << 17)
    x, y = np.asarray(bb.x, float), np.asarray(bb.y, float)[:, 0]
    n = x.shape[0]
    lam, b = _population(task)
    cov = x.T @ x / n
    var = np.diag(cov)
    assert (np.abs(var - lam[:64]) <= Z * lam[:64] * math.sqrt(2 / n)).all()
    off = cov - np.diag(var)
    bound = Z * np.sqrt(np.outer(lam[:64], lam[:64]) / n)
    assert (np.abs(off) <= bound + np.diag(np.full(64, np.inf))).all()
    # eigenvalues of the sampled covariance: the power law j^(-2 alpha), top ones within error
    eig = np.sort(np.linalg.eigvalsh(cov))[::-1]
    np.testing.assert_allclose(eig[:8], lam[:8], rtol=Z * math.sqrt(2 / n) * 2)
    slope = np.polyfit(np.log(np.arange(1, 17)), np.log(eig[:16]), 1)[0]
    assert abs(slope + 2 * task.alpha) < 0.05
    # cross-covariance lambda_j b_j, and total variance of y including unseen features and noise
    xy = x.T @ y / n
    sd_xy = np.sqrt(lam[:64] * ((lam * b**2).sum() + 0.04) / n)
    assert (np.abs(xy - lam[:64] * b[:64]) <= Z * sd_xy).all()
    vy = (lam * b**2).sum() + 0.04
    assert abs(np.mean(y**2) - vy) <= Z * vy * math.sqrt(2 / n)


def test_power_law_streams_are_deterministic_and_separate():
    task = dt.tasks.PowerLawFeatures(d=8, n_features=64, noise=0.5, n_test=16)
    kt, kn, kd = _keys(3)
    tp = _tp(task)
    st = _setup(task, kt, kn, tp)
    jax.tree.map(np.testing.assert_array_equal, st, _setup(task, kt, kn, tp))
    a = _batch(task, st, tp, kd, kn, 4, 32)
    np.testing.assert_array_equal(a.x, _batch(task, st, tp, kd, kn, 4, 32).x)
    other_noise = _batch(task, st, tp, kd, jax.random.key(11), 4, 32)
    np.testing.assert_array_equal(a.x, other_noise.x)  # label noise has its own stream
    assert not np.array_equal(np.asarray(a.y), np.asarray(other_noise.y))
    assert not np.array_equal(np.asarray(a.x), np.asarray(_batch(task, st, tp, kd, kn, 5, 32).x))


def test_power_law_validation():
    with pytest.raises(ValueError, match="d must be <= n_features"):
        dt.tasks.PowerLawFeatures(d=10, n_features=5)
    with pytest.raises(ValueError, match="n_test must be >= d \\+ 2"):
        dt.tasks.PowerLawFeatures(d=100, n_test=50)
    with pytest.raises(ValueError, match="whiten needs n_train"):
        dt.tasks.PowerLawFeatures(d=8, whiten=True)
    with pytest.raises(ValueError, match="alpha"):
        dt.tasks.PowerLawFeatures(d=8, alpha=0.0)
    with pytest.raises(ValueError, match="noise"):
        dt.tasks.PowerLawFeatures(d=8, noise=-1.0)
