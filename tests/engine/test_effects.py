"""Paired intervention effects: twins from metadata, exact zero for a null intervention, planted effects."""

import numpy as np
import pytest
import xarray as xr

import dyntheory as dt
from dyntheory._analysis.effects import effect, event_effect


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=8, noise=0.0), model=dt.models.Linear(), steps=80,
                     batch_size=16, axes={"lr": [0.05, 0.1]}, seeds=8, record=10, checkpoints=(20, 80))
    return dt.train(sweep, key=0, store=str(tmp_path_factory.mktemp("p") / "parent"))


def test_a_null_intervention_has_exactly_zero_effect(parent):
    twin = dt.branch(parent, step=20, changes={"lr": 0.05}, where={"lr": 0.05})
    eff = effect(twin, parent, "train_loss")
    zero = eff.sel(lr=0.05)
    assert float(zero.ate) == 0.0 and float(zero.ate_lo) == 0.0 and float(zero.ate_hi) == 0.0
    assert int(zero.n_pairs) == 8 and int(eff.sel(lr=0.1).n_pairs) == 0  # untreated members not counted
    assert eff.attrs["pairing"] == "parent" and eff.attrs["step"] == 80


def test_a_planted_slowdown_is_found_with_an_interval_excluding_zero(parent):
    slow = dt.branch(parent, step=20, changes={"lr": 0.001})
    eff = effect(slow, parent, "train_loss")
    assert (eff.ate_lo > 0).all()  # a smaller lr leaves a higher loss, in every coordinate
    assert (eff.treated_mean > eff.control_mean).all()
    ev = event_effect(slow, parent, "train_loss", threshold=float(parent.metrics.train_loss.sel(step=80).max()) * 1.5)
    assert (ev.rate_control == 1).all() and (ev.rate_diff_hi < 0).all()  # the event is prevented
    assert (ev.time_diff > 0).all()


def test_siblings_pair_and_strangers_are_refused(parent):
    a = dt.branch(parent, step=20, changes={"lr": 0.02})
    b = dt.branch(parent, step=20, changes={"lr": 0.03})
    assert effect(a, b, "train_loss").attrs["pairing"] == "siblings"
    other = dt.train(dt.Sweep(**{**parent.sweep.__dict__, "steps": 80}), key=1)
    with pytest.raises(ValueError, match="treated is not a branched run"):
        effect(other, parent, "train_loss")
    with pytest.raises(ValueError, match="control is neither that run"):
        effect(a, other, "train_loss")
    by_coords = effect(other, parent, "train_loss", pairs="coords")
    assert np.isfinite(by_coords.ate).all()


def test_bad_arguments_name_the_field(parent):
    twin = dt.branch(parent, step=20, changes={"lr": 0.02})
    with pytest.raises(ValueError, match=r"metric 'nope' is not in treated"):
        effect(twin, parent, "nope")
    with pytest.raises(ValueError, match=r"step=10 is not a step both runs recorded after the branch"):
        effect(twin, parent, "train_loss", step=10)
    with pytest.raises(ValueError, match=r"pairs must be 'auto' or 'coords'"):
        effect(twin, parent, "train_loss", pairs="x")
    with pytest.raises(TypeError, match="treated must be a run"):
        effect(3, parent, "train_loss")


def test_a_run_with_interventions_pairs_with_the_same_sweep_without():
    base = dict(task=dt.tasks.TeacherStudent(d_in=8, noise=0.0), model=dt.models.Linear(), steps=40,
                batch_size=16, axes={"lr": [0.05, 0.1]}, seeds=6, record=10)
    control = dt.train(dt.Sweep(**base), key=0)
    treated = dt.train(dt.Sweep(**base, interventions=(dt.interventions.ScaleLR(0.01, 30).at(10),)), key=0)
    eff = effect(treated, control, "train_loss")
    assert eff.attrs["pairing"] == "interventions" and (eff.ate_lo > 0).all()  # slowed down: higher loss
    with pytest.raises(ValueError, match="treated is not a branched run"):
        effect(treated, dt.train(dt.Sweep(**base), key=1), "train_loss")  # another key: not twins


def test_effect_intervals_cover_a_planted_effect_at_their_nominal_rate():
    # 400 replicate experiments (a sweep axis) of 30 twin pairs each, with a planted effect of 0.3:
    # the 95% paired intervals cover it in a fraction whose 99% binomial interval holds 0.95 less
    # the percentile bootstrap's known small-sample under-coverage (about 1 point at n = 30).
    rng = np.random.default_rng(1)
    reps, seeds = 400, 30
    base = rng.normal(size=(reps, seeds, 1))
    coords = {"rep": np.arange(reps), "seed": np.arange(seeds), "step": [10]}
    dims = ("rep", "seed", "step")
    control = xr.Dataset({"test_loss": (dims, base)}, coords=coords)
    treated = xr.Dataset({"test_loss": (dims, base + 0.3 + rng.normal(scale=0.5, size=base.shape))}, coords=coords)
    eff = dt.effect(treated, control, "test_loss", pairs="coords")
    covered = int(((eff.ate_lo <= 0.3) & (0.3 <= eff.ate_hi)).sum())
    _, lo, hi = dt.binomial_ci(covered, reps, level=0.99)
    assert lo <= 0.95 and hi >= 0.93, (covered, lo, hi)
