"""Multitask sparse parity: Zipf-frequent subtasks, each a sparse parity on its own bits."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import positive_int, real_field
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultitaskSparseParity(Task):
    """Multitask sparse parity (Michaud, Liu, Girit, Tegmark 2023, arXiv 2303.13506, Sec. 3).

    Each sample belongs to one of ``n_tasks`` subtasks, drawn with Zipf probabilities
    ``p_t proportional to t^-(alpha+1)``, ``t = 1..n_tasks`` (subtask index 0 is the most
    frequent). Subtask ``t`` is the parity of its own ``k``-subset of the ``n_bits`` data bits;
    the subsets are drawn from the task stream (exposed as the state's ``subsets``,
    ``(n_tasks, k)``). The input is the one-hot control code of the subtask (``n_tasks`` entries
    in ``{0, 1}``) followed by the data bits, uniform in ``{-1, +1}`` as in ``SparseParity`` (the
    paper's bits are ``{0, 1}``; the labels are the same function); the class is 1 when the
    product of the subtask's bits is -1. Two-class cross-entropy, so a subtask at chance costs
    ``log 2`` per sample.

    ``n_train=None`` streams fresh samples (online, the paper's setting); otherwise a fixed set
    drawn from the same distribution is visited in replayable epochs. The state holds

    - ``test``: ``n_test`` held-out samples from the training distribution (so the engine's
      ``test_loss`` estimates the Zipf-weighted expected loss), with their subtask indices in
      ``test_task``;
    - ``per_task``: a stratified set, ``x`` of shape ``(n_tasks, n_per_task, d_in)`` and ``y``
      ``(n_tasks, n_per_task)``, for per-subtask loss curves: a ``dt.Metric`` reads
      ``ctx.task_state["per_task"]`` (see ``sims.quanta_scaling.TaskLoss``);
    - ``probs``: the Zipf frequencies.

    ``alpha`` is traced: sweeping it forms data groups without recompiling.

    Example:
        >>> task = MultitaskSparseParity(n_tasks=20, n_bits=16, k=3, alpha=0.4)
        >>> task.spec()
        Spec(d_in=36, d_out=2, vocab=None)
    """

    kind: ClassVar[str] = "classification"
    traced_fields: ClassVar[tuple[str, ...]] = ("alpha",)

    n_tasks: int
    n_bits: int
    k: int = 3
    alpha: float = 0.4
    n_train: int | None = None
    n_test: int = 4096
    n_per_task: int = 256

    def check(self) -> None:
        for name in ("n_tasks", "n_bits", "k", "n_test", "n_per_task"):
            positive_int(self, name)
        positive_int(self, "n_train", allow_none=True)
        if self.k > self.n_bits:
            raise ValueError(f"MultitaskSparseParity.k must be <= n_bits={self.n_bits}, got {self.k!r}")
        if self.n_tasks > math.comb(self.n_bits, self.k):
            raise ValueError(f"MultitaskSparseParity.n_tasks must be <= C(n_bits, k) = "
                             f"{math.comb(self.n_bits, self.k)} distinct subsets, got {self.n_tasks!r}")
        real_field(self, "alpha", minimum=0.0)

    def spec(self) -> Spec:
        return Spec(d_in=self.n_tasks + self.n_bits, d_out=2)

    def probs(self, alpha) -> jax.Array:
        """Zipf frequencies ``p_t proportional to t^-(alpha+1)`` of the subtasks (sum to one)."""
        rank = jnp.arange(1, self.n_tasks + 1, dtype=jnp.result_type(float))
        w = rank ** (-(jnp.asarray(alpha, rank.dtype) + 1.0))
        return w / jnp.sum(w)

    def subsets(self, key) -> jax.Array:
        """The subtasks' bit subsets, ``(n_tasks, k)`` sorted rows, distinct when affordable.

        With at most 2^20 possible subsets, ``n_tasks`` distinct ranks are drawn without
        replacement and unranked in the combinatorial number system (as the paper requires
        distinct subsets: two subtasks on one subset would share their quantum). Beyond that,
        each row is an independent draw and a repeat has probability below n_tasks^2 / 2^21.
        """
        n_subsets = math.comb(self.n_bits, self.k)
        if n_subsets > 1 << 20:
            keys = jax.random.split(key, self.n_tasks)
            return jax.vmap(lambda kk: jnp.sort(jax.random.permutation(kk, self.n_bits)[: self.k]))(keys)
        # n_tasks distinct ranks: the top scores of i.i.d. uniforms (one sort-free top_k).
        _, rank = jax.lax.top_k(jax.random.uniform(key, (n_subsets,)), self.n_tasks)
        cols = []
        for i in range(self.k, 0, -1):  # largest element first: max c with C(c, i) <= rank
            table = jnp.asarray([math.comb(c, i) for c in range(self.n_bits)], dtype=rank.dtype)
            c = jnp.searchsorted(table, rank, side="right", method="compare_all") - 1
            rank = rank - table[c]
            cols.append(c)
        return jnp.stack(cols[::-1], axis=-1).astype(jnp.int32)

    def _encode(self, subsets, task, key):
        """Inputs and labels for the subtask indices ``task`` (any leading shape)."""
        # 32 random bits per uint32 word: far fewer generator calls than one Bernoulli per bit.
        n_words = -(-self.n_bits // 32)
        words = jax.random.bits(key, (*task.shape, n_words), dtype=jnp.uint32)
        j = jnp.arange(self.n_bits)
        bit = (words[..., j // 32] >> (j % 32).astype(jnp.uint32)) & jnp.uint32(1)
        bits = jnp.where(bit == 1, 1.0, -1.0)
        control = jax.nn.one_hot(task, self.n_tasks, dtype=bits.dtype)
        relevant = jnp.take_along_axis(bits, subsets[task], axis=-1)
        y = (jnp.prod(relevant, axis=-1) < 0).astype(jnp.int32)
        return Batch(jnp.concatenate([control, bits], axis=-1), y)

    def _sample(self, subsets, probs, key, n):
        k_task, k_bits = jax.random.split(key)
        # Inverse CDF: one uniform per sample (categorical would draw n_tasks Gumbels each).
        cdf = jnp.cumsum(probs)
        u = jax.random.uniform(k_task, (n,), dtype=probs.dtype) * cdf[-1]
        task = jnp.minimum(jnp.searchsorted(cdf, u, side="right", method="compare_all"),
                           self.n_tasks - 1)
        return self._encode(subsets, task, k_bits), task

    def setup(self, task_key, noise_key, tp):
        k_sub, k_test, k_per, k_train = jax.random.split(task_key, 4)
        subsets = self.subsets(k_sub)
        probs = self.probs(tp["alpha"])
        test, test_task = self._sample(subsets, probs, k_test, self.n_test)
        strata = jnp.broadcast_to(jnp.arange(self.n_tasks)[:, None], (self.n_tasks, self.n_per_task))
        state = {"subsets": subsets, "probs": probs, "test": test, "test_task": test_task,
                 "per_task": self._encode(subsets, strata, k_per)}
        if self.n_train is not None:
            state["train"], state["train_task"] = self._sample(subsets, probs, k_train, self.n_train)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        batch, _ = self._sample(state["subsets"], state["probs"], jax.random.fold_in(data_key, step),
                                batch_size)
        return batch

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}

