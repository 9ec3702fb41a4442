"""sims/spike_recovery.py: spike-triggered policies against their no-intervention twins."""

import numpy as np
import pytest

import dyntheory as dt
from sims import spike_recovery as sim

# Measured at small size (see the module docstring): cutting the lr or clipping updates brings
# spiked members back and lowers their final loss; rewinding, PaLM's rewind-and-skip and weight
# averaging put the member back at the same lr, where it spikes again (KNOWN); their effect on
# the final loss is not resolved at 24 seeds (a plain FAIL, numbers in the verdict).
PASSING = {"spikes_induced", "spikes_persist", "lr_cut_recovery", "lr_cut_final_loss",
           "clip_updates_recovery", "clip_updates_final_loss"}
KNOWN = {k.name for k in sim.KNOWN}


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_verdicts_at_small_size(small):
    verdicts = {v.name: v for v in sim.check(small)}
    assert {n for n, v in verdicts.items() if v.passed} == PASSING, "\n".join(map(str, verdicts.values()))
    assert {n for n, v in verdicts.items() if v.status == "KNOWN"} == KNOWN
    for p in ("skip_batches", "rewind", "average_weights"):  # unresolved, not shown to hurt or help
        v = verdicts[f"{p}_final_loss"]
        assert v.status == "FAIL" and v.interval[0] < 0 < v.interval[1], str(v)


def test_twins_agree_until_the_policy_fires(small):
    cfg = sim.SMALL
    control = dt.train(sim.sweep(cfg), key=0).metrics
    treated = dt.train(sim.sweep(cfg, sim.policy("lr_cut", cfg)), key=0).metrics
    fired = treated["intervened_0"]
    assert (fired.values >= 0).any()
    np.testing.assert_array_equal(fired.values, small.fired.sel(policy="lr_cut").values)
    for s in np.unique(fired.values[fired.values >= 0]):
        who = (fired == s).values
        before = control.train_loss.sel(step=slice(0, s)).values[who]
        np.testing.assert_array_equal(treated.train_loss.sel(step=slice(0, s)).values[who], before)
    quiet = (fired < 0).values
    np.testing.assert_array_equal(treated.train_loss.values[quiet], control.train_loss.values[quiet])


def test_bad_policy_name_is_refused():
    with pytest.raises(ValueError, match="policy: name must be one of"):
        sim.policy("pray", sim.SMALL)


@pytest.mark.slow
def test_paper_size():
    ds = sim.run("paper")
    names = {v.name for v in sim.check(ds) if v.passed}
    assert {"spikes_induced", "lr_cut_recovery", "clip_updates_recovery"} <= names
