"""sims/transformer_grokking.py: delayed generalisation of a one-layer transformer, weight decay as an axis."""

import numpy as np
import pytest

from sims import transformer_grokking as sim

# Slow even at small size, to keep the default run under 10 minutes: about 75 s warm and minutes with
# a cold compile cache; the Transformer is tested in tests/engine/test_transformer.py and trained in
# test_induction_heads.py. Run with -m slow.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small():
    return sim.run("small")


def test_delay_and_fourier_pass_and_the_exponent_is_not_refuted(small):
    verdicts = {v.name: v for v in sim.check(small)}
    assert set(verdicts) == {"grokking_delay", "wd_exponent", "fourier_sparsity"}
    assert verdicts["fourier_sparsity"].passed, str(verdicts["fourier_sparsity"])
    # 9 members at small size: the delay is measured (estimate above 2) but may not be shown
    delay = verdicts["grokking_delay"]
    assert delay.status in ("PASS", "INCONCLUSIVE") and delay.effect > 2.0, str(delay)
    # at 3 seeds the exponent may be unresolved, but its interval must not exclude Omnigrok's -1
    assert verdicts["wd_exponent"].status in ("PASS", "INCONCLUSIVE"), str(verdicts["wd_exponent"])


def test_train_accuracy_saturates_first(small):
    assert small.attrs["exponent_gamma"] == -1.0
    assert not small.censored_train.any()
    assert float(small.t_train.max()) < 0.2 * small.attrs.get("steps", sim.SMALL.steps)
    grokked = ~small.censored_test
    assert (small.t_test.where(grokked) > small.t_train.where(grokked)).sum() == int(grokked.sum())
    assert small.key_freqs.dims == ("weight_decay", "seed", "rank")
    assert int(small.key_freqs.min()) >= 1 and int(small.key_freqs.max()) <= sim.SMALL.p // 2
    np.testing.assert_array_less(small.gini.isel(step=0), 0.2)


def test_figure_script_at_small_size(small, tmp_path, capsys, monkeypatch):
    from paper_figs import power2022_fig1 as fig

    monkeypatch.setattr(fig.sim, "run", lambda size, **kw: small)  # reuse the fixture's run
    fig.main(["--size", "small", "--out", str(tmp_path)])
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    assert "key frequencies" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_size():
    # measured (module docstring): 3/3 hold, the exponent -0.96 [-1.31, -0.71]; ~7 min on 2 shared cores
    ds = sim.run("paper")
    failed = [str(v) for v in sim.check(ds) if not v.passed]
    assert not failed, "\n".join(failed)
