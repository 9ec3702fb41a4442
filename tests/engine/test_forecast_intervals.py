"""Cluster-aware intervals of forecast scores (coverage, AUROC, paired differences) on planted data
whose members share a seed's luck: the member-wise intervals undercover there, the cluster ones not."""

import doctest

import numpy as np
import pytest
import xarray as xr

from dyntheory import predict
from dyntheory._analysis import forecast_intervals, forecast_score


def _clustered_cover(rng, seeds=30, configs=10, p=0.9, rho=0.8):
    """Per-member coverage indicators: with probability rho a member copies its seed's draw."""
    own = rng.random((configs, seeds)) < p
    shared = rng.random(seeds) < p
    copy = rng.random((configs, seeds)) < rho
    return xr.DataArray(np.where(copy, shared[None], own).astype(float), dims=("wd", "seed"))


def test_cluster_interval_covers_at_its_level_where_wilson_does_not():
    rng = np.random.default_rng(0)
    hit = {None: 0, "seed": 0}
    reps = 200
    for r in range(reps):
        s = xr.Dataset({"member_cover_90": _clustered_cover(rng)})
        for c in hit:
            _, lo, hi = predict.coverage_ci(s, cluster=c, n_boot=500, seed=r)
            hit[c] += lo <= 0.9 <= hi
    # 300 members in 30 clusters of strongly shared luck: Wilson believes n = 300 and misses
    assert hit[None] / reps < 0.8, hit
    # the cluster bootstrap holds the truth near 95%: measured 181/200; a percentile bootstrap
    # over 30 clusters runs a few points short of nominal (its spread carries (C - 1) / C;
    # Davison & Hinkley 1997, section 5.3), and 3 binomial SEs at 200 replicates are 0.046
    assert hit["seed"] / reps > 0.95 - 0.02 - 0.046, hit


def test_independent_members_give_wilson_and_a_full_cluster_stays_honest():
    x = xr.DataArray(np.r_[np.ones(36), np.zeros(4)].reshape(4, 10), dims=("wd", "seed"))
    s = xr.Dataset({"member_cover_90": x})
    assert predict.coverage_ci(s) == pytest.approx((0.9, 0.7694822, 0.9604205), abs=1e-6)
    all_in = xr.Dataset({"member_cover_90": xr.ones_like(x)})
    est, lo, hi = predict.coverage_ci(all_in, cluster="seed")
    assert est == 1.0 and hi == 1.0 and lo < 0.95  # not collapsed to the point 1
    nan = xr.Dataset({"member_cover_90": x * np.nan})
    assert np.isnan(predict.coverage_ci(nan)).all()


def test_bad_cluster_and_width_are_refused_by_name():
    s = xr.Dataset({"member_cover_90": xr.DataArray(np.ones((2, 3)), dims=("wd", "seed"))})
    with pytest.raises(ValueError, match="cluster='lr'"):
        predict.coverage_ci(s, cluster="lr")
    with pytest.raises(ValueError, match="width=0.5"):
        predict.coverage_ci(s, width=0.5)
    with pytest.raises(ValueError, match="groups must label every member"):
        forecast_score.paired_difference(np.ones(4), np.ones(4), groups=np.arange(3))


def test_auroc_and_paired_intervals_widen_when_seeds_share_their_luck():
    rng = np.random.default_rng(1)
    seeds, configs = 24, 12
    y = rng.random((configs, seeds)) < 0.5
    luck = rng.normal(0, 1.5, seeds)[None]  # a seed's forecasts all drift together
    p_a = 1 / (1 + np.exp(-(2.0 * (y - 0.5) * 2 + luck + 0.5 * rng.standard_normal(y.shape))))
    p_b = 1 / (1 + np.exp(-(1.0 * (y - 0.5) * 2 + luck + 0.5 * rng.standard_normal(y.shape))))
    dims = ("wd", "seed")

    def scores(p):
        return xr.Dataset({"member_p_event": (dims, p), "member_happened": (dims, y.astype(float))})

    a, b = scores(p_a), scores(p_b)
    plain, clus = predict.auroc_ci(a, n_boot=500), predict.auroc_ci(a, cluster="seed", n_boot=500)
    assert plain[0] == clus[0] == predict.auroc(p_a, y)
    assert clus[2] - clus[1] > 1.3 * (plain[2] - plain[1]), (plain, clus)
    d_plain = predict.compare_forecasts(a, b, on="auroc", n_boot=500)
    d_clus = predict.compare_forecasts(a, b, on="auroc", n_boot=500, cluster="seed")
    assert d_plain[0] == d_clus[0] > 0
    assert d_clus[2] - d_clus[1] > d_plain[2] - d_plain[1]


def test_member_bootstrap_is_unchanged_by_the_grouping_path():
    rng = np.random.default_rng(2)
    a, b = rng.random(50), rng.random(50)
    assert forecast_score.paired_difference(a, b, n_boot=300) == \
        forecast_score.paired_difference(a, b, n_boot=300, groups=np.arange(50))


def test_doctests():
    assert doctest.testmod(forecast_intervals).failed == 0
