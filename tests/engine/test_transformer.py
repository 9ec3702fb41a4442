"""The Transformer: attention against flax's, causality, parametrizations, populations, head scores."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dyntheory as dt
from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory.models._attention_scores import (HeadScore, copying_score, head_scores, ov_circuit, prefix_matching,
                                                previous_token, repeated_probe)
from dyntheory.models._transformer import Transformer, sinusoidal
from dyntheory.tasks import Spec
from dyntheory.tasks._repeated_tokens import RepeatedTokens
from dyntheory.tasks._sequence import PositionLoss

TOKENS = Spec(d_in=7, d_out=11, vocab=11)


def hp(init_scale=1.0):
    base = dict(lr=0.1, momentum=0.9, weight_decay=0.0, init_scale=init_scale, b1=0.9, b2=0.999, eps=1e-8)
    return HParams(**{k: jnp.asarray(base[k]) for k in HPARAMS})


def tokens(seed=1, n=3, spec=TOKENS):
    return jax.random.randint(jax.random.key(seed), (n, spec.d_in), 0, spec.vocab)


def flax_forward(model, params, x):
    """The model's forward pass with every attention layer replaced by flax's
    ``MultiHeadDotProductAttention`` (causal mask, no biases), from the same weights."""
    h, d, H = model._embed(params, x), model.d_model, model.heads
    mha = nn.MultiHeadDotProductAttention(num_heads=H, qkv_features=d, out_features=d, use_bias=False)
    mask = nn.make_causal_mask(x if x.ndim == 2 else x[..., 0])
    for block in params["blocks"]:
        p = {n: {"kernel": block[k]["w"].reshape(d, H, d // H)}
             for n, k in (("query", "q"), ("key", "k"), ("value", "v"))}
        p["out"] = {"kernel": block["o"]["w"].reshape(H, d // H, d)}
        h = h + mha.apply({"params": p}, h, mask=mask)
    return h @ (params["embed"]["w"].T if model.tied else params["unembed"]["w"])


@pytest.mark.parametrize("kw", [dict(layers=2, heads=4, d_model=16), dict(layers=3, heads=1, d_model=8, tied=True),
                                dict(layers=1, heads=2, d_model=8, positions="sinusoidal")])
def test_attention_only_model_equals_flax_attention_in_float64(kw):
    with jax.enable_x64(True):
        model = Transformer(**kw)
        params = model.init(jax.random.key(0), hp(), TOKENS)
        x = tokens()
        ours, ref = model.apply(params, x), flax_forward(model, params, x)
        assert ours.dtype == jnp.float64
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * float(jnp.abs(ref).max()))
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@given(pos=st.integers(0, 6), layers=st.integers(1, 3), mlp=st.sampled_from([0, 8]), ln=st.booleans())
def test_outputs_before_a_position_ignore_it(pos, layers, mlp, ln):
    model = Transformer(layers=layers, heads=2, d_model=8, d_mlp=mlp, layer_norm=ln)
    params = model.init(jax.random.key(pos), hp(), TOKENS)
    x = tokens()
    y = model.apply(params, x)
    y2 = model.apply(params, x.at[:, pos].set((x[:, pos] + 1) % TOKENS.vocab))
    np.testing.assert_array_equal(y[:, :pos], y2[:, :pos])
    assert not np.allclose(y[:, pos:], y2[:, pos:])
    pat = model.attention(params, x)
    assert pat.shape == (3, layers, 2, 7, 7)
    np.testing.assert_allclose(pat.sum(-1), 1.0, rtol=1e-6)
    assert float(jnp.abs(jnp.triu(pat, 1)).max()) == 0.0


def test_mup_equals_standard_at_the_base_width_and_scales_logits_by_one_over_d_head():
    kw = dict(layers=2, heads=2, d_model=16, d_mlp=8, base_width=16)
    std, mup = Transformer(**kw), Transformer(parametrization="mup", **kw)
    p_std, p_mup = std.init(jax.random.key(0), hp(), TOKENS), mup.init(jax.random.key(0), hp(), TOKENS)
    jax.tree.map(np.testing.assert_array_equal, p_std, p_mup)
    np.testing.assert_array_equal(std.apply(p_std, tokens()), mup.apply(p_mup, tokens()))
    assert set(jax.tree.leaves(mup.lr_scales(TOKENS, "adam"))) == {1.0}
    assert std.lr_scales(TOKENS, "adam") is None
    wide = Transformer(parametrization="mup", layers=1, heads=2, d_model=64, base_width=16)
    assert wide._logit_scale() == pytest.approx(np.sqrt(8) / 32)  # 1/d_head, not 1/sqrt(d_head)
    p = wide.init(jax.random.key(0), hp(), TOKENS)
    assert float(jnp.std(p["unembed"]["w"])) == pytest.approx(np.sqrt(16) / 64, rel=0.15)
    lr = wide.lr_scales(TOKENS, "adam")
    assert lr["blocks"][0]["q"]["w"] == lr["unembed"]["w"] == 16 / 64 and lr["embed"]["w"] == 1.0
    jax.tree.map(lambda a, b: None, p, lr)  # the same tree as the parameters


def test_init_scale_sets_every_matrix_std_and_real_inputs_work():
    model = Transformer(layers=1, heads=2, d_model=32, max_len=5)
    spec = Spec(d_in=3, d_out=1)
    for s in (0.5, 2.0):
        p = model.init(jax.random.key(0), hp(s), spec)
        assert float(jnp.std(p["blocks"][0]["q"]["w"])) == pytest.approx(s / np.sqrt(32), rel=0.1)
        assert float(jnp.std(p["pos"])) == pytest.approx(s / np.sqrt(32), rel=0.15)
    y = model.apply(p, jax.random.normal(jax.random.key(1), (4, 5, 3)))
    assert y.shape == (4, 5, 1)
    last = Transformer(layers=1, heads=2, d_model=32, readout="last")
    assert last.apply(last.init(jax.random.key(0), hp(), TOKENS), tokens()).shape == (3, 11)


def test_sinusoidal_code_is_vaswanis():
    t = np.arange(5.0)
    want = np.stack([np.sin(t), np.cos(t), np.sin(t / 100), np.cos(t / 100)], 1)  # d = 4
    np.testing.assert_allclose(sinusoidal(5, 4), want, atol=1e-6)


def test_invalid_configurations_name_the_field():
    with pytest.raises(ValueError, match="d_model=10 must be a multiple of Transformer.heads=4"):
        Transformer(d_model=10, heads=4)
    with pytest.raises(ValueError, match="positions"):
        Transformer(positions="rotary")
    with pytest.raises(ValueError, match="parametrization"):
        Transformer(parametrization="ntk")
    with pytest.raises(ValueError, match="tied=True"):
        Transformer(tied=True).check(Spec(d_in=3, d_out=5, vocab=6))
    with pytest.raises(ValueError, match="max_len"):
        Transformer().check(Spec(d_in=3, d_out=1))
    with pytest.raises(ValueError, match="not a head"):
        HeadScore(Transformer(layers=1), "prefix_matching", layer=1, head=0, vocab=8, prefix=4)


def test_shape_fields_become_compiled_groups():
    sweep = dt.Sweep(task=RepeatedTokens(vocab=8, prefix=4), model=Transformer(), steps=2, batch_size=4,
                     axes={"layers": [1, 2], "heads": [1, 2], "d_model": [8, 16], "init_scale": [0.5, 1.0]})
    groups = sweep.static_groups()
    assert len(groups) == 8 and sweep.axis_kind("d_model") == "model_static"
    assert {(m.layers, m.heads, m.d_model) for _, _, m in groups} == {
        (a, b, c) for a in (1, 2) for b in (1, 2) for c in (8, 16)}


def test_head_scores_on_planted_patterns():
    P, T = 4, 7
    ideal = jnp.zeros((T, T)).at[jnp.arange(P, T), jnp.arange(1, P)].set(1.0)
    prev = jnp.zeros((T, T)).at[0, 0].set(1.0).at[jnp.arange(1, T), jnp.arange(T - 1)].set(1.0)
    pats = jnp.stack([ideal, prev])[None, None]  # (batch, layers=1, heads=2, T, T)
    np.testing.assert_allclose(prefix_matching(pats, P), [[1.0, 0.0]])
    np.testing.assert_allclose(previous_token(pats), [[0.0, 1.0]])
    x = repeated_probe(8, P, 5)
    np.testing.assert_array_equal(x[:, P:], x[:, :P - 1])
    assert all(len(set(row[:P].tolist())) == P for row in np.asarray(x))
    assert copying_score(3 * np.eye(4)) == 1.0 and copying_score(-np.eye(4)) == -1.0


def test_copying_score_reads_the_heads_ov_circuit():
    model = Transformer(layers=1, heads=2, d_model=8, tied=True)
    p = model.init(jax.random.key(0), hp(), Spec(d_in=4, d_out=8, vocab=8))
    p["blocks"][0]["v"]["w"] = jnp.eye(8)
    p["blocks"][0]["o"]["w"] = jnp.eye(8)
    ov = ov_circuit(model, p, 0, 0)
    e = np.asarray(p["embed"]["w"])
    np.testing.assert_allclose(ov, e[:, :4] @ e[:, :4].T, rtol=1e-5)
    assert copying_score(ov) == pytest.approx(1.0)  # a Gram matrix: eigenvalues >= 0


def test_member_alone_equals_member_in_population_and_induction_scores_are_recorded():
    task, model = RepeatedTokens(vocab=8, prefix=4), Transformer(layers=2, heads=1, d_model=16)
    metrics = {"icl": PositionLoss("icl", start=4), **head_scores(model, vocab=8, prefix=4, n=8)}
    kw = dict(task=task, model=model, optimizer="adam", steps=30, batch_size=8, record=10, metrics=metrics)
    pop = dt.train(dt.Sweep(axes={"lr": [1e-3, 3e-3]}, seeds=3, **kw), key=3).metrics
    one = dt.train(dt.Sweep(axes={"lr": [3e-3]}, seeds=[2], **kw), key=3).metrics
    for name in ("train_loss", "test_loss", "icl", "prefix_matching_l1_h0", "previous_token_l0_h0"):
        np.testing.assert_allclose(pop[name].sel(lr=3e-3, seed=2).values,
                                   one[name].isel(lr=0, seed=0).values, rtol=1e-5, err_msg=name)
    assert pop.prefix_matching_l1_h0.dims == ("lr", "seed", "step")
    s = pop.prefix_matching_l0_h0.values
    assert np.all((s >= 0) & (s <= 1)) and np.isfinite(pop.icl.values).all()
