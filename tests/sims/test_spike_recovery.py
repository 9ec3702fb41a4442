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
KNOWN = {k.name for k in sim.KNOWN if k.sizes is None or "small" in k.sizes}


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


def test_figure_draws_the_datasets_paired_effects(small, tmp_path):
    from paper_figs import spike_recovery_fig1 as fig

    verdicts = {v.name: v for v in sim.check(small)}
    path = tmp_path / f"{fig.NAME}.png"
    eff = fig.draw(small, list(verdicts.values()), str(path))
    assert path.stat().st_size > 20_000
    for p in sim.POLICIES:
        q, e = small.sel(policy=p, lr=max(sim.SMALL.lrs)), eff.sel(policy=p, lr=max(sim.SMALL.lrs))
        fired = (q.fired >= 0).values
        rec_t, rec_c = (q[v].values[fired].astype(float) for v in ("recovered_treated", "recovered_control"))
        assert int(e.n_spiked) == fired.sum() > 0
        np.testing.assert_allclose([float(e.rate_treated), float(e.rate_control), float(e.recovery)],
                                   [rec_t.mean(), rec_c.mean(), (rec_t - rec_c).mean()])
        diff = (q.log_loss_treated - q.log_loss_control).values[fired]
        np.testing.assert_allclose(float(e.final_loss), diff.mean(), rtol=1e-5)  # float32 data
        for what in ("recovery", "final_loss"):  # the drawn intervals are the verdicts'
            v = verdicts[f"{p}_{what}"]
            assert (float(e[f"{what}_lo"]), float(e[f"{what}_hi"])) == pytest.approx(v.interval), str(v)


def test_bad_policy_name_is_refused():
    with pytest.raises(ValueError, match="policy: name must be one of"):
        sim.policy("pray", sim.SMALL)


# Measured at paper size (module docstring): lr cut and clipping bring nearly every spiked member
# back and lower the final loss; averaging lowers the final loss and recovers more than the twins
# (+0.14 [0.03, 0.24]) but is not shown above MIN_EFFECT; rewinding recovers fewer (KNOWN); PaLM's
# rewind-and-skip and the final-loss effects of rewind and skip are not resolved.
PAPER_PASSING = {"spikes_induced", "spikes_persist", "lr_cut_recovery", "lr_cut_final_loss",
                 "clip_updates_recovery", "clip_updates_final_loss", "average_weights_final_loss"}
PAPER_UNRESOLVED = {"skip_batches_recovery": sim.MIN_EFFECT, "average_weights_recovery": sim.MIN_EFFECT,
                    "skip_batches_final_loss": 0.0, "rewind_final_loss": 0.0}


@pytest.mark.slow
def test_paper_size():
    verdicts = {v.name: v for v in sim.check(sim.run("paper"))}
    assert {n for n, v in verdicts.items() if v.passed} == PAPER_PASSING, "\n".join(map(str, verdicts.values()))
    assert {n for n, v in verdicts.items() if v.status == "KNOWN"} == {"rewind_recovery"}
    for n, bound in PAPER_UNRESOLVED.items():  # the interval straddles the claim's bound
        v = verdicts[n]
        assert v.status == "FAIL" and v.interval[0] < bound < v.interval[1], str(v)
