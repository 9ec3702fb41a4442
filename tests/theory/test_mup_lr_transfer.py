"""theory/mup_lr_transfer.py: lr* slopes from the first update per unit lr."""

import sympy as sp

from theory.mup_coord_check import EXPONENTS, n
from theory.mup_lr_transfer import lr_star_slope, update_per_lr


def test_slopes_match_tensor_programs_v():
    # Yang et al. 2022 Figure 1: SP's optimum shifts as 1/width under Adam, muP's stays.
    assert lr_star_slope("sp") == -1.0
    assert lr_star_slope("mup") == 0.0
    assert lr_star_slope("mutant_readout") == -1.0
    assert lr_star_slope("mutant_eps") == 0.0


def test_only_mup_and_the_eps_mutant_have_order_one_updates_at_a_fixed_lr():
    flat = [v for v in EXPONENTS if lr_star_slope(v) == 0.0]
    assert flat == ["mup", "mutant_eps"]
    # ... and the eps mutant's hidden features stop moving: its failure is in what it learns.
    assert sp.limit(update_per_lr("mutant_eps")["u_h"], n, sp.oo) == 0


def test_slope_is_minus_the_largest_exponent():
    for v in EXPONENTS:
        u = update_per_lr(v)
        exps = [float(sp.limit(sp.log(e) / sp.log(n), n, sp.oo)) for e in u.values()]
        assert lr_star_slope(v) == -max(exps)
