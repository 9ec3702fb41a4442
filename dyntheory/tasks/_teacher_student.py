"""Teacher-student regression: a linear or tanh-MLP teacher, a chosen input spectrum, label noise."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, positive_int, real_field, real_tuple
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch, orthonormal_columns

TEACHERS = ("linear", "mlp")


def _orthonormal(key, n: int, r: int) -> jax.Array:
    # Gram-Schmidt of a Gaussian matrix: the unique Haar-distributed frame (QR with positive
    # diagonal) without a LAPACK call inside the vmapped setup (see orthonormal_columns).
    return orthonormal_columns(jax.random.normal(key, (n, r)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeacherStudent(Task):
    """Regress ``y = teacher(x) + noise * eps`` with ``x ~ N(0, diag(spectrum))``.

    Args:
        d_in, d_out: input and output widths.
        noise: label-noise standard deviation (may be swept: traced per data group).
        teacher: ``"linear"`` (``y = x @ M``) or ``"mlp"`` (one tanh hidden layer of
            ``teacher_width``; weights variance 1/fan_in).
        spectrum: input covariance eigenvalues (length ``d_in``, axis-aligned); identity if None.
        singular_values: for a linear teacher, ``M = A diag(s) B^T`` with Haar-random orthonormal
            ``A`` (d_in x r) and ``B`` (d_out x r): the setting of deep linear network theory.
            Otherwise M has i.i.d. N(0, 1/d_in) entries.
        n_train: size of a fixed training set; None streams fresh samples every step.
        n_test: size of the held-out set (drawn once from the task stream).
        whiten: for a finite set, make its empirical covariance exactly ``diag(spectrum)``.

    The state exposes ``teacher_modes = (A, s, B)`` for a linear teacher, the directions along
    which deep-linear-network theory predicts mode strengths ``a_i^T W_total b_i``.

    Example:
        >>> task = TeacherStudent(d_in=8, d_out=4, singular_values=(3.0, 2.0, 1.0), n_train=64,
        ...                       whiten=True)
    """

    kind: ClassVar[str] = "regression"
    traced_fields: ClassVar[tuple[str, ...]] = ("noise",)

    d_in: int
    d_out: int = 1
    noise: float = 0.0
    teacher: str = "linear"
    teacher_width: int = 32
    spectrum: tuple[float, ...] | None = None
    singular_values: tuple[float, ...] | None = None
    n_train: int | None = None
    n_test: int = 1024
    whiten: bool = False

    def check(self) -> None:
        positive_int(self, "d_in")
        positive_int(self, "d_out")
        positive_int(self, "teacher_width")
        positive_int(self, "n_test")
        positive_int(self, "n_train", allow_none=True)
        real_tuple(self, "spectrum")
        real_tuple(self, "singular_values")
        flag_field(self, "whiten")
        if self.teacher not in TEACHERS:
            raise ValueError(f"TeacherStudent.teacher must be one of {TEACHERS}, got {self.teacher!r}")
        real_field(self, "noise", minimum=0.0)
        if self.spectrum is not None:
            if len(self.spectrum) != self.d_in:
                raise ValueError(f"TeacherStudent.spectrum must have d_in={self.d_in} entries, "
                                 f"got {len(self.spectrum)}")
            if any(not math.isfinite(v) or v <= 0 for v in self.spectrum):
                raise ValueError(f"TeacherStudent.spectrum must be positive and finite, got {self.spectrum}")
        if self.singular_values is not None:
            if self.teacher != "linear":
                raise ValueError("TeacherStudent.singular_values needs teacher='linear', "
                                 f"got teacher={self.teacher!r}")
            r = len(self.singular_values)
            if r == 0 or r > min(self.d_in, self.d_out):
                raise ValueError(f"TeacherStudent.singular_values must have 1..min(d_in, d_out)="
                                 f"{min(self.d_in, self.d_out)} entries, got {r}")
            if any(not math.isfinite(v) or v < 0 for v in self.singular_values):
                raise ValueError(f"TeacherStudent.singular_values must be >= 0, got {self.singular_values}")
        if self.whiten and (self.n_train is None or self.n_train < self.d_in):
            raise ValueError(f"TeacherStudent.whiten needs n_train >= d_in={self.d_in}, got n_train={self.n_train!r}")

    def spec(self) -> Spec:
        return Spec(self.d_in, self.d_out)

    def _scale(self) -> jax.Array:
        if self.spectrum is None:
            return jnp.ones(self.d_in)
        return jnp.sqrt(jnp.asarray(self.spectrum))

    def _teacher(self, key):
        k1, k2, k3 = jax.random.split(key, 3)
        if self.teacher == "mlp":
            w1 = jax.random.normal(k1, (self.d_in, self.teacher_width)) / math.sqrt(self.d_in)
            w2 = jax.random.normal(k2, (self.teacher_width, self.d_out)) / math.sqrt(self.teacher_width)
            return {"w1": w1, "w2": w2}, None
        if self.singular_values is None:
            m = jax.random.normal(k1, (self.d_in, self.d_out)) / math.sqrt(self.d_in)
            a, s, bt = jnp.linalg.svd(m, full_matrices=False)
            return {"m": m}, (a, s, bt.T)
        r = len(self.singular_values)
        a, b = _orthonormal(k1, self.d_in, r), _orthonormal(k2, self.d_out, r)
        s = jnp.asarray(self.singular_values)
        return {"m": (a * s) @ b.T}, (a, s, b)

    def _f(self, teacher, x):
        if self.teacher == "mlp":
            return jnp.tanh(x @ teacher["w1"]) @ teacher["w2"]
        return x @ teacher["m"]

    def _sample(self, teacher, key, noise_key, n, noise, whiten=False):
        z = jax.random.normal(key, (n, self.d_in))
        if whiten:
            # z L^-T with L the Cholesky factor of z^T z / n: with z = Q R (R's diagonal positive),
            # L = R^T / sqrt(n), so z L^-T = sqrt(n) Q. Gram-Schmidt, not LAPACK: jaxlib's batched
            # triangular solve deadlocked intermittently on several CPU devices (measured: 1 run in
            # 8 at 1,000 W3 members on two devices, every run at 100,000).
            z = orthonormal_columns(z) * math.sqrt(n)
        x = z * self._scale()
        y = self._f(teacher, x) + noise * jax.random.normal(noise_key, (n, self.d_out))
        return Batch(x, y)

    def setup(self, task_key, noise_key, tp):
        k_teacher, k_test, k_train = jax.random.split(task_key, 3)
        teacher, modes = self._teacher(k_teacher)
        n_test_key, n_train_key = jax.random.split(noise_key)
        state = {"teacher": teacher,
                 "test": self._sample(teacher, k_test, n_test_key, self.n_test, tp["noise"])}
        if modes is not None:
            state["teacher_modes"] = modes
        if self.n_train is not None:
            state["train"] = self._sample(teacher, k_train, n_train_key, self.n_train, tp["noise"],
                                          whiten=self.whiten)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        return self._sample(state["teacher"], jax.random.fold_in(data_key, step),
                            jax.random.fold_in(noise_key, step), batch_size, tp["noise"])

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}
