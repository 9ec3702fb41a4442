"""Power-law features: a linear target on data with a power-law covariance spectrum."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from dyntheory._config.checks import flag_field, positive_int, real_field
from dyntheory.tasks._base import Batch, Spec, Task, finite_minibatch, orthonormal_columns


@dataclasses.dataclass(frozen=True, kw_only=True)
class PowerLawFeatures(Task):
    """Linear regression on power-law features, seen through the top ``d`` eigen-directions.

    The data live in the covariance eigenbasis (axis-aligned): ``z_j ~ N(0, lambda_j)`` with
    ``lambda_j = j^(-2 alpha)``, ``j = 1..n_features``, and the target is
    ``y = sum_j b_j z_j + noise * eps`` with ``b_j = j^(-beta)`` (Paquette, Paquette, Xiao,
    Pennington 2024, arXiv 2405.15074; Bordelon, Atanasov, Pehlevan 2024, arXiv 2402.01092).
    The model sees only the top ``d`` features, ``x = (z_1, ..., z_d)``: the hard top-``d`` cut
    of ``theory/power_law_features.py``, not a random-features projection. A linear model
    ``w`` then has population loss

        L(w) = 1/2 sum_{j<=d} lambda_j (w_j - b_j)^2 + 1/2 sum_{d<j<=n_features} lambda_j b_j^2
               + noise^2 / 2,

    the middle term being the capacity floor. The unseen features are independent of the seen
    ones, so their part of ``y`` is drawn as a single Gaussian of variance
    ``sum_{j>d} lambda_j b_j^2`` (exact in distribution): a batch costs ``O(batch * d)``
    whatever ``n_features`` is.

    The test set is *exact* by default: its columns are orthogonalised so that its empirical
    second moments of ``(x, y)`` equal the population ones, so the engine's ``test_loss`` of a
    linear model without bias *is* its population loss (needs ``n_test >= d + 2``). With
    ``n_train`` set, ``whiten=True`` does the same to the training set, so full-batch GD on it
    is GD on the population loss; ``n_train=None`` streams fresh samples (online SGD).

    The state holds ``lam`` and ``coef`` (``lambda_j``, ``b_j`` for the visible ``j <= d``),
    ``floor`` (the capacity floor plus ``noise^2 / 2``) and ``test``. ``alpha``, ``beta`` and
    ``noise`` are traced (sweeping them makes data groups, no recompiling); ``d`` sets the input
    width and is static.

    Example:
        >>> task = PowerLawFeatures(d=64, n_features=4096, alpha=0.75, beta=0.75)
        >>> task.spec()
        Spec(d_in=64, d_out=1, vocab=None)
    """

    kind: ClassVar[str] = "regression"
    traced_fields: ClassVar[tuple[str, ...]] = ("alpha", "beta", "noise")

    d: int
    n_features: int = 4096
    alpha: float = 1.0
    beta: float = 0.5
    noise: float = 0.0
    n_train: int | None = None
    n_test: int = 1024
    whiten: bool = False
    exact_test: bool = True

    def check(self) -> None:
        for name in ("d", "n_features", "n_test"):
            positive_int(self, name)
        positive_int(self, "n_train", allow_none=True)
        if self.d > self.n_features:
            raise ValueError(f"PowerLawFeatures.d must be <= n_features={self.n_features}, got {self.d!r}")
        real_field(self, "alpha", minimum=0.0, open_low=True)
        real_field(self, "beta")
        real_field(self, "noise", minimum=0.0)
        flag_field(self, "whiten")
        flag_field(self, "exact_test")
        if self.exact_test and self.n_test < self.d + 2:
            raise ValueError(f"PowerLawFeatures.n_test must be >= d + 2 = {self.d + 2} for an exact "
                             f"test set (exact_test=True), got {self.n_test!r}")
        if self.whiten and (self.n_train is None or self.n_train < self.d + 2):
            raise ValueError(f"PowerLawFeatures.whiten needs n_train >= d + 2 = {self.d + 2}, "
                             f"got n_train={self.n_train!r}")

    def spec(self) -> Spec:
        return Spec(d_in=self.d, d_out=1)

    def spectrum(self, tp) -> dict[str, jax.Array]:
        """``lam``, ``coef`` of the visible features, the tail variance and the loss floor."""
        j = jnp.arange(1, self.n_features + 1, dtype=jnp.result_type(float))
        lam = j ** (-2.0 * jnp.asarray(tp["alpha"], j.dtype))
        coef = j ** (-jnp.asarray(tp["beta"], j.dtype))
        tail = jnp.sum(jnp.where(j > self.d, lam * coef**2, 0.0))
        noise = jnp.asarray(tp["noise"], j.dtype)
        return {"lam": lam[: self.d], "coef": coef[: self.d], "tail_var": tail,
                "floor": 0.5 * tail + 0.5 * noise**2}

    def _assemble(self, spec, z, eps, tp) -> Batch:
        """Inputs and targets from standard normals: ``z`` (n, d + 1) features, ``eps`` (n,) noise."""
        x = z[:, : self.d] * jnp.sqrt(spec["lam"])
        y = (x @ spec["coef"] + jnp.sqrt(spec["tail_var"]) * z[:, self.d]
             + jnp.asarray(tp["noise"], z.dtype) * eps)
        return Batch(x, y[:, None])

    def _fixed_set(self, spec, key, noise_key, n, exact, tp) -> Batch:
        z = jnp.concatenate([jax.random.normal(key, (n, self.d + 1)),
                             jax.random.normal(noise_key, (n, 1))], axis=1)
        if exact:
            # Orthonormal columns scaled by sqrt(n): empirical second moments exactly the identity.
            z = orthonormal_columns(z) * math.sqrt(n)
        return self._assemble(spec, z[:, :-1], z[:, -1], tp)

    def setup(self, task_key, noise_key, tp):
        k_test, k_train = jax.random.split(task_key)
        n_test_key, n_train_key = jax.random.split(noise_key)
        spec = self.spectrum(tp)
        state = {**spec, "test": self._fixed_set(spec, k_test, n_test_key, self.n_test,
                                                 self.exact_test, tp)}
        if self.n_train is not None:
            state["train"] = self._fixed_set(spec, k_train, n_train_key, self.n_train, self.whiten, tp)
        return state

    def batch(self, state, tp, data_key, noise_key, step, batch_size):
        if self.n_train is not None:
            return finite_minibatch(state["train"], data_key, step, batch_size)
        z = jax.random.normal(jax.random.fold_in(data_key, step), (batch_size, self.d + 1))
        eps = jax.random.normal(jax.random.fold_in(noise_key, step), (batch_size,))
        return self._assemble(state, z, eps, tp)

    def eval_sets(self, state, tp):
        return {"train": state.get("train"), "test": state["test"]}
