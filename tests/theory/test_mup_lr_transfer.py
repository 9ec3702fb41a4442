"""theory/mup_lr_transfer.py: lr* slopes from the first update per unit lr."""

import sympy as sp

from theory.mup_coord_check import EXPONENTS, n, predicted_slopes
from theory.mup_lr_transfer import lr_star_slope, update_per_lr


def test_slopes_from_the_largest_first_update():
    # SP: the old readout (entries n^-1/2) reads features moved by n*eta as n^(3/2)*eta, past the
    # readout's own n*eta (the -1 usually quoted keeps only the latter). muP holds (Yang et al.
    # 2022, Fig. 1); the readout mutant's own update falls as 1/n; the eps mutant's readout bound
    # stays put.
    assert lr_star_slope("sp") == -1.5
    assert lr_star_slope("mup") == 0.0
    assert lr_star_slope("mutant_readout") == -1.0
    assert lr_star_slope("mutant_eps") == 0.0


def test_the_output_update_is_the_coordinate_checks():
    # The same first step the coordinate check measures: the lr* slope is minus the larger of
    # its |delta h| and |delta f| exponents.
    for v in EXPONENTS:
        assert lr_star_slope(v) == -max(predicted_slopes(v).values())


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


def test_the_readout_mutants_features_term_is_subleading():
    # Its SP readout reads the order-one features as n^(1/2): subleading to its own n, so at
    # small widths the two compete and the slope is shallower than -1.
    u_f = update_per_lr("mutant_readout")["u_f"]
    assert sp.limit(u_f / n, n, sp.oo) == 1 and sp.simplify(u_f - n) == sp.sqrt(n)
