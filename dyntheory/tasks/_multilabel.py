"""Multi-label: L independent thresholded linear targets, for exact match against per-label accuracy."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import positive_int, real_field
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch, orthonormal_columns


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultiLabel(Task):
    """``n_labels`` independent labels ``y_l = [x . w_l > threshold]``, each flipped w.p. ``flip``.

    Inputs are ``x ~ N(0, I_d_in)``; the teacher directions ``w_1 .. w_L`` are orthonormal (a
    Haar-random frame drawn from the task stream, exposed as the state's ``directions``,
    ``(d_in, n_labels)``), so the projections ``x . w_l`` are independent standard normals and the
    labels are exactly independent, each positive with probability ``1 - Phi(threshold)``.

    This is the setting of the emergence-mirage argument (Schaeffer, Miranda, Koyejo 2023, arXiv
    2304.15004): when each label's accuracy ``p`` improves smoothly, the exact match of all ``L``
    labels, about ``p^L``, rises sharply. The engine records both for this task's kind,
    ``"multilabel"``: ``train_acc``/``test_acc`` (mean per-label accuracy) and
    ``train_exact_match``/``test_exact_match`` (every label right), thresholding the model's ``L``
    scores at 0. The default loss is ``dt.losses.binary_logistic`` (summed over labels).

    Args:
        d_in: input width (``>= n_labels``).
        n_labels: number of labels ``L`` (the model's ``d_out``).
        threshold: where each projection is cut; 0 gives balanced labels (traced: sweeping it
            forms data groups without recompiling).
        flip: label noise, the probability each label is flipped, in ``[0, 0.5]`` (traced),
            drawn from the noise stream.
        n_train: size of a fixed training set; None streams fresh samples every step.
        n_test: size of the held-out set.

    Example:
        >>> task = MultiLabel(d_in=16, n_labels=8)
        >>> task.spec()
        Spec(d_in=16, d_out=8, vocab=None)
    """

    kind: ClassVar[str] = "multilabel"
    traced_fields: ClassVar[tuple[str, ...]] = ("threshold", "flip")

    d_in: int
    n_labels: int
    threshold: float = 0.0
    flip: float = 0.0
    n_train: int | None = None
    n_test: int = 1024

    def check(self) -> None:
        positive_int(self, "d_in")
        positive_int(self, "n_labels")
        positive_int(self, "n_test")
        positive_int(self, "n_train", allow_none=True)
        real_field(self, "threshold")
        real_field(self, "flip", minimum=0.0)
        if self.flip > 0.5:
            raise ValueError(f"MultiLabel.flip must be in [0, 0.5], got {self.flip!r}")
        if self.n_labels > self.d_in:
            raise ValueError(f"MultiLabel.n_labels must be <= d_in={self.d_in} (orthonormal teacher "
                             f"directions), got {self.n_labels!r}")

    def spec(self) -> Spec:
        return Spec(self.d_in, self.n_labels)

    def _sample(self, directions, key, noise_key, n, tp) -> Batch:
        x = jax.random.normal(key, (n, self.d_in))
        clean = x @ directions > tp["threshold"]
        flipped = jax.random.bernoulli(noise_key, tp["flip"], (n, self.n_labels))
        return Batch(x, (clean ^ flipped).astype(jnp.int32))

    def setup(self, task_key, noise_key, tp):
        k_dir, k_test, k_train = jax.random.split(task_key, 3)
        n_test, n_train = jax.random.split(noise_key)
        directions = orthonormal_columns(jax.random.normal(k_dir, (self.d_in, self.n_labels)))
        state = {"directions": directions, "test": self._sample(directions, k_test, n_test, self.n_test, tp)}
        if self.n_train is not None:
            state["train"] = self._sample(directions, k_train, n_train, self.n_train, tp)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        return self._sample(state["directions"], jax.random.fold_in(data_key, step),
                            jax.random.fold_in(noise_key, step), batch_size, tp)

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}
