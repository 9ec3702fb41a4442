"""theory/mup_coord_check.py: the coordinate-check slopes from the abc-exponents."""

import sympy as sp

from theory.mup_coord_check import EXPONENTS, n, predicted_slopes, update_sizes


def test_predicted_slopes():
    assert predicted_slopes("sp") == {"dh": 1.0, "df": 1.5}
    assert predicted_slopes("mup") == {"dh": 0.0, "df": 0.0}
    assert predicted_slopes("mutant_readout") == {"dh": 0.0, "df": 1.0}
    assert predicted_slopes("mutant_eps") == {"dh": -1.0, "df": 0.0}


def test_mup_is_the_only_variant_with_both_updates_order_one():
    flat = [v for v in EXPONENTS if all(s == 0 for s in predicted_slopes(v).values())]
    assert flat == ["mup"]


def test_sizes_are_powers_of_width():
    for v in EXPONENTS:
        for expr in update_sizes(v).values():
            assert expr.free_symbols <= {n} and sp.limit(expr.subs(n, 1), n, 1) > 0
