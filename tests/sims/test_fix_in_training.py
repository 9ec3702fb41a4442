"""sims/fix_in_training.py: a shortcut fixed after training ("post") or when it forms ("training")."""

import jax
import numpy as np
import pytest

from sims import fix_in_training as sim

# Measured at small size (module docstring): the property forms at both strengths; at equal total
# compute the arm corrected from detection on ends with a lower clean test loss at strength 0.98,
# but not a lower reliance than post at either strength (KNOWN: the data go against the thesis
# there); the clean-loss difference at 0.9 is not resolved (FAIL, interval straddles 0).
PASSING = {"property_forms_0.9", "property_forms_0.98", "training_beats_post_clean_0.98"}


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_verdicts_at_small_size(small):
    verdicts = {v.name: v for v in sim.check(small)}
    assert {n for n, v in verdicts.items() if v.passed} == PASSING, "\n".join(map(str, verdicts.values()))
    assert {n for n, v in verdicts.items() if v.status == "KNOWN"} == {k.name for k in sim.KNOWN}
    v = verdicts["training_beats_post_clean_0.9"]
    assert v.status == "FAIL" and v.interval[0] < 0 < v.interval[1], str(v)


def test_arms_are_paired_and_the_fix_acts_from_its_step(small):
    cfg = sim.SMALL
    none, post, training = (small.sel(arm=a) for a in sim.ARMS)
    # before its fix step an arm is its uncorrected twin, bit for bit
    early = dict(step=slice(0, cfg.steps - cfg.record))
    np.testing.assert_array_equal(post.reliance.sel(**early).values, none.reliance.sel(**early).values)
    fixed = small.fix_training.values
    assert (fixed[small.detected.values >= 0] >= small.detected.values[small.detected.values >= 0]).all()
    assert not np.array_equal(training.reliance.values, none.reliance.values)


def test_figure_draws_the_datasets_arms(small, tmp_path):
    from paper_figs import fix_in_training_fig1 as fig

    verdicts = {v.name: v for v in sim.check(small)}
    path = tmp_path / f"{fig.NAME}.png"
    eff = fig.draw(small, list(verdicts.values()), str(path))
    assert path.stat().st_size > 20_000
    end = small.isel(step=-1)
    for r in sim.SMALL.reliabilities:
        for var, what in (("reliance", "property"), ("test_loss", "clean")):
            e = end[var].sel(reliability=r)
            np.testing.assert_allclose(eff[var].sel(reliability=r, arm=list(sim.ARMS)).values,
                                       [e.sel(arm=a).values.mean() for a in sim.ARMS], rtol=1e-6)
            d = eff.sel(reliability=r)
            diff = (e.sel(arm="training") - e.sel(arm="post")).values
            np.testing.assert_allclose(float(d[f"d_{var}"]), diff.mean(), rtol=1e-5)
            v = verdicts[f"training_beats_post_{what}_{r:g}"]  # the drawn interval is the verdict's
            assert (float(d[f"d_{var}_lo"]), float(d[f"d_{var}_hi"])) == pytest.approx(v.interval), str(v)


def test_the_task_corrects_its_data_from_fix_step():
    task = sim.Shortcut(d_core=4, scale=2.0)
    key = jax.random.key(0)
    state = task.setup(key, key, {"reliability": 1.0, "fix_step": 5.0})
    tp = {"reliability": 1.0, "fix_step": 5.0}
    before = task.batch(state, tp, key, key, 4, 512)
    after = task.batch(state, tp, key, key, 5, 512)
    sign = lambda b: np.sign(np.asarray(b.x[:, -1])) == 2 * np.asarray(b.y) - 1  # noqa: E731
    assert sign(before).all()  # reliability 1: the shortcut always agrees in training
    assert 0.4 < sign(after).mean() < 0.6  # corrected: independent of the label
    conflict = state["conflict"]
    assert not (np.sign(np.asarray(conflict.x[:, -1])) == 2 * np.asarray(conflict.y) - 1).any()


# Measured at paper size (module docstring): at strength 0.98 fixing in training beats post on
# both reliance and clean loss (small effects, resolved); at 0.9 neither difference is resolved.
PAPER_PASSING = {"property_forms_0.9", "property_forms_0.98", "training_beats_post_property_0.98",
                 "training_beats_post_clean_0.98"}
PAPER_UNRESOLVED = {"training_beats_post_property_0.9", "training_beats_post_clean_0.9"}


@pytest.mark.slow
def test_paper_size():
    verdicts = {v.name: v for v in sim.check(sim.run("paper"))}
    assert {n for n, v in verdicts.items() if v.passed} == PAPER_PASSING, "\n".join(map(str, verdicts.values()))
    assert not any(v.known for v in verdicts.values())
    for n in PAPER_UNRESOLVED:
        v = verdicts[n]
        assert v.status == "FAIL" and v.interval[0] < 0 < v.interval[1], str(v)
