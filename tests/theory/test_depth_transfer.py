"""theory/depth_transfer.py: the summed first-step update and each block's own change."""

import sympy as sp

from theory.depth_transfer import ALPHA, L, L0, block_update, block_update_slope, eta, lr_star_slope, stream_update


def test_stream_update_by_residual():
    assert sp.simplify(stream_update("none") - L * eta) == 0
    for r in ("1/sqrt(L)", "1/L"):
        assert sp.simplify(stream_update(r) - L0 * eta) == 0, r


def test_lr_star_slopes_and_laziness():
    assert [lr_star_slope(r) for r in ALPHA] == [-1.0, 0.0, 0.0]
    # CompleteP (Dey et al. 2025, Table 1): each block keeps an O(1) relative update; depth-muP's
    # shrinks as L^-1/2.
    assert block_update_slope("1/L") == 0.0 and block_update_slope("1/sqrt(L)") == -0.5


def test_matches_the_models_factors():
    # The engine's ResMLP scales its branches and its residual weights' Adam lr as derived here.
    from dyntheory.models._resmlp import depth_factors
    for r, alpha in ALPHA.items():
        f = depth_factors(r, 8, 2)
        assert float(block_update(r).subs({L: 8, L0: 2})) == f["adam"], r
        assert float(((L / L0) ** -alpha).subs({L: 8, L0: 2})) == f["branch"], r
