"""The benchmark's optional PyTorch references for W4 (torch is never a dependency of dyntheory).

W4 as a PyTorch user would write it: a 2-layer attention-only causal transformer (``d_model``
32, 4 heads, learned positions, untied unembedding; no LayerNorm, no MLP, as ``dt.models.
Transformer(layers=2, heads=4, d_model=32)``), vocabulary 16, sequences of a random 16-token
prefix repeated once (32 tokens, each of the first 31 predicting the next), Adam at lr 1e-3,
a fresh batch of ``W4_BATCH`` sequences per member and step sampled in torch inside the timed
loop (as the jax recipes sample theirs).

- ``loop``: one ``nn.Module`` and one ``torch.optim.Adam`` per member, trained one after another;
- ``func``: ``torch.func`` ensembling: parameters stacked (``stack_module_state``),
  ``vmap(grad(loss))`` over members and their batches, Adam's update written out on the stack.
"""

from __future__ import annotations

import functools
import math

from dyntheory.bench._workloads import W4_BATCH
from dyntheory.bench.torch_loops import available, timed_loop, timed_run

VOCAB, PREFIX, D, HEADS, LAYERS = 16, 16, 32, 4, 2


def _model(torch):
    return _model_class(torch)()


@functools.lru_cache(maxsize=1)
def _model_class(torch):
    """One class for every member (``stack_module_state`` requires it)."""
    nn = torch.nn

    class AttnOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.pos = nn.Parameter(0.02 * torch.randn(2 * PREFIX - 1, D))
            self.qkv = nn.ModuleList([nn.Linear(D, 3 * D, bias=False) for _ in range(LAYERS)])
            self.out = nn.ModuleList([nn.Linear(D, D, bias=False) for _ in range(LAYERS)])
            self.unembed = nn.Linear(D, VOCAB, bias=False)

        def forward(self, tokens):
            T = tokens.shape[-1]
            h = self.embed(tokens) + self.pos[:T]
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            for qkv, out in zip(self.qkv, self.out):
                q, k, v = qkv(h).split(D, dim=-1)
                split = lambda a: a.unflatten(-1, (HEADS, D // HEADS)).transpose(-2, -3)  # noqa: E731
                q, k, v = split(q), split(k), split(v)
                scores = (q @ k.transpose(-1, -2)) / math.sqrt(D // HEADS)
                mix = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
                h = h + out(mix.transpose(-2, -3).flatten(-2))
            return self.unembed(h)

    return AttnOnly


def _batch(torch, *lead):
    prefix = torch.randint(0, VOCAB, (*lead, W4_BATCH, PREFIX))
    seq = torch.cat([prefix, prefix], dim=-1)
    return seq[..., :-1], seq[..., 1:]


def _loss(torch, logits, targets):
    return torch.nn.functional.cross_entropy(logits.flatten(0, -2), targets.flatten())


def loop_rate(members: int = 2, steps: int = 20, lr: float = 1e-3) -> tuple[float, float]:
    """Model-steps per second of the per-model loop (best of two passes), and the last loss."""
    import torch
    torch.manual_seed(0)

    def make():
        model = _model(torch)
        return model, torch.optim.Adam(model.parameters(), lr=lr)

    def step_loss(model):
        x, y = _batch(torch)
        return _loss(torch, model(x), y)

    return timed_loop(make, step_loss, members, steps)


def func_rate(members: int, steps: int = 3, lr: float = 1e-3) -> tuple[float, float]:
    """Model-steps per second of ``torch.func`` ensembling at ``members`` (best of two runs), and
    the members' mean loss on their last batch."""
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap
    torch.manual_seed(0)
    params, _ = stack_module_state([_model(torch) for _ in range(members)])
    base = _model(torch).to("meta")

    def loss(p, x, y):
        return _loss(torch, functional_call(base, p, (x,)), y)

    step_grad = vmap(grad(loss))
    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v2 = {k: torch.zeros_like(v) for k, v in params.items()}
    t = [0]

    def run():
        for _ in range(steps):
            x, y = _batch(torch, members)
            g = step_grad(params, x, y)
            t[0] += 1
            for k in params:  # Adam, b1 0.9, b2 0.999, eps 1e-8
                m[k].mul_(0.9).add_(g[k], alpha=0.1)
                v2[k].mul_(0.999).addcmul_(g[k], g[k], value=0.001)
                step = lr * math.sqrt(1 - 0.999 ** t[0]) / (1 - 0.9 ** t[0])
                params[k] = params[k] - step * m[k] / (v2[k].sqrt() + 1e-8)
        return vmap(loss)(params, x, y).mean()

    return timed_run(torch, run, members, steps)


def w4_line(rate: float | None, quick: bool) -> str:
    """The bench's PyTorch line for W4 against the engine's ``rate`` at 1,000 members."""
    if not available() or rate is None:
        return "PyTorch not installed: no W4 torch rows (pip install torch to add them)"
    import torch
    loop = loop_rate(steps=5 if quick else 20)[0]
    func = func_rate(1_000, steps=1 if quick else 3)[0]
    return (f"PyTorch {torch.__version__} (optional), W4: per-model loop {loop:,.1f} model-steps/s; torch.func "
            f"ensembling at 1,000 members {func:,.1f}; the engine at 1,000 members is {rate / loop:,.0f}x the loop "
            f"and {rate / func:.1f}x torch.func")
