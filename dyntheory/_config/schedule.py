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
