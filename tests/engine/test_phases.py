"""Phase labels and maps, and the grokking rule set on planted train/test accuracy curves."""

import doctest

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import dyntheory._analysis.phases as phases_mod
from dyntheory._analysis.phases import classify, grokking_rules, phase_map

STEPS = np.arange(0, 2001, 20)


def _acc(t_reach):
    """Accuracy from 0.1 rising linearly to 1.0, reaching 0.9 exactly at ``t_reach`` (inf: never)."""
    t = np.asarray(t_reach, dtype=float)[..., None]
    with np.errstate(invalid="ignore"):
        v = 0.1 + 0.8 * STEPS / np.where(np.isinf(t), 1.0, t)
    return np.where(np.isinf(t), 0.1 + 0.0 * STEPS, np.minimum(v, 1.0))


def _run(t_train, t_test):
    dims = ("wd", "seed", "step")
    return xr.Dataset({"train_acc": (dims, _acc(t_train)), "test_acc": (dims, _acc(t_test))},
                      coords={"wd": np.arange(np.shape(t_train)[0]), "step": STEPS})


def test_docstring_examples_run():
    assert doctest.testmod(phases_mod, raise_on_error=False).failed == 0


def test_classify_first_matching_rule_wins_and_default():
    ds = xr.Dataset({"loss": (("lr", "seed"), [[0.1, 5.0, np.nan], [0.5, 0.05, 2.0]])},
                    coords={"lr": [0.1, 1.0]})
    rules = {"diverged": lambda d: ~np.isfinite(d.loss),
             "converged": lambda d: d.loss < 0.2,
             "slow": lambda d: d.loss < 1.0,       # also true where "converged" is: order decides
             "stuck": lambda d: d.loss >= 1.0}
    labels = classify(ds, rules)
    assert labels.values.tolist() == [["converged", "stuck", "diverged"],
                                      ["slow", "converged", "stuck"]]
    assert labels.attrs["phases"] == ["diverged", "converged", "slow", "stuck", "other"]
    assert labels.lr.values.tolist() == [0.1, 1.0] and labels.name == "phase"
    partial = classify(ds, {"converged": lambda d: d.loss < 0.2}, default="rest")
    assert partial.values.tolist() == [["converged", "rest", "rest"], ["rest", "converged", "rest"]]


def test_classify_broadcasts_rules_by_name():
    ds = xr.Dataset({"a": ("seed", [1, 0, 1]), "b": ("lr", [True, False])})
    labels = classify(ds, {"both": lambda d: (d.a == 1) & d.b, "b_only": lambda d: d.b})
    assert set(labels.dims) == {"seed", "lr"}
    assert labels.transpose("lr", "seed").values.tolist() == [["both", "b_only", "both"],
                                                             ["other"] * 3]


def test_classify_validates():
    ds = xr.Dataset({"x": ("seed", [0.0, 1.0])})
    with pytest.raises(TypeError, match="rule 'bad' returned dtype float64"):
        classify(ds, {"bad": lambda d: d.x})
    with pytest.raises(TypeError, match="rule 'arr' returned ndarray"):
        classify(ds, {"arr": lambda d: d.x.values > 0})
    with pytest.raises(ValueError, match="default='hi'"):
        classify(ds, {"hi": lambda d: d.x > 0}, default="hi")
    with pytest.raises(ValueError, match="empty"):
        classify(ds, {})


def test_phase_map_fractions_majority_and_ties():
    labels = xr.DataArray([["a", "b", "b", "c"], ["a", "a", "c", "c"], ["c", "c", "c", "c"]],
                          dims=("lr", "seed"), coords={"lr": [1, 2, 3]})
    labels.attrs["phases"] = ["a", "b", "c"]
    pm = phase_map(labels)
    assert pm.phase.values.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(pm.fraction.sum("phase"), 1.0)
    np.testing.assert_allclose(pm.fraction.sel(lr=1), [0.25, 0.5, 0.25])
    assert pm.n_in_phase.sel(lr=3).values.tolist() == [0, 0, 4]
    assert pm.majority.values.tolist() == ["b", "a", "c"]  # lr=2 ties a/c: earlier phase
    assert pm.majority_fraction.values.tolist() == [0.5, 0.5, 1.0]
    assert pm.attrs["n_members"] == 4


def test_phase_map_validates():
    labels = xr.DataArray(["a", "z"], dims="seed")
    with pytest.raises(ValueError, match=r"labels \['z'\] are not in phases"):
        phase_map(labels, phases=["a", "b"])
    with pytest.raises(ValueError, match="over='lr'"):
        phase_map(labels, over="lr")
    assert phase_map(labels).phase.values.tolist() == ["a", "z"]


def test_grokking_rules_on_planted_curves():
    inf = np.inf
    t_train = [[100, 100, 100, 100], [200, 200, inf, inf]]
    t_test = [[120, 180, 1000, inf], [1900, 300, 500, inf]]
    ds = _run(t_train, t_test)
    labels = classify(ds, grokking_rules())
    assert labels.transpose("wd", "seed").values.tolist() == [
        ["comprehension", "comprehension", "grokking", "memorization"],
        ["grokking", "comprehension", "confusion", "confusion"]]
    strict = classify(ds, grokking_rules(delay_factor=1.5))
    assert strict.sel(wd=0, seed=1).item() == "grokking"  # 180 > 1.5 * 100
    absolute = classify(ds, grokking_rules(min_delay=1000))
    assert absolute.sel(wd=0, seed=2).item() == "comprehension"  # delay 900 < 1000
    pm = phase_map(labels)
    assert pm.phase.values.tolist() == ["comprehension", "grokking", "memorization",
                                        "confusion", "other"]
    assert pm.fraction.sel(wd=0, phase="comprehension").item() == 0.5
    assert pm.majority.values.tolist() == ["comprehension", "confusion"]


@given(st.lists(st.tuples(st.one_of(st.floats(20.0, 1980.0), st.just(np.inf)),
                          st.one_of(st.floats(20.0, 1980.0), st.just(np.inf))),
                min_size=1, max_size=6),
       st.floats(1.0, 5.0))
def test_grokking_labels_follow_the_definition(pairs, factor):
    t_train, t_test = (np.array([[p[i] for p in pairs]]) for i in (0, 1))
    labels = classify(_run(t_train, t_test), grokking_rules(delay_factor=factor))
    for (tr, te), got in zip(pairs, labels.values[0]):
        if np.isinf(tr):
            want = "confusion"
        elif np.isinf(te):
            want = "memorization"
        elif abs(te - factor * tr) < 1e-6 * te:
            continue  # on the boundary itself, floating point decides
        else:
            want = "grokking" if te > factor * tr else "comprehension"
        assert got == want, (tr, te, factor)


def test_grokking_rules_validate():
    with pytest.raises(ValueError, match="delay_factor"):
        grokking_rules(delay_factor=0.5)
    with pytest.raises(ValueError, match="min_delay"):
        grokking_rules(min_delay=-1)
    ds = xr.Dataset({"train_acc": ("step", [0.0, 1.0])})
    with pytest.raises(KeyError, match="'test_acc'"):
        classify(ds, grokking_rules())
