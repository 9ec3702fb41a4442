"""The Transformer's residual depth scaling (CompleteP 1/L, depth-muP 1/sqrt(L)), as ResMLP's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dyntheory._config.hparams import HPARAMS, HParams
from dyntheory.models._resmlp import depth_factors
from dyntheory.models._transformer import Transformer
from dyntheory.tasks import Spec

TOKENS = Spec(d_in=6, d_out=9, vocab=9)
HP = HParams(**{k: jnp.asarray(v) for k, v in zip(HPARAMS, (0.1, 0.9, 0.0, 1.0, 0.9, 0.999, 1e-8))})
X = jax.random.randint(jax.random.key(1), (4, TOKENS.d_in), 0, TOKENS.vocab)


def test_branches_are_scaled_as_if_their_output_matrices_were():
    # residual "1/L" at 4 layers (base 1) multiplies each attention and MLP branch by 1/4: the
    # same outputs as the unscaled model with every o and mlp_out matrix (and bias) times 1/4.
    kw = dict(layers=4, heads=2, d_model=8, d_mlp=8, layer_norm=True)
    scaled, plain = Transformer(residual="1/L", **kw), Transformer(**kw)
    p = scaled.init(jax.random.key(0), HP, TOKENS)
    jax.tree.map(np.testing.assert_array_equal, p, plain.init(jax.random.key(0), HP, TOKENS))  # same init
    q = {**p, "blocks": [{**b, "o": {"w": b["o"]["w"] / 4},
                          "mlp_out": {"w": b["mlp_out"]["w"] / 4, "b": b["mlp_out"]["b"] / 4}} for b in p["blocks"]]}
    np.testing.assert_allclose(scaled.apply(p, X), plain.apply(q, X), rtol=2e-5, atol=1e-6)
    # at its base depth the scaling is the identity, bit for bit, and needs no lr multipliers
    at_base = Transformer(residual="1/sqrt(L)", base_depth=4, **kw)
    np.testing.assert_array_equal(at_base.apply(p, X), plain.apply(p, X))
    assert at_base.lr_scales(TOKENS, "adam") is None and plain.lr_scales(TOKENS, "sgd") is None


@pytest.mark.parametrize("residual", ["1/sqrt(L)", "1/L"])
def test_block_learning_rates_follow_completep_and_compose_with_mup(residual):
    model = Transformer(layers=8, heads=2, d_model=16, d_mlp=16, layer_norm=True, residual=residual, base_depth=2)
    for opt in ("sgd", "adam"):
        f = depth_factors(residual, 8, 2)["sgd" if opt == "sgd" else "adam"]
        lr = model.lr_scales(TOKENS, opt)
        if f == 1.0:  # e.g. 1/L with Adam, 1/sqrt(L) with SGD: no multiplier to apply
            assert lr is None
            continue
        jax.tree.map(lambda a, b: None, model.init(jax.random.key(0), HP, TOKENS), lr)  # the params' tree
        block = lr["blocks"][3]
        assert {block[n]["w"] for n in ("q", "k", "v", "o", "mlp_in", "mlp_out")} == {f}
        assert block["ln_attn"]["g"] == lr["embed"]["w"] == lr["unembed"]["w"] == lr["pos"] == 1.0
    # CompleteP Table 1 (alpha = 1): Adam's block lr is depth-independent, SGD's grows as L
    assert depth_factors("1/L", 8, 2) == {"branch": 0.25, "sgd": 4.0, "adam": 1.0}
    wide = Transformer(layers=8, heads=2, d_model=64, base_width=16, parametrization="mup", residual=residual,
                       base_depth=2)
    lr = wide.lr_scales(TOKENS, "adam")
    assert lr["blocks"][0]["q"]["w"] == pytest.approx(16 / 64 * depth_factors(residual, 8, 2)["adam"])
    assert lr["unembed"]["w"] == 16 / 64 and lr["embed"]["w"] == 1.0


def test_invalid_residual_names_the_field():
    with pytest.raises(ValueError, match=r"Transformer.residual must be one of \('none', '1/sqrt\(L\)', '1/L'\)"):
        Transformer(residual="1/L^2")
    with pytest.raises(ValueError, match="base_depth"):
        Transformer(base_depth=0)


def _first_adam_step_moves_output(layers: int, residual: str) -> float:
    """RMS change of the logits after one Adam step of lr 1e-2 (the block lrs scaled by depth)."""
    model = Transformer(layers=layers, heads=2, d_model=16, d_mlp=16, residual=residual)
    p = model.init(jax.random.key(0), HP, TOKENS)
    y = jax.random.randint(jax.random.key(2), X.shape, 0, TOKENS.vocab)
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply(p, X), y).mean()  # noqa: E731
    g = jax.grad(loss)(p)
    scales = model.lr_scales(TOKENS, "adam") or jax.tree.map(lambda _: 1.0, p)
    step = jax.tree.map(lambda gi, s: -1e-2 * s * jnp.sign(gi), g, scales)  # Adam's first step: lr * sign(g)
    moved = model.apply(jax.tree.map(jnp.add, p, step), X) - model.apply(p, X)
    return float(jnp.sqrt(jnp.mean(moved ** 2)))


def test_one_over_l_keeps_the_first_update_of_the_output_flat_in_depth():
    # Adam's first step moves every block matrix by lr entrywise. Unscaled, L such updates (and a
    # residual stream that itself grows with depth, no LayerNorm here) move the output ever further;
    # with branches scaled 1/L it moves O(1) at every depth (CompleteP's premise).
    moved = {r: [_first_adam_step_moves_output(L, r) for L in (2, 8)] for r in ("none", "1/L", "1/sqrt(L)")}
    growth = {r: m[1] / m[0] for r, m in moved.items()}
    assert growth["none"] > 10.0, moved  # measured 36x from 2 to 8 layers (1,459x to 16)
    assert 0.5 < growth["1/L"] < 1.6, moved  # measured 0.76x (0.74x to 16)
    assert 0.5 < growth["1/sqrt(L)"] < 2.0, moved  # measured 1.21x (1.27x to 16)
