"""Verdicts: the one-line outcome of every comparison between simulation and theory.

A :class:`Verdict` says what was measured, its bootstrap interval, the tolerance (or, for a
one-sided verdict, the bound) and how many members it rests on (and how many non-finite ones were
excluded). The checks that produce them live beside the statistics they use:
:func:`~dyntheory._analysis.stats.equivalence` (member statistics against theory or a bound) and
:func:`~dyntheory._analysis.slopes.slope_verdict` (fitted exponents against predicted ones).

A disagreement with theory that is understood and documented is declared once as a
:class:`Known`; :func:`mark_known` attaches it to its verdict, which then reads ``KNOWN`` while it
keeps failing in the documented direction, and is flagged (``XPASS``, or a plain ``FAIL``) when it
does not. A rule's verdict (``dyntheory.design``) may also be ``INCONCLUSIVE``: its interval
neither lies inside the margin nor clears it, so neither pass nor fail is shown; it says roughly
how many seeds would settle it. :func:`aggregate` collects verdicts into a :class:`Summary` whose ``line`` is the one-line
outcome of a run.

Example:
    >>> v = Verdict(name="toy", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.05,
    ...             n_members=64, label="rel.err")
    >>> print(v)
    PASS toy: rel.err 0.01 [0, 0.02] within ±0.05 (n=64 members)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import xarray as xr

__all__ = ["Known", "Summary", "Verdict", "aggregate", "interval_verdict", "mark_known"]

_SIDES = ("both", "above", "below")


def check_side(where: str, side: str) -> None:
    """``side`` is ``"both"``, ``"above"`` or ``"below"``."""
    if side not in _SIDES:
        raise ValueError(f"{where}: side must be one of {_SIDES}, got {side!r}")


def check_margin(where: str, side: str, tol: float | None, subject: str) -> None:
    """Two-sided, ``tol`` is a positive number; one-sided, the bound is the prediction and no
    ``tol`` applies (``subject`` names what is held against it)."""
    if side != "both" and tol is not None:
        raise ValueError(f"{where}: side={side!r} holds the {subject} against the bound predicted; tol does "
                         f"not apply (got tol={tol!r})")
    if side == "both" and not (tol is not None and math.isfinite(tol) and tol > 0):
        raise ValueError(f"{where}: tol must be a positive number, got {tol!r}")


def holds(lo, hi, side: str, margin):
    """Every verdict's rule: two-sided, the interval ``[lo, hi]`` lies within ``±margin``;
    one-sided, it lies strictly ``above`` (or ``below``) the bound ``margin``. Works on arrays."""
    if side == "both":
        return (lo >= -margin) & (hi <= margin)
    return lo > margin if side == "above" else hi < margin


@dataclasses.dataclass(frozen=True, kw_only=True)
class Known:
    """A documented disagreement between a sim and its theory: expected to fail, one way.

    Attributes:
        name: the verdict it concerns, e.g. ``"omnigrok_clock"``.
        reason: one line: what disagrees and why.
        where: where the disagreement is explained, e.g. ``"sims/grokking_weight_norm.py"``.
        direction: the documented direction of the failure: the verdict's whole interval lies
            ``"above"`` (or ``"below"``) zero for a two-sided verdict (the sign of the
            discrepancy), or its bound for a one-sided one.
        sizes: the sizes at which it is expected; ``None``: every size.

    Example:
        >>> k = Known(name="toy", reason="measured late", where="sims/toy.py", direction="above")
        >>> k.reproduced_by(Verdict(name="toy", passed=False, effect=0.3, interval=(0.2, 0.4),
        ...                         tolerance=0.1, n_members=8))
        True
    """

    name: str
    reason: str
    where: str
    direction: Literal["above", "below"]
    sizes: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.direction not in ("above", "below"):
            raise ValueError(f"Known {self.name!r}: direction must be 'above' or 'below', "
                             f"got {self.direction!r}")
        if not self.reason.strip() or "\n" in self.reason.strip():
            raise ValueError(f"Known {self.name!r}: reason must be one non-empty line")
        if self.sizes is not None:
            object.__setattr__(self, "sizes", tuple(self.sizes))

    def reproduced_by(self, v: Verdict) -> bool:
        """True iff ``v`` failed, with its interval wholly on the documented side."""
        ref = v.tolerance if v.side != "both" else 0.0
        lo, hi = v.interval
        return (not v.passed) and (lo > ref if self.direction == "above" else hi < ref)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome of one comparison between simulation and theory.

    Attributes:
        name: what was checked, e.g. ``"saxe_t_learn"``.
        passed: whether the check passed.
        effect: the measured discrepancy (e.g. relative error, or fitted minus predicted slope);
            for a one-sided verdict, the measured statistic itself.
        interval: ``(lo, hi)`` bootstrap interval of ``effect``.
        tolerance: the allowed half-width around zero (``side="both"``), or the bound the whole
            interval must lie above (``"above"``) or below (``"below"``).
        n_members: finite members the verdict rests on.
        detail: one short clause (worst coordinate, fitted value, why it failed).
        label: how ``effect`` reads in the one-line summary (``"rel.err"``, ``"diff"``, ...).
        n_excluded: members excluded because their metric was not finite.
        side: ``"both"`` (equivalence within ``±tolerance``) or a one-sided ``"above"``/``"below"``.
        known: the documented disagreement this verdict is expected to show (:func:`mark_known`).
        inconclusive: neither shown to hold nor shown to fail (``passed`` is then False): the
            interval straddles the margin's edge. Only rules (``dyntheory.design``) set it.
        seeds_to_settle: for an inconclusive verdict, roughly how many seeds would settle it if
            the estimate stayed where it is and the interval narrowed as ``1/sqrt(seeds)``.
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
    side: Literal["both", "above", "below"] = "both"
    known: Known | None = None
    inconclusive: bool = False
    seeds_to_settle: int | None = None
    per_coord: xr.Dataset | None = dataclasses.field(default=None, compare=False, hash=False,
                                                     repr=False)

    def __post_init__(self):
        if len(self.interval) != 2:
            raise ValueError(f"Verdict {self.name!r}: interval must be (lo, hi), got {self.interval!r}")
        check_side(f"Verdict {self.name!r}", self.side)
        if self.known is not None and self.known.name != self.name:
            raise ValueError(f"Verdict {self.name!r}: known disagreement is about {self.known.name!r}")
        object.__setattr__(self, "interval", (float(self.interval[0]), float(self.interval[1])))
        object.__setattr__(self, "passed", bool(self.passed))
        if self.inconclusive and self.passed:
            raise ValueError(f"Verdict {self.name!r}: an inconclusive verdict cannot have passed")

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``KNOWN`` (a known disagreement failing as documented), ``XPASS``
        (a known disagreement that passed: the documentation is out of date) or ``INCONCLUSIVE``
        (a rule's interval straddles its margin: more seeds needed)."""
        if self.inconclusive:
            return "INCONCLUSIVE"
        if self.known is None:
            return "PASS" if self.passed else "FAIL"
        if self.passed:
            return "XPASS"
        return "KNOWN" if self.known.reproduced_by(self) else "FAIL"

    def __str__(self) -> str:
        lo, hi = self.interval
        excluded = f", {self.n_excluded} non-finite excluded" if self.n_excluded else ""
        if self.inconclusive:
            bound = f"±{self.tolerance:.3g}" if self.side == "both" else f"{self.side} {self.tolerance:.3g}"
            more = "" if self.seeds_to_settle is None else f"; ~{self.seeds_to_settle} seeds would settle it"
            claim = f"straddles {bound}{more}"
        elif self.side == "both":
            claim = f"{'within' if self.passed else 'not within'} ±{self.tolerance:.3g}"
        else:
            claim = f"{self.side if self.passed else 'not ' + self.side} {self.tolerance:.3g}"
        line = (f"{self.status} {self.name}: {self.label} {self.effect:.3g} [{lo:.3g}, {hi:.3g}] "
                f"{claim} (n={self.n_members} members{excluded})")
        line = f"{line}; {self.detail}" if self.detail else line
        k = self.known
        if k is None:
            return line
        return line + {
            "KNOWN": f"; known disagreement, see {k.where}",
            "XPASS": f"; listed as a known disagreement ({k.where}) but passed: update it",
            "FAIL": f"; a known disagreement ({k.where}), but not {k.direction} as documented",
            # Neither reproduced nor refuted: name the documented direction the seeds would test.
            "INCONCLUSIVE": f"; a known disagreement ({k.where}, expected {k.direction}), not yet "
                            f"shown either way",
        }[self.status]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (JSON-ready) dict of every field except ``per_coord``."""
        return {"name": self.name, "passed": self.passed, "status": self.status,
                "effect": float(self.effect), "interval": [self.interval[0], self.interval[1]],
                "tolerance": float(self.tolerance), "side": self.side,
                "n_members": int(self.n_members), "n_excluded": int(self.n_excluded),
                "label": self.label, "detail": self.detail,
                "inconclusive": self.inconclusive, "seeds_to_settle": self.seeds_to_settle,
                "known": None if self.known is None else dataclasses.asdict(self.known)}


def interval_verdict(estimate: float, interval: tuple[float, float], *, predicted: float,
                     tol: float | None = None, side: Literal["both", "above", "below"] = "both",
                     name: str, n_members: int, label: str | None = None, detail: str = "",
                     n_excluded: int = 0) -> Verdict:
    """Hold any estimate with its interval (a fit's exponent, a ratio of medians) against theory.

    The rule of :func:`~dyntheory.equivalence`, for statistics it does not compute itself:
    two-sided, the whole interval of ``estimate - predicted`` must lie within ``±tol`` and the
    verdict reports that discrepancy; one-sided (``side="above"``/``"below"``), ``predicted`` is a
    bound the whole interval must clear strictly, and the verdict reports the estimate itself.

    Args:
        estimate: the point estimate.
        interval: its ``(lo, hi)`` confidence interval.
        predicted: the theory's value, or the bound of a one-sided verdict.
        tol: the margin; required two-sided, not allowed one-sided.
        side: ``"both"``, ``"above"`` or ``"below"``.
        name: identifier printed in the verdict.
        n_members: members (or points) the estimate rests on.
        label: how the effect reads (default ``"est-pred"`` two-sided, ``"estimate"`` one-sided).
        detail: one short clause.
        n_excluded: members left out because their value was not finite.

    Example:
        >>> print(interval_verdict(0.33, (0.27, 0.39), predicted=0.4, tol=0.15, name="exp",
        ...                        n_members=15, label="exp-pred"))
        PASS exp: exp-pred -0.07 [-0.13, -0.01] within ±0.15 (n=15 members)
    """
    lo, hi = float(interval[0]), float(interval[1])
    check_side(f"interval_verdict {name!r}", side)
    check_margin(f"interval_verdict {name!r}", side, tol, "estimate")
    if side == "both":
        lo, hi = lo - predicted, hi - predicted
        return Verdict(name=name, passed=holds(lo, hi, side, tol), effect=estimate - predicted,
                       interval=(lo, hi), tolerance=float(tol), n_members=n_members,
                       detail=detail, label=label or "est-pred", n_excluded=n_excluded)
    return Verdict(name=name, passed=holds(lo, hi, side, predicted),
                   effect=estimate, interval=(lo, hi), tolerance=float(predicted), side=side,
                   n_members=n_members, detail=detail, label=label or "estimate",
                   n_excluded=n_excluded)


def mark_known(verdicts: Iterable[Verdict], known: Iterable[Known], *, size: str | None = None
               ) -> list[Verdict]:
    """Attach each documented disagreement (for ``size``) to the verdict it names.

    Args:
        verdicts: a sim's verdicts.
        known: its documented disagreements.
        size: the run's size; a :class:`Known` whose ``sizes`` exclude it is left out.

    Returns:
        The verdicts, in order, those named by a :class:`Known` carrying it.

    Raises:
        ValueError: a disagreement expected at ``size`` names no verdict (a renamed check).

    Example:
        >>> v = Verdict(name="clock", passed=False, effect=3.0, interval=(2.0, 4.0), tolerance=0.5,
        ...             n_members=12, label="rel.err")
        >>> k = Known(name="clock", reason="decays slower", where="sims/toy.py", direction="above")
        >>> mark_known([v], [k])[0].status
        'KNOWN'
    """
    verdicts = list(verdicts)
    by_name = {k.name: k for k in known if size is None or k.sizes is None or size in k.sizes}
    missing = sorted(set(by_name) - {v.name for v in verdicts})
    if missing:
        raise ValueError(f"mark_known: known disagreements {missing} name no verdict; verdicts are "
                         f"{[v.name for v in verdicts]}")
    return [dataclasses.replace(v, known=by_name[v.name]) if v.name in by_name else v
            for v in verdicts]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    """Several verdicts at a glance; ``str()`` gives the table, ``line`` the one-line outcome.

    Attributes:
        verdicts: the verdicts, in order.
        passed: True iff every verdict passed or is a known disagreement failing as documented.
        n_passed: how many passed.
        failed: the verdicts whose status is ``FAIL``.
        known: the known disagreements that failed as documented (status ``KNOWN``).
        xpassed: the known disagreements that passed (status ``XPASS``).
        table: one row per verdict and ``line``.
        line: how many claims hold, what failed, and each known disagreement with its reason.
        inconclusive: the verdicts whose status is ``INCONCLUSIVE`` (they keep ``passed`` False:
            a claim not yet shown does not hold).
    """

    verdicts: tuple[Verdict, ...]
    passed: bool
    n_passed: int
    failed: tuple[Verdict, ...]
    known: tuple[Verdict, ...]
    xpassed: tuple[Verdict, ...]
    table: str
    line: str
    inconclusive: tuple[Verdict, ...] = ()

    def __str__(self) -> str:
        return self.table


def aggregate(verdicts: Sequence[Verdict]) -> Summary:
    """Collect verdicts into a :class:`Summary` (``table`` and ``line`` to print).

    Example:
        >>> v = Verdict(name="a", passed=True, effect=0.01, interval=(0.0, 0.02), tolerance=0.1,
        ...             n_members=8)
        >>> s = aggregate([v]); s.passed, s.line
        (True, '1/1 claims hold')
    """
    verdicts = tuple(verdicts)
    for i, v in enumerate(verdicts):
        if not isinstance(v, Verdict):
            raise TypeError(f"aggregate: verdicts[{i}] is a {type(v).__name__}, not a Verdict")
    bound = {"both": "±", "above": ">", "below": "<"}
    rows = [("", "name", "measure", "effect", "interval", "tol", "n")] + [
        (v.status, v.name, v.label, f"{v.effect:.3g}",
         f"[{v.interval[0]:.3g}, {v.interval[1]:.3g}]", f"{bound[v.side]}{v.tolerance:.3g}",
         str(v.n_members) + (f" (-{v.n_excluded})" if v.n_excluded else "")) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    pick = lambda status: tuple(v for v in verdicts if v.status == status)  # noqa: E731
    failed, known, xpassed = pick("FAIL"), pick("KNOWN"), pick("XPASS")
    inconclusive = pick("INCONCLUSIVE")
    n_passed = sum(v.passed for v in verdicts)
    parts = [f"{n_passed}/{len(verdicts)} claims hold"]
    if failed:
        parts.append(f"FAILED: {', '.join(v.name for v in failed)}")
    if inconclusive:
        parts.append(f"INCONCLUSIVE: {', '.join(v.name for v in inconclusive)}")
    if xpassed:
        parts.append(f"known disagreement(s) now passing, update them: "
                     f"{', '.join(v.name for v in xpassed)}")
    parts += [f"KNOWN {v.name}: {v.known.reason} (see {v.known.where})" for v in known]
    line = "; ".join(parts)
    table = "\n".join(["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
                      + [line])
    return Summary(verdicts=verdicts, passed=not failed and not xpassed and not inconclusive,
                   n_passed=n_passed, failed=failed, known=known, xpassed=xpassed, table=table,
                   line=line, inconclusive=inconclusive)
