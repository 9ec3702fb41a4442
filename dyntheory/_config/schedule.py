"""Recording schedules: when metrics are measured and when checkpoints are written."""

from __future__ import annotations

import math

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
    """At most ``n`` log-spaced checkpoint steps: 0, the powers of two and the last step.

    A schedule of ``n`` steps or fewer (``record`` with 0 and ``steps`` added) is kept whole.
    Otherwise the targets are 1, 2, 4, ... below ``steps`` (every ``2**k``-th power, ``k`` the
    smallest stride that leaves at most ``n - 2`` of them: ``k = 1`` up to ``2**30`` steps), and
    each target is taken as the nearest ``record`` step in ``log(step)``, itself where the record
    has it (Pythia-like records have every power of two to 512). So every checkpoint is also a
    record (no extra segment is run), and targets closer together than the record's steps share
    one.

    Example:
        >>> log_checkpoints(2000, pythia_schedule(2000))
        (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1021, 2000)
        >>> log_checkpoints(24, every(6, 24))  # short: kept whole
        (0, 6, 12, 18, 24)
    """
    pool = sorted({int(s) for s in record} | {0, steps})
    if len(pool) <= n:
        return tuple(pool)
    positive = np.asarray(pool[1:], dtype=float)
    stride = max(1, math.ceil(math.log2(steps) / max(n - 2, 1)))
    targets = np.log(2.0) * np.arange(0.0, math.log2(steps), stride)
    # Nearest in log(step): the first candidate at or past each target, or the one before it.
    logs = np.log(positive)
    right = np.clip(np.searchsorted(logs, targets), 0, len(logs) - 1)
    left = np.clip(right - 1, 0, len(logs) - 1)
    pick = np.where(np.abs(logs[left] - targets) <= np.abs(logs[right] - targets), left, right)
    return tuple(sorted({0, steps} | {int(positive[i]) for i in pick}))
