"""Recording schedules: when metrics are measured and when checkpoints are written."""

from __future__ import annotations

import numpy as np


def pythia_schedule(steps: int, *, n_linear: int = 143, log_until: int = 512) -> tuple[int, ...]:
    """Steps 0, 1, 2, 4, ..., 512 then ``n_linear`` evenly spaced steps up to ``steps``.

    This is Pythia's 154-checkpoint schedule (Biderman et al. 2023, arXiv 2304.01373: 0, powers of
    two to 512, then every 1000 of 143000 steps) scaled to the run length; duplicates are merged,
    so short runs get fewer points.

    Example:
        >>> pythia_schedule(16, n_linear=4)
        (0, 1, 2, 4, 8, 12, 16)
    """
    logs = [0] + [2 ** i for i in range(int(np.log2(log_until)) + 1) if 2 ** i <= min(log_until, steps)]
    lin = np.round(np.linspace(0, steps, n_linear + 1)[1:]).astype(int).tolist()
    return tuple(sorted(set(logs) | set(lin)))


def every(k: int, steps: int) -> tuple[int, ...]:
    """Steps 0, k, 2k, ... and the last step."""
    return tuple(sorted(set(range(0, steps + 1, k)) | {steps}))


# The most checkpoints a sweep stores by default: every one holds every member's full training
# state (parameters and optimizer state), where a record holds a few scalars per member.
DEFAULT_CHECKPOINTS = 32


def log_checkpoints(steps: int, record=(), n: int = DEFAULT_CHECKPOINTS) -> tuple[int, ...]:
    """At most ``n`` log-spaced checkpoint steps: 0, the last step, and steps between spaced evenly
    in ``log(step)``, taken from ``record`` (so that a checkpoint is also a record, and no extra
    segment is run) where it has them.

    A schedule of ``n`` steps or fewer (``record`` with 0 and ``steps`` added) is kept whole.
    Otherwise each of ``n - 2`` targets spaced geometrically from the first positive step to
    ``steps`` takes the nearest candidate in ``log(step)``; targets closer together than the
    candidates (early on) share one, so a run may get fewer than ``n``.

    Example:
        >>> log_checkpoints(300, pythia_schedule(300), n=12)
        (0, 1, 2, 4, 6, 13, 23, 44, 84, 159, 300)
    """
    pool = sorted({int(s) for s in record} | {0, steps})
    if len(pool) <= n:
        return tuple(pool)
    positive = np.asarray(pool[1:], dtype=float)
    targets = np.geomspace(positive[0], steps, max(n - 2, 1))
    # Nearest in log(step): the first candidate at or past each target, or the one before it.
    right = np.clip(np.searchsorted(positive, targets), 0, len(positive) - 1)
    left = np.clip(right - 1, 0, len(positive) - 1)
    logs = np.log(positive)
    pick = np.where(np.abs(logs[left] - np.log(targets)) <= np.abs(logs[right] - np.log(targets)), left, right)
    return tuple(sorted({0, steps} | {int(positive[i]) for i in pick}))
