"""What every figure script shares: its command line, running the sim, the verdicts, the PNG.

A script keeps its drawing and whatever numbers it prints besides the verdicts; its ``main`` is
one call that parses ``--size`` (one of the sim's ``SIZES``; default ``small``, as ``dyntheory
figure``) and ``--out`` (default ``figures/``), runs and checks the sim, draws
``<out>/<stem>.png``, prints the report, the path, every verdict and, last, one summary line
(``dt.aggregate``): how many claims hold, and each known disagreement of the sim (``KNOWN``, with
its reason and where it is explained) instead of a bare ``FAIL``::

    def main(argv=None) -> int:
        _common.main(argv, doc=__doc__, sim=sim, stem=NAME, draw=draw, report=report)
        return 0

Importing this module selects matplotlib's non-interactive Agg backend (pyplot picks its backend
on first use, so importing pyplot before this module is fine), so the scripts draw without a
display. The module name starts with ``_``, so ``dyntheory figures`` does not list it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

import dyntheory as dt

matplotlib.use("Agg")

__all__ = ["main", "parse_args", "save", "verdict_box"]


def parse_args(argv: Sequence[str] | None, doc: str, sizes: Sequence[str] | None = None) -> argparse.Namespace:
    """The figure command line: ``--size`` (one of ``sizes``, the sim's ``SIZES`` names; default
    small and paper) and ``--out DIR``. An unknown size exits with argparse's error, which names
    ``--size``, the value and the choices."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    choices = tuple(sizes) if sizes is not None else ("small", "paper")
    parser.add_argument("--size", choices=choices, default="small",
                        help=f"one of the sim's sizes: {', '.join(choices)} (default: %(default)s)")
    parser.add_argument("--out", default="figures/", help="directory of the PNG (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None, *, doc: str, sim: Any, stem: str, draw: Callable[..., Any],
         report: Callable[..., None] | None = None, verdicts_in_figure: bool = False) -> str:
    """Run ``sim`` at ``--size``, draw, print the report, verdicts and summary; return the PNG's path.

    Args:
        argv: command-line arguments (None: ``sys.argv``).
        doc: the script's docstring; its first line describes the command.
        sim: the sim module; ``sim.run(size)`` and ``sim.check(ds)`` are looked up at call time.
        stem: file name of the figure, without ``.png``.
        draw: ``draw(ds, path)``, or ``draw(ds, verdicts, path)`` when ``verdicts_in_figure``.
            Whatever it returns other than None (the fits it drew, say) is passed on to
            ``report`` as its second argument.
        report: prints the figure's numbers before the verdicts: ``report(ds)`` or
            ``report(ds, drawn)``.
        verdicts_in_figure: hand the verdicts to ``draw`` (to print them on the figure).
    """
    sizes = getattr(sim, "SIZES", None)
    args = parse_args(argv, doc, sizes=tuple(sizes) if isinstance(sizes, Mapping) else None)
    ds = sim.run(args.size)
    verdicts = sim.check(ds)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{stem}.png")
    drawn = draw(ds, verdicts, path) if verdicts_in_figure else draw(ds, path)
    if report is not None and drawn is None:
        report(ds)
    elif report is not None:
        report(ds, drawn)
    print(f"wrote {path}")
    summary = dt.aggregate(verdicts)
    for v in summary.verdicts:
        print(v)
    print(summary.line)
    return path


def save(fig, path: str) -> None:
    """Write ``fig`` to ``path`` at the figures' resolution and close it."""
    fig.savefig(path, dpi=130)
    plt.close(fig)


def verdict_box(ax, verdicts: Sequence[Any]) -> None:
    """Print one line per verdict (status, effect, interval, tolerance) in ``ax``'s lower left."""
    bound = {"both": "tol ±", "above": ">", "below": "<"}
    text = "\n".join(f"{v.status} {v.name}: {v.effect:+.3g} [{v.interval[0]:+.3g}, "
                     f"{v.interval[1]:+.3g}] {bound[v.side]}{v.tolerance:.2g}" for v in verdicts)
    ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=6.5, va="bottom", family="monospace")
