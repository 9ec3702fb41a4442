"""The ``dyntheory`` command: list and run simulation modules, draw figures, summarise stores.

Simulation and figure modules are found by name at run time (``sims.<name>``,
``paper_figs.<name>``, or any importable module path), so the engine never imports the floors
above it and a lab can run its own sims the same way: ``dyntheory run mylab.my_sim``. A sim is
any module with ``run(size, *, key, store)`` and ``check(ds)``; ``run`` prints its verdicts and
ends with one summary line, and exits 0 when every claim holds or fails only as a documented
known disagreement (``dyntheory.Known``).

The command gives jax one CPU device per usable core, as importing dyntheory does
(``dyntheory.use_cores``); ``DYNTHEORY_DEVICES=1`` keeps one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Mapping

import numpy as np

import dyntheory
from dyntheory._analysis.verdict import aggregate
from dyntheory._engine.store import Store

SIM_PACKAGE = "sims"
FIG_PACKAGE = "paper_figs"


def _modules(package: str) -> list[str]:
    try:
        pkg = importlib.import_module(package)
    except ImportError:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def _resolve(name: str, package: str):
    path = name if "." in name else f"{package}.{name}"
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name not in (path, package):
            raise
        known = ", ".join(_modules(package)) or "none found"
        raise SystemExit(f"dyntheory: no module {path!r}; available in {package}/: {known}") from None


def _first_line(module) -> str:
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def cmd_sims(args) -> int:
    for name in _modules(SIM_PACKAGE):
        mod = importlib.import_module(f"{SIM_PACKAGE}.{name}")
        if hasattr(mod, "run") and hasattr(mod, "check"):
            print(f"{name:28s} {_first_line(mod)}")
    return 0


def cmd_figures(args) -> int:
    for name in _modules(FIG_PACKAGE):
        print(f"{name:28s} {_first_line(importlib.import_module(f'{FIG_PACKAGE}.{name}'))}")
    return 0


def sizes_of(sim) -> tuple[str, ...] | None:
    """The size names a sim defines (the keys of its ``SIZES``, in order), or None if it has none."""
    sizes = getattr(sim, "SIZES", None)
    return tuple(sizes) if isinstance(sizes, Mapping) else None


def _check_size(size: str, sim) -> None:
    """``Refused`` naming ``--size``, the value and the sim's choices if ``size`` is not one of them
    (a sim without ``SIZES`` gets the name as given: its ``run`` judges it)."""
    names = sizes_of(sim)
    if names is not None and size not in names:
        raise Refused(f"--size {size!r} is not a size of {sim.__name__}; choose from {', '.join(names)}")


def cmd_run(args) -> int:
    mod = _resolve(args.sim, SIM_PACKAGE)
    if not (hasattr(mod, "run") and hasattr(mod, "check")):
        raise SystemExit(f"dyntheory: {mod.__name__} has no run() and check(): not a sim module")
    _check_size(args.size, mod)  # before any compute
    ds = mod.run(args.size, key=args.key, store=args.store)
    summary = aggregate(mod.check(ds))
    for v in summary.verdicts:
        print(v)
    print(summary.line)  # last: what holds, what failed, each known disagreement and why
    return 0 if summary.passed else 1


def cmd_figure(args) -> int:
    mod = _resolve(args.figure, FIG_PACKAGE)
    if getattr(mod, "sim", None) is not None:  # the figure's sim: its sizes are the choices
        _check_size(args.size, mod.sim)
    rc = mod.main(["--size", args.size, "--out", args.out])
    return rc if isinstance(rc, int) else 0  # some scripts return the figure's path


class Refused(Exception):
    """A one-line error for the command's user: printed without a traceback, exit status 2."""


def _unfinished(path: str, meta: dict) -> str:
    """How far an unfinished run got, from its store's progress marker."""
    cfg = meta["config"] if isinstance(meta["config"], dict) else json.loads(meta["config"])
    sizes = dict(zip(meta["dims"], meta["shape"]))
    groups = int(np.prod([sizes[d] for d in meta.get("static_dims", [])]))
    progress = meta.get("progress", {})
    done = sorted(int(g) for g, p in progress.items() if p.get("done"))
    going = [f"group {g} at step {p['step']} of {cfg['steps']}" + (f" in wave {p['wave'] + 1}" * bool(p.get("wave")))
             for g, p in sorted(progress.items(), key=lambda gp: int(gp[0])) if not p.get("done")]
    far = f"{len(done)} of {groups} compiled group{'s' * (groups != 1)} finished"
    return (f"store {path!r} is unfinished: {', '.join([far, *going])}; run the same dt.train call again "
            "to resume it (or summarise what it holds with --no-verify)")


def _open(path: str, verify: bool):
    """``dt.load(path)``, or ``Refused`` with one line saying why not."""
    if not Store.exists(path):
        what = "is not a directory" if os.path.exists(path) and not os.path.isdir(path) else (
            "holds no dyntheory store (no zarr.json)" if os.path.isdir(path) else "does not exist")
        raise Refused(f"{path!r} {what}")
    try:
        meta = Store.open(path, readonly=True).meta
        if verify and not meta.get("complete"):
            raise Refused(_unfinished(path, meta))
        return dyntheory.load(path, verify=verify)
    except (ValueError, OSError) as e:  # damaged, edited or not a dyntheory store: the engine names it
        raise Refused(str(e)) from None


def cmd_summary(args) -> int:
    run = _open(args.store, verify=not args.no_verify)
    ds = run.metrics
    cfg = json.loads(ds.attrs["config"])
    state = "verified" if not args.no_verify else "not checked"
    if not run.meta.get("complete"):
        state += "; the run is unfinished: unreached steps read as NaN"
    print(f"store     {args.store}  (manifest {state})")
    print(f"task      {cfg['task']['type']}  model {cfg['model']['type']}  optimizer {cfg['optimizer']}")
    members = int(np.prod([ds.sizes[d] for d in ds.diverged_at.dims]))
    print(f"dims      {dict(ds.sizes)}   members {members}")
    print(f"steps     {cfg['steps']}   records {ds.sizes['step']}   checkpoints {len(run.checkpoints)}")
    diverged = ds.diverged_at >= 0
    n_div = int(diverged.sum())
    print(f"diverged  {n_div} of {members} members" + (", excluded from the medians below" if n_div else ""))
    last = ds.isel(step=-1)
    for name in [v for v in ds.data_vars if "step" in ds[v].dims]:
        kept = last[name].where(~diverged)  # a diverged member's metrics say nothing of the rest
        vals = np.asarray(kept).ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size:
            q = np.percentile(vals, [5, 50, 95])
            print(f"{name:14s} final: median {q[1]:.4g}  (5%-95%: {q[0]:.4g} .. {q[2]:.4g}, n={vals.size}"
                  + (f"; {n_div} diverged excluded)" if n_div else ")"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: a subcommand per verb, every option with its help."""
    parser = argparse.ArgumentParser(prog="dyntheory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sims", help="list simulation modules", description="List the sims in sims/ with "
                   "their first docstring line.").set_defaults(fn=cmd_sims)
    sub.add_parser("figures", help="list figure scripts", description="List the figure scripts in "
                   "paper_figs/ with their first docstring line.").set_defaults(fn=cmd_figures)
    sizes = dict(default="small", metavar="SIZE",
                 help="a size the sim defines (its SIZES; an unknown one is refused with the choices): "
                      "small, reduced, seconds to a few minutes on a laptop; paper, the sizes of the "
                      "published figure; some sims define more, such as medium (default: %(default)s)")
    p = sub.add_parser("run", help="run a sim by name and print its verdicts",
                       description="Run a sim, check its claims and print a verdict per claim, then one "
                                   "summary line. Exit status 0 when every claim holds or fails only as a "
                                   "documented known disagreement, 1 otherwise.")
    p.add_argument("sim", help="a sim in sims/ (see `dyntheory sims`) or any importable module path "
                               "with run() and check()")
    p.add_argument("--size", **sizes)
    p.add_argument("--key", type=int, default=0,
                   help="the run's random key: every member's streams derive from it (default: %(default)s)")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="write the run to this Zarr store, resuming it if it is unfinished and loading it "
                        "if it is complete (default: keep the run in memory)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("figure", help="draw a paper figure by name",
                       description="Run a figure script's sim, draw the figure as a PNG and print its "
                                   "numbers and verdicts.")
    p.add_argument("figure", help="a script in paper_figs/ (see `dyntheory figures`) or a module path")
    p.add_argument("--size", **sizes)
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="directory the PNG is written to, created if missing (default: %(default)s)")
    p.set_defaults(fn=cmd_figure)
    p = sub.add_parser("summary", help="summarise a stored run",
                       description="Print a stored run's configuration, sizes, diverged members and the "
                                   "final value of each recorded metric (median and 5%-95% over the "
                                   "members that did not diverge). Exit status 2 when the store is missing, "
                                   "unfinished or fails its checks.")
    p.add_argument("store", help="the run's store directory (the store= of dt.train)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the label and sha256 manifest checks (faster on a large store; also "
                        "summarises an unfinished run)")
    p.set_defaults(fn=cmd_summary)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    dyntheory.use_cores()  # every core, unless told otherwise; a no-op after the import did it
    try:
        return args.fn(args)
    except Refused as e:
        print(f"dyntheory {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
