"""Static axis coordinates select by value: a one-layer width by its integer, deeper ones readably."""

import numpy as np
import pytest

import dyntheory as dt


@pytest.fixture(scope="module")
def run():
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.MLP(widths=(8,)), steps=6,
                     batch_size=4, axes={"widths": [(8,), 16, (8, 8)], "lr": [0.05, 0.1]}, seeds=2, record=3)
    return dt.train(sweep, key=0)


def test_one_layer_width_selects_by_integer(run):
    ds = run.metrics
    assert list(ds["widths"].values) == [8, 16, "8,8"]
    assert ds["train_loss"].sel(widths=16).dims == ("lr", "seed", "step")
    assert ds["train_loss"].sel(widths="8,8").shape == (2, 2, 3)


@pytest.mark.parametrize("label", [16, (16,), "16", np.int64(16)])
def test_params_at_accepts_every_spelling_of_a_width(run, label):
    params = run.params_at(6, widths=label)
    assert np.asarray(params["layers"][0]["w"]).shape[-1] == 16


def test_params_at_unknown_width_names_the_available_ones(run):
    with pytest.raises(ValueError, match=r"no group with \{'widths': 32\}; available"):
        run.params_at(6, widths=32)


def test_branch_where_selects_a_width_by_integer(run):
    twin = dt.branch(run, step=3, changes={"lr": 0.01}, where={"widths": 16})
    b = twin.metrics["branched"]
    assert bool(b.sel(widths=16).all()) and not bool(b.sel(widths=8).any())


def test_state_at_is_labelled_with_metric_states_by_name():
    sweep = dt.Sweep(task=dt.tasks.TeacherStudent(d_in=4), model=dt.models.MLP(widths=(8,)), steps=4, batch_size=4,
                     axes={"lr": [0.01, 0.02]}, seeds=3, record=2, optimizer="adam",
                     metrics={"sharp": dt.Sharpness(), "xsum": lambda p, b: b.x.sum()})
    run = dt.train(sweep, key=0)
    st = run.state_at(4)
    w = st["params/layers/0/w"]
    assert w.dims == ("lr", "seed", "params/layers/0/w:0", "params/layers/0/w:1") and w.shape == (2, 3, 4, 8)
    assert list(st["lr"].values) == [0.01, 0.02] and st.attrs["step"] == 4
    np.testing.assert_array_equal(w.values, run.params_at(4)["layers"][0]["w"])
    assert any(k.startswith("metric_state/sharp/") for k in st.data_vars)  # the stateful metric, by name
    assert "opt_state/1/mu/layers/0/w" in st and st["diverged_at"].dims == ("lr", "seed")


def test_state_at_needs_the_static_axes_selected(run):
    with pytest.raises(ValueError, match=r"state_at: this run has compiled groups over \['widths'\]"):
        run.state_at(6)
    assert run.state_at(6, widths=16)["params/layers/0/w"].shape[-1] == 16
