"""Each parametrization's scaling factors against its paper's table, and the variants' equivalences.

Yang et al. 2022 ("Tensor Programs V", arXiv 2203.03466), Table 3, relative to a base width ``b``
(so every factor is 1 at ``n = b``): init variance input ``1/fan_in``, hidden ``1/fan_in``,
output ``b/fan_in^2``; SGD lr input ``fan_out/b``, hidden 1, output ``b/fan_in``; Adam lr input 1,
hidden ``b/fan_in``, output ``b/fan_in``. Table 8 (the multiplier form): output multiplier
``b/fan_in``, output SGD lr ``fan_in/b``, Adam lr 1. Dey et al. 2025 (CompleteP, arXiv
2505.01618), Table 1: branch multiplier ``L^-alpha``, residual Adam lr ``L^(alpha-1)``; SGD
``L^(2 alpha - 1)`` follows from the same sum over blocks (``theory/depth_transfer.py``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import xarray as xr

import dyntheory as dt
from dyntheory import design
from dyntheory._config.hparams import HParams
from dyntheory._config.optim import OptSpec, make_optimizer
from dyntheory.models._base import mup_layer
from dyntheory.models._resmlp import depth_factors

N, B, D_IN, D_OUT = 512, 32, 5, 2
SPEC = dt.tasks.Spec(D_IN, D_OUT)


def hp(dtype=jnp.float32, **kw):
    base = dict(lr=0.1, momentum=0.0, weight_decay=0.0, init_scale=1.0, b1=0.9, b2=0.999, eps=1e-8)
    return HParams(**{k: jnp.asarray(v, dtype) for k, v in (base | kw).items()})


TABLE3 = {  # role: (init variance * fan_in, SGD lr, Adam lr), at fan_in/fan_out of an n-wide MLP
    "input": (1.0, N / B, 1.0),
    "hidden": (1.0, 1.0, B / N),
    "output": (B / N, B / N, B / N),
}


@pytest.mark.parametrize("role, fan_in, fan_out", [("input", D_IN, N), ("hidden", N, N), ("output", N, D_OUT)])
def test_mup_table3(role, fan_in, fan_out):
    var, sgd, adam = TABLE3[role]
    t = mup_layer(role, fan_in, fan_out, B)
    assert t["a"] == 1.0
    assert t["std"] ** 2 == pytest.approx(var) and t["sgd"] == pytest.approx(sgd) and t["adam"] == pytest.approx(adam)
    model = dt.models.MLP(widths=(N, N), parametrization="mup", base_width=B, bias=False)
    i = ["input", "hidden", "output"].index(role)
    assert model.lr_scales(SPEC, "sgd")["layers"][i]["w"] == pytest.approx(sgd)
    assert model.lr_scales(SPEC, "adam")["layers"][i]["w"] == pytest.approx(adam)
    w = model.init(jax.random.key(0), hp(), SPEC)["layers"][i]["w"]
    assert np.var(w) * fan_in == pytest.approx(var, rel=0.1)  # 1e4+ entries: 10% is many sigma


def test_mup_table8_readout_multiplier():
    t = mup_layer("output", N, D_OUT, B, readout="multiplier")
    assert t["a"] == pytest.approx(B / N)               # multiplier 1/fan_in
    assert t["sgd"] == pytest.approx(N / B) and t["adam"] == pytest.approx(1.0)  # SGD fan_in, Adam 1
    assert (t["a"] * t["std"]) ** 2 == pytest.approx(B / N)  # the effective weight: Table 3's variance
    assert mup_layer("output", N, D_OUT, B, readout="standard") == {"a": 1.0, "std": 1.0, "sgd": 1.0, "adam": 1.0}


def test_mup_eps_factors():
    # Input and hidden gradients are O(1/n) under muP: eps is scaled by b/n through a = n/b.
    for role, fi, fo in [("input", D_IN, N), ("hidden", N, N)]:
        t = mup_layer(role, fi, fo, B, eps=True)
        assert t["a"] == pytest.approx(N / B)
        ref = mup_layer(role, fi, fo, B)
        assert t["adam"] * t["a"] == pytest.approx(ref["adam"]) and t["sgd"] * t["a"] ** 2 == pytest.approx(ref["sgd"])
    assert mup_layer("output", N, D_OUT, B, eps=True) == mup_layer("output", N, D_OUT, B)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_readout_multiplier_form_trains_as_table3(optimizer):
    sweeps = [dt.Sweep(task=dt.tasks.TeacherStudent(d_in=D_IN, d_out=D_OUT), optimizer=optimizer, lr=0.02,
                       model=dt.models.MLP(widths=(128,), parametrization="mup", base_width=B, mup_readout=r),
                       steps=30, batch_size=16, seeds=2, record=10, dtype="float64")
              for r in ("init", "multiplier")]
    a, b = (dt.train(s, key=0).metrics.train_loss.values for s in sweeps)
    # Equal in real arithmetic; the init draws are float32, so theta = w / a differs from w by
    # float32 rounding (~6e-8), which 30 steps grow to ~6e-7.
    np.testing.assert_allclose(a, b, rtol=1e-5)


def _one_adam_step(model, params, x, y, eps):
    loss = lambda p: jnp.mean((model.apply(p, x) - y) ** 2)  # noqa: E731
    opt = make_optimizer(OptSpec("adam", "constant", 1, 0), hp(jnp.float64, lr=0.01, eps=eps), model.lr_scales(SPEC, "adam"))
    g = jax.grad(loss)(params)
    upd, _ = opt.update(g, opt.init(params), params)
    return optax.apply_updates(params, upd)


def test_mup_eps_moves_w_as_adam_with_per_layer_eps():
    jax.config.update("jax_enable_x64", True)
    try:
        x = jax.random.normal(jax.random.key(1), (16, D_IN), jnp.float64)
        y = jax.random.normal(jax.random.key(2), (16, D_OUT), jnp.float64)
        eps = 1e-3
        scaled = dt.models.MLP(widths=(N, N), parametrization="mup", base_width=B, mup_eps=True, bias=False)
        plain = dt.models.MLP(widths=(N, N), parametrization="mup", base_width=B, bias=False)
        theta = jax.tree.map(lambda v: v.astype(jnp.float64), scaled.init(jax.random.key(0), hp(), SPEC))
        a = [N / B, N / B, 1.0]
        w = {"layers": [{"w": ai * layer["w"]} for ai, layer in zip(a, theta["layers"])]}
        np.testing.assert_allclose(scaled.apply(theta, x), plain.apply(w, x), rtol=1e-12)
        new_theta = _one_adam_step(scaled, theta, x, y, eps)
        # Reference: Adam on w itself, each layer with its own eps (b/n, b/n, 1) times eps.
        g = jax.grad(lambda p: jnp.mean((plain.apply(p, x) - y) ** 2))(w)
        lr = plain.lr_scales(SPEC, "adam")["layers"]
        for i, (ai, e) in enumerate(zip(a, [B / N, B / N, 1.0])):
            gi = g["layers"][i]["w"]
            want = w["layers"][i]["w"] - 0.01 * lr[i]["w"] * gi / (jnp.abs(gi) + eps * e)
            np.testing.assert_allclose(ai * new_theta["layers"][i]["w"], want, rtol=1e-6, atol=1e-12)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_mup_variants_are_refused_where_they_do_not_apply():
    with pytest.raises(ValueError, match="only apply with parametrization='mup'"):
        dt.models.MLP(widths=(8,), mup_eps=True)
    with pytest.raises(ValueError, match="use mup_readout='init'"):
        dt.models.MLP(widths=(8,), parametrization="mup", mup_eps=True, mup_readout="multiplier")
    with pytest.raises(ValueError, match="mup_readout must be one of"):
        dt.models.MLP(widths=(8,), parametrization="mup", mup_readout="zero")


@pytest.mark.parametrize("residual, alpha", [("none", 0.0), ("1/sqrt(L)", 0.5), ("1/L", 1.0)])
def test_completep_depth_factors(residual, alpha):
    for depth, base in [(8, 2), (64, 4)]:
        f = depth_factors(residual, depth, base)
        r = depth / base
        if alpha == 0.0:
            assert f == {"branch": 1.0, "sgd": 1.0, "adam": 1.0}
            continue
        assert f["branch"] == pytest.approx(r ** -alpha)
        assert f["adam"] == pytest.approx(r ** (alpha - 1))  # CompleteP (alpha=1): depth-independent
        assert f["sgd"] == pytest.approx(r ** (2 * alpha - 1))
    model = dt.models.ResMLP(width=64, depth=16, residual=residual, base_depth=2)
    scales = model.lr_scales(SPEC, "adam")
    if alpha in (0.0, 1.0):
        assert scales is None  # SP width, Adam: nothing to scale
    else:
        assert scales["blocks"][3]["w"] == pytest.approx(8 ** -0.5) and scales["in"]["w"] == 1.0


def test_resmlp_branch_scaling_keeps_the_stream_bounded_at_init():
    # Forward at init: without scaling the residual stream grows with depth; 1/L keeps it O(1).
    x = jax.random.normal(jax.random.key(3), (64, D_IN))
    depths = np.array([2, 4, 8, 16, 32])

    def stream(residual):
        out = []
        for d in depths:
            m = dt.models.ResMLP(width=128, depth=int(d), residual=residual, activation="tanh")
            out.append([float(jnp.std(m.apply(m.init(jax.random.key(s), hp(), SPEC), x))) for s in range(6)])
        return np.array(out)

    for residual, slope, margin in [("none", 0.5, 0.2), ("1/L", 0.0, 0.15)]:
        ds = xr.Dataset({"f": (("depth", "seed"), stream(residual))}, coords={"depth": depths})
        v = design.check_rule(design.Exponent(name=residual, metric="f", along="depth", slope=slope,
                                              margin=margin), ds)
        assert v.status == "PASS", v
