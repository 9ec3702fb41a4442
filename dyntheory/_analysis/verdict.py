"""Verdicts: the one-line outcome of every comparison between simulation and theory.

A :class:`Verdict` says what was measured, its bootstrap interval, the tolerance and how many
members it rests on (and how many non-finite ones were excluded). The checks that produce them live
beside the statistics they use: :func:`~dyntheory._analysis.stats.equivalence` (member means against
theory) and :func:`~dyntheory._analysis.slopes.slope_verdict` (fitted exponents against predicted ones).
:func:`aggregate` collects several into a :class:`Summary` table.

Example:
    >>> v = Verdict(name="toy", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.05,
    ...             n_members=64, label="rel.err")
    >>> print(v)
    PASS toy: rel.err 0.01 [0, 0.02] within ±0.05 (n=64 members)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import xarray as xr

__all__ = ["Summary", "Verdict", "aggregate"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome of one comparison between simulation and theory.

    Attributes:
        name: what was checked, e.g. ``"saxe_t_learn"``.
        passed: whether the check passed.
        effect: the measured discrepancy (e.g. relative error, or fitted minus predicted slope).
        interval: ``(lo, hi)`` bootstrap interval of ``effect``.
        tolerance: the allowed half-width around zero.
        n_members: finite members the verdict rests on.
        detail: one short clause (worst coordinate, fitted value, why it failed).
        label: how ``effect`` reads in the one-line summary (``"rel.err"``, ``"diff"``, ...).
        n_excluded: members excluded because their metric was not finite.
        per_coord: optional per-coordinate table behind the verdict (not compared or hashed).
    """

    name: str
    passed: bool
    effect: float
    interval: tuple[float, float]
    tolerance: float
    n_members: int
    detail: str = ""
    label: str = "effect"
    n_excluded: int = 0
    per_coord: xr.Dataset | None = dataclasses.field(default=None, compare=False, hash=False,
                                                     repr=False)

    def __post_init__(self):
        if len(self.interval) != 2:
            raise ValueError(f"Verdict {self.name!r}: interval must be (lo, hi), got {self.interval!r}")
        object.__setattr__(self, "interval", (float(self.interval[0]), float(self.interval[1])))
        object.__setattr__(self, "passed", bool(self.passed))

    def __str__(self) -> str:
        lo, hi = self.interval
        excluded = f", {self.n_excluded} non-finite excluded" if self.n_excluded else ""
        line = (f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.label} {self.effect:.3g} "
                f"[{lo:.3g}, {hi:.3g}] {'within' if self.passed else 'not within'} "
                f"±{self.tolerance:.3g} (n={self.n_members} members{excluded})")
        return f"{line}; {self.detail}" if self.detail else line

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-ready) dict of every field except ``per_coord``."""
        return {"name": self.name, "passed": self.passed, "effect": float(self.effect),
                "interval": [self.interval[0], self.interval[1]], "tolerance": float(self.tolerance),
                "n_members": int(self.n_members), "n_excluded": int(self.n_excluded),
                "label": self.label, "detail": self.detail}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    """Several verdicts at a glance; ``str()`` gives the table.

    Attributes:
        verdicts: the verdicts, in order.
        passed: True iff every verdict passed.
        n_passed: how many passed.
        failed: the verdicts that failed.
        table: one row per verdict and a final "k/n passed" line.
    """

    verdicts: tuple[Verdict, ...]
    passed: bool
    n_passed: int
    failed: tuple[Verdict, ...]
    table: str

    def __str__(self) -> str:
        return self.table


def aggregate(verdicts: Sequence[Verdict]) -> Summary:
    """Collect verdicts into a :class:`Summary` (``passed`` iff all passed; ``table`` to print).

    Example:
        >>> v = Verdict(name="a", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.1,
        ...             n_members=8)
        >>> s = aggregate([v]); s.passed, s.n_passed
        (True, 1)
    """
    verdicts = tuple(verdicts)
    for i, v in enumerate(verdicts):
        if not isinstance(v, Verdict):
            raise TypeError(f"aggregate: verdicts[{i}] is a {type(v).__name__}, not a Verdict")
    rows = [("", "name", "measure", "effect", "interval", "tol", "n")] + [
        ("PASS" if v.passed else "FAIL", v.name, v.label, f"{v.effect:.3g}",
         f"[{v.interval[0]:.3g}, {v.interval[1]:.3g}]", f"±{v.tolerance:.3g}",
         str(v.n_members) + (f" (-{v.n_excluded})" if v.n_excluded else "")) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    n_passed = sum(v.passed for v in verdicts)
    table = "\n".join(["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
                      + [f"{n_passed}/{len(verdicts)} passed"])
    return Summary(verdicts=verdicts, passed=n_passed == len(verdicts), n_passed=n_passed,
                   failed=tuple(v for v in verdicts if not v.passed), table=table)
