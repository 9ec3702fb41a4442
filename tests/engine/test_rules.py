"""Rules on planted data: a true invariance passes, a planted slope fails, a noisy case is inconclusive."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from dyntheory import design
from dyntheory._analysis.verdict import Verdict, aggregate

WIDTHS = np.array([64, 128, 256, 512, 1024])
LRS = np.geomspace(1e-3, 1.0, 10)


def planted_lr_sweep(*, exponent: float, noise: float, seeds: int, rng: int = 0, lr0: float = 0.03):
    """Loss = 1 + (log lr - log lr*)^2 / 4 (times log-normal noise), lr* = lr0 (w / 64)^exponent."""
    g = np.random.default_rng(rng)
    star = lr0 * (WIDTHS / 64.0) ** exponent
    bowl = 1 + (np.log(LRS)[None, :] - np.log(star)[:, None]) ** 2 / 4
    loss = bowl[..., None] * np.exp(noise * g.standard_normal((len(WIDTHS), len(LRS), seeds)))
    return xr.Dataset({"test_loss": (("widths", "lr", "seed"), loss)},
                      coords={"widths": WIDTHS, "lr": LRS, "seed": np.arange(seeds)})


RULE = design.Invariance(name="lr_transfer", metric="test_loss", argmin="lr", along="widths", margin=0.2)


def test_a_true_invariance_passes():
    v = design.check_rule(RULE, planted_lr_sweep(exponent=0.0, noise=0.02, seeds=8))
    assert v.status == "PASS", v
    assert abs(v.effect) < 0.05 and -0.2 <= v.interval[0] < v.interval[1] <= 0.2
    lr_star = v.per_coord.lr_star.values
    np.testing.assert_allclose(lr_star, 0.03, rtol=0.15)  # the parabola finds the planted optimum


def test_a_planted_slope_fails_near_its_value():
    v = design.check_rule(RULE, planted_lr_sweep(exponent=-1.0, noise=0.02, seeds=8, lr0=0.5))
    assert v.status == "FAIL", v
    assert -1.15 < v.effect < -0.85 and v.interval[1] < -0.2


def test_a_noisy_case_is_inconclusive_and_says_how_many_seeds():
    v = design.check_rule(RULE, planted_lr_sweep(exponent=0.0, noise=0.6, seeds=8))
    assert v.status == "INCONCLUSIVE", v
    assert not v.passed and v.seeds_to_settle is not None and v.seeds_to_settle > 8
    assert "seeds would settle it" in str(v)
    # The count assumes the interval narrows as 1/sqrt(seeds): 16x the seeds, a quarter the width
    # (median over six fresh data sets), and at 1024 seeds the noisy invariance is shown.
    half = lambda n, r: np.subtract(*design.check_rule(  # noqa: E731
        RULE, planted_lr_sweep(exponent=0.0, noise=0.6, seeds=n, rng=r)).interval[::-1]) / 2
    ratio = np.median([half(16, r) / half(256, r) for r in range(6)])
    assert 2.5 < ratio < 6.0, ratio
    assert design.check_rule(RULE, planted_lr_sweep(exponent=0.0, noise=0.6, seeds=1024)).status == "PASS"


def test_an_optimum_on_the_grid_edge_cannot_pass():
    ds = planted_lr_sweep(exponent=0.0, noise=0.01, seeds=8, lr0=2.0)  # lr* above the grid
    v = design.check_rule(RULE, ds)
    assert v.status == "INCONCLUSIVE" and "edge" in v.detail, v


def test_diverged_members_count_as_the_worst():
    ds = planted_lr_sweep(exponent=0.0, noise=0.02, seeds=8)
    div = xr.full_like(ds.test_loss, -1, dtype=int)
    div[:, -3:, :] = 5  # the three largest lrs diverged: their (finite-looking) loss must not win
    ds["test_loss"][:, -3:, :] = 0.0
    ds["diverged_at"] = div
    assert design.check_rule(RULE, ds).status == "PASS"


def coord_data(slope: float, noise: float, seeds: int, rng: int = 0):
    g = np.random.default_rng(rng)
    dh = (WIDTHS[:, None] / 64.0) ** slope * np.exp(noise * g.standard_normal((len(WIDTHS), seeds)))
    return xr.Dataset({"dh": (("widths", "seed"), dh)}, coords={"widths": WIDTHS})


@pytest.mark.parametrize("slope, noise, seeds, status", [
    (0.0, 0.05, 8, "PASS"),        # muP-like: flat
    (1.0, 0.05, 8, "FAIL"),        # SP-like: grows as width
    (0.0, 1.5, 3, "INCONCLUSIVE"),  # too noisy to tell
])
def test_exponent_rule(slope, noise, seeds, status):
    rule = design.Exponent(name="coord", metric="dh", along="widths", slope=0.0, margin=0.15)
    v = design.check_rule(rule, coord_data(slope, noise, seeds))
    assert v.status == status, v
    if status == "FAIL":
        assert 0.9 < v.effect < 1.1


def test_monotone_and_ordering():
    ds = coord_data(-0.5, 0.05, 8)
    falls = design.Monotone(name="falls", metric="dh", along="widths", direction="decreasing", log=True)
    rises = design.Monotone(name="rises", metric="dh", along="widths", direction="increasing")
    assert design.check_rule(falls, ds).status == "PASS"
    assert design.check_rule(rises, ds).status == "FAIL"
    g = np.random.default_rng(3)
    base = 1 + g.random(16)  # shared per seed: pairing removes it
    loss = np.stack([base + 0.05 + 0.01 * g.standard_normal(16), base + 0.01 * g.standard_normal(16)])
    sched = xr.Dataset({"loss": (("schedule", "seed"), loss)}, coords={"schedule": ["cosine", "wsd"]})
    good = design.Ordering(name="wsd", metric="loss", axis="schedule", better="wsd", worse="cosine")
    bad = design.Ordering(name="cos", metric="loss", axis="schedule", better="cosine", worse="wsd")
    assert design.check_rule(good, sched).status == "PASS"
    assert design.check_rule(bad, sched).status == "FAIL"
    unpaired = loss.copy()
    unpaired[1] = g.permutation(unpaired[1])  # pairing broken: the per-seed spread swamps 0.05
    v = design.check_rule(good, sched.assign(loss=(("schedule", "seed"), unpaired)))
    assert v.status == "INCONCLUSIVE", v



def paired_schedules(gap: float, noise: float, seeds: int, rng: int = 5):
    """Per-seed losses of "cheap" and "full": cheap = full + gap (+ paired noise)."""
    g = np.random.default_rng(rng)
    full = 1 + g.random(seeds)
    cheap = full + gap + noise * g.standard_normal(seeds)
    return xr.Dataset({"loss": (("schedule", "seed"), np.stack([cheap, full]))},
                      coords={"schedule": ["cheap", "full"]})


NONINF = design.Ordering(name="cheap_not_worse", metric="loss", axis="schedule", better="cheap",
                         worse="full", margin=-0.05)


@pytest.mark.parametrize("gap, noise, seeds, status", [
    (0.0, 0.01, 16, "PASS"),        # equal: the interval's worst case is far above -0.05
    (0.02, 0.01, 16, "PASS"),       # a little worse, but shown within the margin
    (0.12, 0.01, 16, "FAIL"),       # worse by 0.12: shown past the margin
    (0.04, 0.05, 8, "INCONCLUSIVE"),  # noisy, near the margin: more seeds needed
])
def test_ordering_with_a_negative_margin_is_non_inferiority(gap, noise, seeds, status):
    v = design.check_rule(NONINF, paired_schedules(gap, noise, seeds))
    assert v.status == status, v
    assert v.tolerance == -0.05 and v.side == "above" and "non-inferiority" in v.detail
    assert abs(v.effect + gap) < 4 * noise / np.sqrt(seeds) + 1e-9  # advantage = full - cheap = -gap
    if status == "PASS":
        assert v.interval[0] > -0.05
    elif status == "FAIL":
        assert v.interval[1] < -0.05
    else:
        assert v.interval[0] <= -0.05 <= v.interval[1] and v.seeds_to_settle > seeds
        assert "seeds would settle it" in str(v)
    if gap > 0 and noise < 0.05:  # the same data under a superiority claim (margin 0): refuted
        superior = dataclasses.replace(NONINF, margin=0.0)
        assert design.check_rule(superior, paired_schedules(gap, noise, seeds)).status == "FAIL"


def test_only_ordering_takes_a_negative_margin():
    for kind, kw in ((design.Monotone, {}), (design.Exponent, {}), (design.Invariance, {})):
        with pytest.raises(ValueError, match=r"margin must be a finite number >= 0, got -0\.1"):
            kind(name="x", metric="m", margin=-0.1, **kw)
    with pytest.raises(ValueError, match="margin must be a finite number, got nan"):
        design.Ordering(name="o", metric="m", better="a", worse="b", margin=float("nan"))

def test_rules_name_bad_inputs():
    with pytest.raises(ValueError, match="margin must be a finite number"):
        design.Exponent(name="x", metric="dh", margin=-1)
    with pytest.raises(ValueError, match=r"needs exactly \('widths', 'lr', 'seed'\)"):
        design.check_rule(RULE, coord_data(0.0, 0.1, 4).rename(dh="test_loss"))
    with pytest.raises(ValueError, match="'adam' is not a value of 'schedule'"):
        design.check_rule(design.Ordering(name="o", metric="dh", axis="schedule", better="adam",
                                          worse="wsd"),
                          xr.Dataset({"dh": (("schedule", "seed"), np.ones((1, 3)))},
                                     coords={"schedule": ["wsd"]}))
    with pytest.raises(ValueError, match="has no sweep of its own"):
        design.measure(RULE)


def test_inconclusive_verdict_reads_and_aggregates():
    v = Verdict(name="x", passed=False, effect=0.1, interval=(-0.1, 0.3), tolerance=0.2, n_members=8,
                inconclusive=True, seeds_to_settle=40)
    assert v.status == "INCONCLUSIVE"
    assert str(v).startswith("INCONCLUSIVE x: effect 0.1 [-0.1, 0.3] straddles ±0.2; ~40 seeds")
    assert json.loads(json.dumps(v.to_dict()))["seeds_to_settle"] == 40
    ok = Verdict(name="y", passed=True, effect=0.0, interval=(-0.1, 0.1), tolerance=0.2, n_members=8)
    s = aggregate([ok, v])
    assert not s.passed and s.inconclusive == (v,) and "INCONCLUSIVE: x" in s.line
    with pytest.raises(ValueError, match="cannot have passed"):
        Verdict(name="z", passed=True, effect=0.0, interval=(0, 0), tolerance=1, n_members=1,
                inconclusive=True)
    assert design.seeds_to_settle(0.0, (-0.2, 0.2), 0.1, 8) == 32
