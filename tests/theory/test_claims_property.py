"""dyntheory.testing on real results: each claim property-tested against its own small simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from dyntheory.testing import property_test
from theory import grokking_weight_norm, saxe_deep_linear

SUBSTEPS, RECORD = 256, np.arange(0.0, 401.0, 20.0)


@jax.jit
def _two_layer_gd(s, u0, eta):
    """u = a b from a balanced start a = b = sqrt(u0), GD on 0.5 (s - a b)^2 with step eta / SUBSTEPS."""
    def step(ab, _):
        a, b = ab
        r = (eta / SUBSTEPS) * (s - a * b)
        return (a + r * b, b + r * a), a * b

    _, u = jax.lax.scan(step, (jnp.sqrt(u0), jnp.sqrt(u0)), None, length=int(RECORD[-1]) * SUBSTEPS + 1)
    return u[(RECORD * SUBSTEPS).astype(int)]


def _simulate_saxe(cfg):
    with jax.enable_x64(True):
        u = _two_layer_gd(cfg["s"], cfg["u0"], cfg["eta"])
    return xr.DataArray(np.asarray(u), dims="t", coords={"t": RECORD})


# Saxe et al.'s sigmoid is the gradient flow; GD with step eta / 256 stays within ~0.3% of it
# over the whole domain (u0 down to 1e-3, eta s up to 1), hence a 2% relative tolerance.
test_saxe_closed_form_matches_two_layer_gd = property_test(
    saxe_deep_linear.mode_trajectory(), _simulate_saxe, output="u", tol=0.02, omit=("t",))


def _first_step_at_or_below(cfg):
    w, steps = cfg["w0"], 0
    while w > cfg["w_c"]:
        w *= 1 - cfg["eta"] * cfg["gamma"]
        steps += 1
    return xr.DataArray(float(steps))


# The real-valued crossing step of w_{s+1} = (1 - eta gamma) w_s has the simulated first step at
# or below w_c as its ceiling: within one step. The bounds keep the loop under ~10^4 steps.
test_omnigrok_discrete_crossing_step = property_test(
    grokking_weight_norm.grokking_time(), _first_step_at_or_below, output="steps_discrete", tol=1.0,
    relative=False, bounds={"eta": (0.01, 0.1), "gamma": (0.1, 5.0)})
