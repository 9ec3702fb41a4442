"""A decoder-only transformer as a pure ``(init, apply)`` pair, and its attention patterns.

The model (Vaswani et al. 2017, arXiv 1706.03762; decoder-only as in GPT, Radford et al. 2018)
maps a sequence to one output per position, each seeing only the positions before it (causal
self-attention). Its residual stream is ``h_0 = embed(x) + pos``, then per layer
``h += attn(ln(h))`` and, when ``d_mlp > 0``, ``h += mlp(ln(h))``; the output is
``unembed(ln(h))`` (``ln`` the identity when ``layer_norm=False``).

Inputs: tokens ``(batch, T)`` (a task with a ``vocab``; ``T = spec.d_in``) or real vectors
``(batch, T, spec.d_in)`` (each position one vector, e.g. in-context regression). Outputs:
``(batch, T, d_out)`` with ``readout="all"`` (next-token logits per position), ``(batch, d_out)``
with ``readout="last"`` (a sequence classifier such as ``a b =`` -> ``c``).

Parametrizations (``s`` the member's traced ``init_scale``; ``fan_in`` of each matrix):

- ``standard``: every matrix ``N(0, s^2 / fan_in)`` (the embedding's fan-in is the vocabulary, a
  one-hot input), attention logits ``q . k / sqrt(d_head)``.
- ``mup`` (Yang et al. 2022, "Tensor Programs V", arXiv 2203.03466, Sec. 4 and Table 3): relative
  to ``base_width`` (equal to ``standard`` at ``d_model == base_width``): attention logits scaled
  ``1 / d_head`` (``sqrt(base_head) / d_head``), the readout initialised ``N(0, s^2 base /
  fan_in^2)`` (untied) or multiplied by ``base / d_model`` (tied), and the per-layer learning-rate
  multipliers of ``dyntheory.models._base.mup_lr_scale``.

Depth (``residual``, as ``ResMLP``'s: CompleteP, Dey et al. 2025, arXiv 2505.01618, Table 1;
depth-muP, Yang et al. 2023, arXiv 2310.02244): every residual branch, attention and MLP, is
multiplied by ``(base_depth / layers)^alpha`` (``alpha`` 1/2 for ``"1/sqrt(L)"``, 1 for
``"1/L"``), and the block matrices' learning rates by ``(layers / base_depth)^(2 alpha - 1)``
(SGD) or ``^(alpha - 1)`` (Adam), on top of ``mup``'s width multipliers; embeddings, positions,
LayerNorm gains and the readout keep theirs. ``"none"`` (the default) is the model as before.

``layers``, ``heads``, ``d_model`` and every other field are static: swept in ``Sweep.axes``
each value is a compiled group.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, integer, positive_int
from dyntheory.models._base import check_parametrization, dense_apply, dense_init, mup_lr_scale
from dyntheory.models._resmlp import RESIDUALS, depth_factors
from dyntheory.tasks import Spec

POSITIONS = ("learned", "sinusoidal", "none")
READOUTS = ("all", "last")


def sinusoidal(length: int, d: int) -> jax.Array:
    """The fixed positional code of Vaswani et al. (2017): ``sin``/``cos`` of ``t / 10000^(2i/d)``.

    Example:
        >>> sinusoidal(4, 6).shape
        (4, 6)
    """
    t = jnp.arange(length)[:, None]
    freq = 10000.0 ** (-jnp.arange(0, d, 2) / d)
    out = jnp.zeros((length, d))
    out = out.at[:, 0::2].set(jnp.sin(t * freq))
    return out.at[:, 1::2].set(jnp.cos(t * freq[: d // 2]))


def _layer_norm(p, x, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * p["g"] + p["b"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Transformer:
    """Decoder-only transformer: causal self-attention, optional MLPs and LayerNorm.

    Args:
        layers: number of blocks (>= 1).
        heads: attention heads per layer; ``d_model`` must be a multiple of it.
        d_model: width of the residual stream.
        d_mlp: hidden width of each block's MLP (GELU); ``0`` is an attention-only model.
        layer_norm: pre-LayerNorm before attention, MLP and readout.
        positions: ``learned`` (a table of ``max_len`` rows), ``sinusoidal`` or ``none``.
        max_len: rows of the learned position table; ``None``: the task's sequence length
            (``spec.d_in`` for token tasks; required for real-vector tasks).
        tied: unembedding = embedding transposed (token tasks with ``d_out == vocab`` only).
        readout: ``all`` (an output per position) or ``last`` (the last position's only).
        parametrization: ``standard`` or ``mup``.
        base_width: the ``d_model`` at which ``mup`` equals ``standard``.
        residual: ``"none"``, ``"1/sqrt(L)"`` or ``"1/L"``: the residual branches' depth scaling.
        base_depth: the ``layers`` at which the branch multiplier is 1.

    Example:
        >>> model = Transformer(layers=2, heads=4, d_model=32)
        >>> model.d_head
        8
    """

    layers: int = 2
    heads: int = 4
    d_model: int = 32
    d_mlp: int = 0
    layer_norm: bool = False
    positions: str = "learned"
    max_len: int | None = None
    tied: bool = False
    readout: str = "all"
    parametrization: str = "standard"
    base_width: int = 32
    residual: str = "none"
    base_depth: int = 1

    def __post_init__(self):
        positive_int(self, "layers")
        positive_int(self, "heads")
        positive_int(self, "d_model")
        positive_int(self, "d_mlp", minimum=0)
        positive_int(self, "max_len", allow_none=True)
        positive_int(self, "base_width")
        positive_int(self, "base_depth")
        if self.residual not in RESIDUALS:
            raise ValueError(f"Transformer.residual must be one of {tuple(RESIDUALS)}, got {self.residual!r}")
        flag_field(self, "layer_norm")
        flag_field(self, "tied")
        if self.d_model % self.heads:
            raise ValueError(f"Transformer.d_model={self.d_model} must be a multiple of "
                             f"Transformer.heads={self.heads}")
        if self.base_width % self.heads:
            raise ValueError(f"Transformer.base_width={self.base_width} must be a multiple of "
                             f"Transformer.heads={self.heads}")
        if self.positions not in POSITIONS:
            raise ValueError(f"Transformer.positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"Transformer.readout must be one of {READOUTS}, got {self.readout!r}")
        check_parametrization("Transformer", self.parametrization, ("standard", "mup"))

    @property
    def d_head(self) -> int:
        return self.d_model // self.heads

    def check(self, spec: Spec) -> None:
        if self.tied and (spec.vocab is None or spec.d_out != spec.vocab):
            raise ValueError(f"task/model shape mismatch: Transformer(tied=True) needs a token task whose "
                             f"outputs are its tokens (d_out == vocab), got d_out={spec.d_out}, "
                             f"vocab={spec.vocab}")
        if self.positions == "learned" and spec.vocab is None and self.max_len is None:
            raise ValueError("Transformer.max_len must be given for learned positions on a real-vector "
                             f"task (spec.d_in={spec.d_in} is a vector's width, not the length)")
        length = self._length(spec)
        if spec.vocab is not None and self.max_len is not None and spec.d_in > self.max_len:
            raise ValueError(f"Transformer.max_len={self.max_len} is shorter than the task's "
                             f"sequences of {spec.d_in} tokens")
        integer("Transformer sequence length", length, minimum=1, allow_none=True)

    def _length(self, spec: Spec) -> int | None:
        if self.max_len is not None:
            return self.max_len
        return spec.d_in if spec.vocab is not None else None

    # ---- init -----------------------------------------------------------------------------------
    def _dense(self, key, fan_in, fan_out, s, role, bias=False):
        return dense_init(key, fan_in, fan_out, s, self.parametrization, role=role,
                          base_width=self.base_width, bias=bias)

    def init(self, key, hp, spec: Spec):
        s, d = hp.init_scale, self.d_model
        k_embed, k_pos, k_out, k_blocks = jax.random.split(key, 4)
        fan_embed = spec.vocab if spec.vocab is not None else spec.d_in
        params = {"embed": self._dense(k_embed, fan_embed, d, s, "input")}
        if self.positions == "learned":
            # A position is a one-hot input too: fan-in 1, so N(0, s^2) rows like EmbedMLP's table.
            params["pos"] = s * jax.random.normal(k_pos, (self._length(spec), d)) / math.sqrt(d)
        blocks = []
        for kb in jax.random.split(k_blocks, self.layers):
            kq, kk, kv, ko, k1, k2 = jax.random.split(kb, 6)
            block = {"q": self._dense(kq, d, d, s, "hidden"), "k": self._dense(kk, d, d, s, "hidden"),
                     "v": self._dense(kv, d, d, s, "hidden"), "o": self._dense(ko, d, d, s, "hidden")}
            if self.d_mlp:
                block["mlp_in"] = self._dense(k1, d, self.d_mlp, s, "hidden", bias=True)
                block["mlp_out"] = self._dense(k2, self.d_mlp, d, s, "hidden", bias=True)
            if self.layer_norm:
                block["ln_attn"] = {"g": jnp.ones((d,)), "b": jnp.zeros((d,))}
                if self.d_mlp:
                    block["ln_mlp"] = {"g": jnp.ones((d,)), "b": jnp.zeros((d,))}
            blocks.append(block)
        params["blocks"] = blocks
        if self.layer_norm:
            params["ln_out"] = {"g": jnp.ones((d,)), "b": jnp.zeros((d,))}
        if not self.tied:
            params["unembed"] = self._dense(k_out, d, spec.d_out, s, "output")
        return params

    # ---- apply ----------------------------------------------------------------------------------
    def _embed(self, params, x):
        w = params["embed"]["w"]
        if jnp.issubdtype(x.dtype, jnp.integer):
            h = jnp.take(w, x, axis=0)  # (batch, T, d): the one-hot product
        else:
            h = dense_apply(params["embed"], x, "standard")
        T = h.shape[-2]
        if self.positions == "learned":
            h = h + params["pos"][:T]
        elif self.positions == "sinusoidal":
            h = h + sinusoidal(T, self.d_model).astype(h.dtype)
        return h

    def _logit_scale(self) -> float:
        if self.parametrization == "mup":
            return math.sqrt(self.base_width // self.heads) / self.d_head
        return 1.0 / math.sqrt(self.d_head)

    def _attend(self, block, h):
        """One attention layer: its output and its patterns ``(batch, heads, T, T)``."""
        B, T, _ = h.shape
        split = lambda z: z.reshape(B, T, self.heads, self.d_head)  # noqa: E731
        q, k, v = (split(dense_apply(block[n], h, "standard")) for n in "qkv")
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * self._logit_scale()
        causal = jnp.tril(jnp.ones((T, T), bool))
        logits = jnp.where(causal, logits, jnp.finfo(logits.dtype).min)
        pattern = jax.nn.softmax(logits, axis=-1)
        z = jnp.einsum("bhqk,bkhd->bqhd", pattern, v).reshape(B, T, self.d_model)
        return dense_apply(block["o"], z, "standard"), pattern

    def _forward(self, params, x):
        h = self._embed(params, x)
        patterns = []
        ln = _layer_norm if self.layer_norm else (lambda p, z: z)
        m = depth_factors(self.residual, self.layers, self.base_depth)["branch"]
        branch = (lambda z: z) if m == 1.0 else (lambda z: m * z)  # noqa: E731  (none: bit-identical)
        for block in params["blocks"]:
            a, pattern = self._attend(block, ln(block.get("ln_attn"), h))
            h = h + branch(a)
            patterns.append(pattern)
            if self.d_mlp:
                z = jax.nn.gelu(dense_apply(block["mlp_in"], ln(block.get("ln_mlp"), h), "standard"))
                h = h + branch(dense_apply(block["mlp_out"], z, "standard"))
        h = ln(params.get("ln_out"), h)
        if self.readout == "last":
            h = h[:, -1]
        if self.tied:
            out = h @ params["embed"]["w"].T
            if self.parametrization == "mup":
                out = out * (self.base_width / self.d_model)
        else:
            out = dense_apply(params["unembed"], h, "standard")
        return out, jnp.stack(patterns, axis=1)

    def apply(self, params, x):
        """Outputs ``(batch, T, d_out)`` (``readout="all"``) or ``(batch, d_out)`` (``"last"``)."""
        return self._forward(params, x)[0]

    def attention(self, params, x):
        """Attention patterns ``(batch, layers, heads, T, T)``: row ``q`` is the distribution of
        query position ``q`` over the key positions ``<= q``.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> from dyntheory._config.hparams import HParams
            >>> m = Transformer(layers=1, heads=2, d_model=8)
            >>> hp = HParams(*(jnp.asarray(v) for v in (0.1, 0.9, 0.0, 1.0, 0.9, 0.999, 1e-8)))
            >>> p = m.init(jax.random.key(0), hp, Spec(d_in=5, d_out=7, vocab=7))
            >>> m.attention(p, jnp.zeros((3, 5), jnp.int32)).shape
            (3, 1, 2, 5, 5)
        """
        return self._forward(params, x)[1]

    def lr_scales(self, spec: Spec, optimizer: str):
        sgd_like = optimizer in ("sgd", "momentum")
        depth = depth_factors(self.residual, self.layers, self.base_depth)["sgd" if sgd_like else "adam"]
        mup = self.parametrization == "mup"
        if not mup and depth == 1.0:
            return None
        d, base = self.d_model, self.base_width
        fan_embed = spec.vocab if spec.vocab is not None else spec.d_in
        width = (lambda fi, fo, r: mup_lr_scale(fi, fo, r, base, optimizer)) if mup else (lambda *_: 1.0)
        emb = width(fan_embed, d, "input")
        hid = width(d, d, "hidden") * depth
        out = {"embed": {"w": emb}, "blocks": []}
        if self.positions == "learned":
            out["pos"] = emb
        for _ in range(self.layers):
            block = {n: {"w": hid} for n in "qkvo"}
            if self.d_mlp:
                # d_mlp is taken to grow with d_model (a fixed ratio), so both MLP matrices
                # take the hidden multiplier of width d_model.
                block["mlp_in"] = {"w": hid, "b": hid}
                block["mlp_out"] = {"w": hid, "b": hid}
            if self.layer_norm:
                block["ln_attn"] = {"g": 1.0, "b": 1.0}
                if self.d_mlp:
                    block["ln_mlp"] = {"g": 1.0, "b": 1.0}
            out["blocks"].append(block)
        if self.layer_norm:
            out["ln_out"] = {"g": 1.0, "b": 1.0}
        if not self.tied:
            out["unembed"] = {"w": width(d, spec.d_out, "output")}
        return out
