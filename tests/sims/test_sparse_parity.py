"""sims/sparse_parity.py (and theory/sparse_parity.py): plateau, abrupt learning, hidden progress."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import dyntheory as dt
from sims import sparse_parity as sim
from theory import sparse_parity as theory


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_every_verdict_passes(small):
    verdicts = sim.check(small)
    names = {v.name for v in verdicts}
    assert {"monotone_in_n_k3", "abrupt_k3", "hidden_progress_k3", "growth_exponent_k3"} <= names
    failed = [str(v) for v in verdicts if not v.passed]
    assert not failed, "\n".join(failed)
    assert not any(v.known for v in verdicts)  # the k=2 disagreement is a paper-size one


def test_dataset_layout_and_theory_side_by_side(small):
    assert small.test_acc.dims == ("k", "n_bits", "seed", "step")
    assert small.t_cross.dims == ("k", "n_bits", "seed")
    assert small.exponent_fit.dims == ("k",)
    # the relevant mass starts at the isotropic value k/n (up to the random init's spread)
    iso = small.k / small.n_bits
    assert float(abs(small.mass0 / iso - 1).median()) < 0.3
    assert float(small.theory_gap_exponent.sel(k=3)) == 2.0
    np.testing.assert_allclose(small.theory_log_subsets.sel(k=3, n_bits=16), math.log(560), rtol=1e-5)


def test_relevant_mass_reads_the_task_state():
    w = jnp.ones((5, 4)).at[1].set(2.0).at[3].set(3.0)
    ctx = dt.MetricContext(params={"layers": [{"w": w}]}, apply=None, loss=None, batch=None,
                           hp=None, task_state={"relevant": jnp.array([1, 3])}, step=0)
    value, state = sim.RelevantMass()(sim.RelevantMass().init(None, None), ctx)
    assert float(value) == pytest.approx((16 + 36) / (16 + 36 + 3 * 4))
    assert state == ()


def test_search_count_derivation():
    d = theory.derive_search_count()
    assert d["limit_exponent"] == sp.Symbol("k", positive=True)
    res = theory.search_count()
    assert res.check_lambdified(15, seed=1) < 1e-9
    out = res(n=np.array([20.0, 1e3]), k=np.array([3.0, 3.0]))
    np.testing.assert_allclose(np.exp(np.asarray(out["log_subsets"][0], float)), 1140, rtol=1e-4)
    assert abs(float(out["local_exponent"][1]) - 3) < 1e-2


@pytest.mark.parametrize("k", [2, 3])
def test_fourier_gap_derivation(k):
    d = theory.derive_fourier_gap(k)
    j = k - 1
    # j-fold step-2 central difference of s^m over 2^j: zero below m = j, j! at m = j
    assert d["difference_moments"][:j] == [0] * j and d["difference_moments"][j] == math.factorial(j)
    assert d["exponent_relevant"] == -sp.Rational(k - 1, 2)
    assert d["exponent_irrelevant"] == -sp.Rational(k + 1, 2)
    assert d["exponent_ratio"] == 1 and d["exponent_steps"] == k - 1
    assert theory.fourier_gap(k).check_lambdified(10, seed=k) < 1e-9


@pytest.mark.parametrize("j", [2, 4])
def test_exact_coefficient_converges_to_the_clt_form(j):
    """Lattice sum / leading-order formula -> 1 like 1/n (beta = 0.5)."""
    d = theory.derive_fourier_gap(3)
    expr = d["c_relevant"] if j == 2 else d["c_irrelevant"]
    n_sym, beta_sym = sp.Symbol("n", positive=True), sp.Symbol("beta", real=True)
    errs = []
    for n in (101, 401, 1601):
        exact = float(theory.fourier_coefficient_exact(n, j, 0.5 * math.sqrt(n)))
        errs.append(abs(exact / float(expr.subs({n_sym: n, beta_sym: 0.5})) - 1))
    assert errs[-1] < 5e-3 and errs[0] > errs[1] > errs[2]


def test_exact_coefficient_against_brute_force_enumeration():
    rng = np.random.default_rng(0)
    n = 9
    x = np.array(np.meshgrid(*[[-1, 1]] * n, indexing="ij")).reshape(n, -1).T  # all 2^n inputs
    for j, b in ((1, 0.0), (2, 1.5), (3, -0.5), (4, 2.0)):
        J = rng.choice(n, j, replace=False)
        brute = np.mean(np.prod(x[:, J], axis=1) * (x.sum(1) > b))
        assert float(theory.fourier_coefficient_exact(n, j, b)) == pytest.approx(brute, abs=1e-12)


def test_zero_bias_neuron_has_no_even_degree_signal():
    """The regime note of theory/sparse_parity.py: for any w, 1[w.x > 0] has no degree-2
    coefficient (so no 3-parity signal on relevant inputs at a zero-bias init), but a degree-1
    one (the 2-parity signal)."""
    rng = np.random.default_rng(1)
    n = 10
    x = np.array(np.meshgrid(*[[-1, 1]] * n, indexing="ij")).reshape(n, -1).T
    w = rng.standard_normal(n)
    act = (x @ w > 0).astype(float)
    assert abs(np.mean(x[:, 0] * x[:, 1] * act)) < 1e-12
    assert abs(np.mean(x[:, 0] * act)) > 1e-3


def test_figure_script_at_small_size(small, tmp_path, capsys, monkeypatch):
    from paper_figs import barak2022_fig1 as fig

    monkeypatch.setattr(fig.sim, "run", lambda size, **kw: small)  # reuse the fixture's run
    fig.main(["--size", "small", "--out", str(tmp_path)])
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    assert "exponent" in capsys.readouterr().out


# A finding at paper size (module docstring): 2-sparse parities are learned without a plateau
# (10-90% width ~ the transition time). For k = 2 the population gradient on the relevant inputs
# is already nonzero at a zero-bias init (theory: c_{k-1} = c_1 ~ n^{-1/2}); for k = 3 it
# vanishes there, and the plateau and the abrupt rise appear.
KNOWN_DISAGREEMENTS_PAPER = {k.name for k in sim.KNOWN if "paper" in k.sizes}


@pytest.mark.slow
def test_paper_size():
    ds = sim.run("paper")
    verdicts = sim.check(ds)
    failed = [str(v) for v in verdicts if not v.passed and v.name not in KNOWN_DISAGREEMENTS_PAPER]
    assert not failed, "\n".join(failed)
    assert all(not v.passed for v in verdicts if v.name in KNOWN_DISAGREEMENTS_PAPER)
    # failing as documented (not abrupt: the width ratio stays above 0.5), else XPASS / FAIL
    assert all(v.status == "KNOWN" for v in verdicts if v.name in KNOWN_DISAGREEMENTS_PAPER)
