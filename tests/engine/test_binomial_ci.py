"""dt.binomial_ci: the Wilson score interval against hand values, its edges, and bad input."""

import math

import numpy as np
import pytest

import dyntheory as dt

Z95 = 1.959963984540054  # the normal quantile at 0.975


def _textbook(k, n, z):
    """Wilson (1927) in its other textbook form: the roots of (p_hat - p)^2 = z^2 p (1 - p) / n."""
    # n (p_hat - p)^2 - z^2 p (1 - p) = 0  <=>  (n + z^2) p^2 - (2 k + z^2) p + k^2 / n = 0
    a, b, c = n + z * z, -(2 * k + z * z), k * k / n
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


@pytest.mark.parametrize("k, n, lo, hi", [
    # hand values (Newcombe 1998, Stat. Med. 17:857, table I, method 3: 81/263 -> 0.2553-0.3662;
    # 15/148 -> 0.0624-0.1605; 0/20 -> 0-0.1611; 1/29 -> 0.0061-0.1718)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_matches_newcombes_table(k, n, lo, hi):
    est, a, b = dt.binomial_ci(k, n)
    assert est == k / n
    assert a == pytest.approx(lo, abs=6e-5) and b == pytest.approx(hi, abs=6e-5)


@pytest.mark.parametrize("level, z", [(0.95, Z95), (0.9, 1.6448536269514722), (0.5, 0.6744897501960817)])
@pytest.mark.parametrize("k, n", [(1, 1), (3, 7), (36, 40), (200, 1000), (999, 1000)])
def test_equals_the_quadratic_roots(k, n, level, z):
    _, lo, hi = dt.binomial_ci(k, n, level=level)
    want = _textbook(k, n, z)
    assert (lo, hi) == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [1, 5, 40, 1000])
def test_edges_zero_and_all_successes(n):
    _, lo0, hi0 = dt.binomial_ci(0, n)
    _, lo1, hi1 = dt.binomial_ci(n, n)
    assert lo0 == 0.0 and hi1 == 1.0
    # the one-sided bound at the edge is z^2 / (n + z^2), and the two edges mirror each other
    assert hi0 == pytest.approx(Z95 ** 2 / (n + Z95 ** 2), rel=1e-12)
    assert lo1 == pytest.approx(1 - hi0, rel=1e-12)


def test_interval_narrows_with_n_and_widens_with_level():
    widths = [np.subtract(*dt.binomial_ci(n // 2, n)[:0:-1]) for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2] > 0
    w90 = np.subtract(*dt.binomial_ci(30, 40, level=0.9)[:0:-1])
    w99 = np.subtract(*dt.binomial_ci(30, 40, level=0.99)[:0:-1])
    assert w99 > w90


def test_accepts_numpy_integers():
    assert dt.binomial_ci(np.int64(3), np.int32(10)) == dt.binomial_ci(3, 10)


@pytest.mark.parametrize("args, kw, match", [
    ((0, 0), {}, "n must be a positive number of trials, got n=0"),
    ((1, -3), {}, "n must be a positive number of trials, got n=-3"),
    ((11, 10), {}, r"successes must lie in \[0, n=10\], got successes=11"),
    ((-1, 10), {}, "successes must lie in .* got successes=-1"),
    ((2.5, 10), {}, "successes must be an integer count, got 2.5"),
    ((2, 10.0), {}, "n must be an integer count, got 10.0"),
    ((True, 10), {}, "successes must be an integer count, got True"),
    ((2, 10), {"level": 1.0}, "level must lie in"),
    ((2, 10), {"level": 0.0}, "level must lie in"),
])
def test_bad_input_is_refused_by_name(args, kw, match):
    with pytest.raises(ValueError, match=match):
        dt.binomial_ci(*args, **kw)
