"""Small sweeps shared by the engine tests."""

import json
import os

import dyntheory as dt


def small_sweep(**overrides) -> dt.Sweep:
    base = dict(
        task=dt.tasks.TeacherStudent(d_in=4, d_out=2, noise=0.1),
        model=dt.models.MLP(widths=(8,), activation="tanh"),
        optimizer="momentum", steps=24, batch_size=8,
        axes={"lr": [0.05, 0.1, 0.2], "init_scale": [0.5, 1.0]}, seeds=3, record=6,
    )
    base.update(overrides)
    return dt.Sweep(**base)


def member(run: dt.Run, **coords):
    return run.metrics.sel(**coords)


def store_progress(path, gid: int = 0):
    """The progress marker a (possibly running) ``dt.train`` committed to the store at ``path``."""
    try:
        with open(os.path.join(path, "zarr.json")) as f:
            return json.load(f)["attributes"]["dyntheory"]["progress"].get(str(gid))
    except (OSError, ValueError, KeyError):
        return None
