"""sims/grokking_weight_norm.py: grokking on modular addition against Omnigrok's weight-norm clock."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dyntheory as dt
from dyntheory.metrics import cross_entropy, pair_labels
from sims import grokking_weight_norm as sim

# A finding, not a tolerance problem (see the module docstring): with AdamW the weight norm
# between memorisation and generalisation decays an order of magnitude slower than free weight
# decay ln(w0/w_c)/(eta gamma) predicts, because Adam's normalised loss-gradient steps stay of
# size ~eta and push back; the 1/gamma exponent survives, the clock's prefactor does not.
KNOWN_DISAGREEMENTS = {k.name for k in sim.KNOWN}


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_every_verdict_passes_except_the_documented_finding(small):
    verdicts = sim.check(small)
    names = {v.name for v in verdicts}
    assert KNOWN_DISAGREEMENTS <= names
    assert {"grokking_delay", "omnigrok_exponent", "grokking_phase",
            "restricted_loss_moves_first"} <= names
    failed = [str(v) for v in verdicts if not v.passed and v.name not in KNOWN_DISAGREEMENTS]
    assert not failed, "\n".join(failed)
    clock = next(v for v in verdicts if v.name == "omnigrok_clock")
    # generalisation comes later than free decay predicts, never earlier (KNOWN: failing as
    # documented; XPASS or FAIL if it passes or fails the other way)
    assert not clock.passed and clock.interval[0] > 0 and clock.status == "KNOWN", str(clock)


def test_dataset_layout(small):
    dims = ("weight_decay", "init_scale", "seed")
    assert small.test_acc.dims == dims + ("step",)
    for var in ("t_train", "t_test", "t_grok", "w0", "w_c", "theory_t_grok", "phase_label",
                "progress_gini", "t_restricted_loss"):
        assert small[var].dims == dims, var
    np.testing.assert_allclose(small.phase_fraction.sum("phase"), 1.0)
    assert float(small.theory_exponent_gamma.max()) == float(small.theory_exponent_gamma.min()) == -1.0
    # censored members stay in the Dataset as NaN times, flagged
    assert (np.isnan(small.t_test) == small.censored_test).all()


def _planted(p: int):
    """Embedding on frequency 2 and logits cos(w (a + b - c)): a 'grokked' model's table."""
    a, b = np.divmod(np.arange(p * p), p)
    c = np.arange(p)
    embed = np.asarray(dt.fourier_basis(p))[3:5].T  # cos_2, sin_2 columns, (p, 2)
    logits = 6.0 * np.cos(2 * np.pi * 2 * ((a + b)[:, None] - c) / p)
    return jnp.asarray(embed), jnp.asarray(logits, jnp.float32)


def test_fourier_measures_read_the_members_parameters():
    p = 7
    embed, table = _planted(p)
    apply = lambda params, x: table[x[:, 0] * p + x[:, 1]]  # noqa: E731
    train = jnp.asarray(np.stack(np.divmod(np.arange(0, p * p, 2), p), 1), jnp.int32)
    ctx = dt.MetricContext(params={"embed": embed}, apply=apply, loss=None, batch=(train, None),
                           hp=None, task_state=None, step=0)
    got = {k: float(sim.FourierMeasure(k, p, top=1)((), ctx)[0]) for k in sim.MEASURES}
    full = float(cross_entropy(table, pair_labels(p)))
    assert got["restricted_loss"] == pytest.approx(full, abs=1e-4)  # all of it is frequency 2
    assert got["excluded_loss"] > np.log(p) - 1e-3  # removing frequency 2 leaves nothing
    assert got["gini"] == pytest.approx((p // 2 - 1) / (p // 2), abs=1e-5)  # one-hot in k
    # jit/vmap-safe, as the engine calls it
    f = jax.jit(lambda e: sim.FourierMeasure("gini", p)((), ctx._replace(params={"embed": e}))[0])
    assert float(f(embed)) == pytest.approx(got["gini"], abs=1e-6)
    with pytest.raises(ValueError, match="kind"):
        sim.FourierMeasure("entropy", p)


def test_figure_script_at_small_size(small, tmp_path, capsys, monkeypatch):
    from paper_figs import liu2023_fig1 as fig

    monkeypatch.setattr(fig.sim, "run", lambda size, **kw: small)  # reuse the fixture's run
    fig.main(["--size", "small", "--out", str(tmp_path)])
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    assert "exponent" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_size():
    ds = sim.run("paper")
    failed = [str(v) for v in sim.check(ds) if not v.passed and v.name not in KNOWN_DISAGREEMENTS]
    assert not failed, "\n".join(failed)
