"""paper_figs/grokking_forecast_fig1.py draws the grokking forecasts' reliability diagrams.

The small grokking_forecast run takes about a minute on two busy cores, more than a fast test
file may, so the smoke test runs under the ``slow`` marker.
"""

import pytest


@pytest.mark.slow
def test_figure_script_at_small_size(tmp_path):
    from paper_figs import grokking_forecast_fig1 as fig

    path = fig.main(["--size", "small", "--out", str(tmp_path)])
    assert (tmp_path / "grokking_forecast_fig1.png").stat().st_size > 10_000
    assert path.endswith("grokking_forecast_fig1.png")
