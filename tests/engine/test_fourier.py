"""Fourier progress measures (Nanda et al. 2023) on synthetic embeddings and logit tables."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntheory.metrics import _fourier as fr


def _cos_table(p: int, freqs, amp: float = 6.0) -> np.ndarray:
    """The grokked circuit's logits: sum_k amp * cos(w_k (a + b - c)), shape (p*p, p)."""
    a, b = np.divmod(np.arange(p * p), p)
    c = np.arange(p)
    return sum(amp * np.cos(2 * np.pi * k * ((a + b)[:, None] - c) / p) for k in freqs)


def _numpy_basis(p: int) -> np.ndarray:
    """The paper's make_fourier_basis, in float64 numpy (odd p): const, cos_k, sin_k, ..."""
    x = np.arange(p)
    rows = [np.ones(p)]
    for k in range(1, p // 2 + 1):
        rows += [np.cos(2 * np.pi * k * x / p), np.sin(2 * np.pi * k * x / p)]
    rows = np.stack(rows)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _paper_projection(logits: np.ndarray, p: int, freqs) -> np.ndarray:
    """P_K L built the way the paper's helpers do: 2-D outer products of 1-D basis rows."""
    F = _numpy_basis(p)
    proj = np.zeros_like(logits)
    for k in freqs:
        cc, ss = np.outer(F[2 * k - 1], F[2 * k - 1]), np.outer(F[2 * k], F[2 * k])
        sc, cs = np.outer(F[2 * k], F[2 * k - 1]), np.outer(F[2 * k - 1], F[2 * k])
        for u in ((cc - ss).ravel() / np.sqrt(2), (sc + cs).ravel() / np.sqrt(2)):
            proj += np.outer(u, u @ logits)
    return proj


def _ce(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


@pytest.mark.parametrize("p", [2, 5, 8, 13, 113])
def test_basis_is_orthonormal_and_ordered(p):
    with jax.enable_x64(True):
        F = np.asarray(fr.fourier_basis(p))
    np.testing.assert_allclose(F @ F.T, np.eye(p), atol=1e-12)
    if p % 2:
        np.testing.assert_allclose(F, _numpy_basis(p), atol=1e-14)
    x = np.arange(p)
    np.testing.assert_allclose(F[0], 1 / np.sqrt(p), rtol=1e-14)
    if p >= 5:
        np.testing.assert_allclose(F[3], np.sqrt(2 / p) * np.cos(4 * np.pi * x / p), atol=1e-14)
        np.testing.assert_allclose(F[4], np.sqrt(2 / p) * np.sin(4 * np.pi * x / p), atol=1e-14)


@given(seed=st.integers(0, 2**31 - 1), p=st.sampled_from([7, 13]))
def test_losses_equal_the_papers_construction(seed, p):
    rng = np.random.default_rng(seed)
    # Three draws with replacement: 1 to 3 distinct key frequencies, one compiled shape.
    freqs = rng.integers(1, p // 2 + 1, size=3)
    logits = rng.normal(size=(p * p, p)) * 3 + _cos_table(p, freqs[:1], amp=2.0)
    labels = np.asarray(fr.pair_labels(p))
    proj = _paper_projection(logits, p, np.unique(freqs))
    # Paper: restricted = trig logits + batch-mean of what was removed; excluded = L - trig.
    want_r = _ce(proj + (logits - proj).mean(0, keepdims=True), labels)
    want_e = _ce(logits - proj, labels)
    with jax.enable_x64(True):
        got_r = float(fr.restricted_loss(jnp.asarray(logits), labels, p, jnp.asarray(freqs)))
        got_e = float(fr.excluded_loss(jnp.asarray(logits), labels, p, jnp.asarray(freqs)))
    assert abs(got_r - want_r) < 1e-12 * max(1.0, want_r)
    assert abs(got_e - want_e) < 1e-12 * max(1.0, want_e)


def test_key_frequency_table_restricted_keeps_loss_excluded_destroys_it():
    p, key = 23, [3, 7, 10]
    labels = fr.pair_labels(p)
    with jax.enable_x64(True):
        logits = jnp.asarray(_cos_table(p, key))
        full = float(fr.cross_entropy(logits, labels))
        restricted = float(fr.restricted_loss(logits, labels, p, jnp.array(key)))
        excluded = float(fr.excluded_loss(logits, labels, p, jnp.array(key)))
        other = float(fr.restricted_loss(logits, labels, p, jnp.array([1, 2, 4])))
    assert full < 0.1
    # The table lies in the key subspace with zero per-output mean: restricted is the identity.
    assert abs(restricted - full) < 1e-10
    # Removing the key directions leaves nothing but zeros: exactly chance, log p.
    assert abs(excluded - np.log(p)) < 1e-10
    # Restricting to the wrong frequencies also gives chance.
    assert abs(other - np.log(p)) < 1e-10


def test_memorising_table_is_unhurt_by_exclusion():
    # A lookup-table solution (one-hot on the label, no Fourier structure to speak of).
    p = 17
    labels = np.asarray(fr.pair_labels(p))
    logits = 8.0 * np.eye(p)[labels]
    key = jnp.array([2, 5])
    with jax.enable_x64(True):
        full = float(fr.cross_entropy(jnp.asarray(logits), labels))
        excluded = float(fr.excluded_loss(jnp.asarray(logits), labels, p, key))
        restricted = float(fr.restricted_loss(jnp.asarray(logits), labels, p, key))
    # The one-hot table spreads its energy evenly over all p//2 frequencies, so removing 2 of
    # 8 costs little, while keeping only those 2 is far worse than the full table.
    assert excluded - full < 0.5 * (restricted - full)


def test_random_embedding_has_flat_frequency_norms():
    p, d = 113, 256
    E = jnp.asarray(np.random.default_rng(0).normal(size=(p, d)), jnp.float32)
    norms2 = np.asarray(fr.frequency_norms(E, p)) ** 2
    # Orthonormal basis: each frequency's squared norm is chi^2 with 2d dof; mean 2d,
    # sd sqrt(4d) -> every ratio within 5 sd of 1 (sd = 1/sqrt(d) = 0.0625).
    assert np.all(np.abs(norms2 / (2 * d) - 1) < 5 / np.sqrt(d)), norms2 / (2 * d)
    assert float(fr.gini(jnp.sqrt(norms2))) < 0.05


def test_sparse_embedding_recovers_key_frequencies():
    p, d, key = 59, 32, [4, 17, 25]
    F = fr.fourier_basis(p)
    rows = jnp.stack([F[2 * k - 1] for k in key] + [F[2 * k] for k in key])  # (6, p)
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(6, d)) * np.array([3, 2, 1, 3, 2, 1.0])[:, None]
    E = rows.T @ jnp.asarray(mix, jnp.float32) + jnp.asarray(1e-3 * rng.normal(size=(p, d)),
                                                             jnp.float32)
    got = fr.key_frequencies(E, p, top=3)
    assert sorted(np.asarray(got).tolist()) == key
    assert float(fr.gini(fr.frequency_norms(E, p))) > 0.9


def test_vmap_over_members_equals_one_by_one():
    p, m = 11, 4
    rng = np.random.default_rng(3)  # test data from numpy: no threefry compile needed
    logits = jnp.asarray(3 * rng.normal(size=(m, p * p, p)), jnp.float32)
    freqs = jnp.array([[1, 2], [3, 3], [5, 1], [4, 2]])  # a repeat counts once
    embeds = jnp.asarray(rng.normal(size=(m, p, 8)), jnp.float32)
    labels = fr.pair_labels(p)
    def both(L, f):
        return jnp.stack([fr.restricted_loss(L, labels, p, f), fr.excluded_loss(L, labels, p, f)])

    fn = jax.jit(both)
    one = jnp.stack([fn(logits[i], freqs[i]) for i in range(m)])
    np.testing.assert_allclose(jax.jit(jax.vmap(both))(logits, freqs), one, rtol=1e-5)
    # Leading axes also broadcast without vmap.
    np.testing.assert_allclose(fn(logits, freqs).T, one, rtol=1e-5)
    np.testing.assert_array_equal(
        jax.vmap(lambda e: fr.key_frequencies(e, p, top=2))(embeds),
        fr.key_frequencies(embeds, p, top=2))
    assert fr.frequency_norms(embeds, p).shape == (m, p // 2)
    # freqs [3, 3] is member 1's row: the same as [3] alone.
    np.testing.assert_allclose(fr.restricted_loss(logits[1], labels, p, jnp.array([3])), one[1, 0],
                               rtol=1e-5)


def test_mask_selects_pairs():
    p = 7
    labels = fr.pair_labels(p)
    mask = jnp.arange(p * p) % 3 == 0
    with jax.enable_x64(True):
        logits = jnp.asarray(_cos_table(p, [2])) + jnp.arange(p * p)[:, None] % 5 * 0.3
        ex = fr.excluded_loss(logits, labels, p, jnp.array([2]), mask=mask)
        proj = _paper_projection(np.asarray(logits), p, [2])
        keep = np.asarray(mask)
        want = _ce(np.asarray(logits - proj)[keep], np.asarray(labels)[keep])
    assert abs(float(ex) - want) < 1e-12


@given(x=st.lists(st.floats(0.0, 10.0, allow_subnormal=False), min_size=16, max_size=16),
       scale=st.floats(0.1, 10.0))
def test_gini_bounds_and_invariances(x, scale):
    x = np.asarray(x)
    if x.sum() < 1e-3:
        x = x + 1.0
    with jax.enable_x64(True):
        g = float(fr.gini(jnp.asarray(x)))
        assert abs(g - float(fr.gini(jnp.asarray(x[::-1] * scale)))) < 1e-12
        # Definition as mean absolute difference / (2 mean).
        mad = np.abs(x[:, None] - x[None, :]).mean()
        assert abs(g - mad / (2 * x.mean())) < 1e-12
    assert -1e-12 <= g <= (len(x) - 1) / len(x) + 1e-12
    assert float(fr.gini(jnp.zeros(5))) == 0.0
