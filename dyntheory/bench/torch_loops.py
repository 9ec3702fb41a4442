"""The benchmark's optional PyTorch references for W1 (torch is never a dependency of dyntheory).

Both train the W1 workload as a PyTorch user would write it: a 16-32-1 tanh MLP, SGD at lr 0.05,
a fresh batch of 64 per member and step from a linear teacher with label noise 0.1, the batch
sampled in torch inside the timed loop (as the jax recipes sample theirs).

- ``loop``: one ``nn.Module`` and one ``torch.optim.SGD`` per member, members trained one after
  the other (the per-model loop the issue's 300x target refers to).
- ``func``: ``torch.func`` ensembling: the members' parameters stacked
  (``stack_module_state``), ``vmap(grad(loss))`` over members and their batches, one update.
"""

from __future__ import annotations

import time


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _model(torch):
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))


def _batch(torch, teacher, *lead):
    """A fresh batch of 64 per member (``lead`` members, none for one model): x, teacher(x) + noise."""
    x = torch.randn(*lead, 64, 16)
    return x, x @ teacher + 0.1 * torch.randn(*lead, 64, 1)


def timed_loop(make, step_loss, members: int, steps: int) -> tuple[float, float]:
    """Model-steps per second of training ``members`` models one after another for ``steps``
    steps each (best of two passes), and the last loss. ``make()`` gives a fresh (model,
    optimizer); ``step_loss(model)`` samples a batch and returns its loss."""
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(members):
            model, opt = make()
            for _ in range(steps):
                loss = step_loss(model)
                opt.zero_grad()
                loss.backward()
                opt.step()
        best = min(best, time.perf_counter() - t0)
    return members * steps / best, loss.item()


def timed_run(torch, run, members: int, steps: int) -> tuple[float, float]:
    """Model-steps per second of ``run()`` (``members`` models for ``steps`` steps at once, best of
    two runs after a warm-up), and the loss it returns last. It runs under ``torch.no_grad``: the
    update outside ``grad`` must not build an autograd graph."""
    best = float("inf")
    with torch.no_grad():
        run()  # warm-up
        for _ in range(2):
            t0 = time.perf_counter()
            last = run()
            best = min(best, time.perf_counter() - t0)
    return members * steps / best, float(last)


def loop_rate(members: int = 4, steps: int = 50, lr: float = 0.05) -> tuple[float, float]:
    """Model-steps per second of the per-model loop (best of two passes over ``members``), and
    the last member's final batch loss (a check that it trains)."""
    import torch
    torch.manual_seed(0)
    teacher = torch.randn(16, 1) / 4.0

    def make():
        model = _model(torch)
        return model, torch.optim.SGD(model.parameters(), lr=lr)

    def step_loss(model):
        x, y = _batch(torch, teacher)
        return 0.5 * ((model(x) - y) ** 2).sum(-1).mean()

    return timed_loop(make, step_loss, members, steps)


def func_rate(members: int, steps: int = 5, lr: float = 0.05) -> tuple[float, float]:
    """Model-steps per second of ``torch.func`` ensembling at ``members`` (best of two runs), and
    the members' mean loss on their last batch (a check that they train)."""
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap
    torch.manual_seed(0)
    teacher = torch.randn(16, 1) / 4.0
    models = [_model(torch) for _ in range(members)]
    params, _ = stack_module_state(models)
    base = _model(torch).to("meta")

    def loss(p, x, y):
        return 0.5 * ((functional_call(base, p, (x,)) - y) ** 2).sum(-1).mean()

    step_grad = vmap(grad(loss))

    def run():
        nonlocal params
        for _ in range(steps):
            x, y = _batch(torch, teacher, members)
            g = step_grad(params, x, y)
            params = {k: v - lr * g[k] for k, v in params.items()}
        return vmap(loss)(params, x, y).mean()

    return timed_run(torch, run, members, steps)


def w1_line(here: float, n: int, quick: bool) -> tuple[str, float | None]:
    """The bench's PyTorch line for W1 against the engine's ``here`` model-steps/s at ``n``
    members, and the per-model loop's rate (None where torch is not installed)."""
    if not available():
        return "PyTorch not installed: no torch reference rows (pip install torch to add them)", None
    import torch
    loop = loop_rate(steps=10 if quick else 50)[0]
    func = func_rate(n)[0]
    return (f"PyTorch {torch.__version__} (optional), W1: per-model loop {loop:,.0f} model-steps/s; torch.func "
            f"ensembling at {n:,} members {func:,.0f} model-steps/s; the engine at {n:,} members is "
            f"{here / loop:,.0f}x the loop and {here / func:.1f}x torch.func"), loop
