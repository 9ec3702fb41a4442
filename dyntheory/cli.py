"""The ``dyntheory`` command: list and run simulation modules, draw figures, summarise stores.

Simulation and figure modules are found by name at run time (``sims.<name>``,
``paper_figs.<name>``, or any importable module path), so the engine never imports the floors
above it and a lab can run its own sims the same way: ``dyntheory run mylab.my_sim``. A sim is
any module with ``run(size, *, key, store)`` and ``check(ds)``; ``run`` prints its verdicts and
ends with one summary line, and exits 0 when every claim holds or fails only as a documented
known disagreement (``dyntheory.Known``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import numpy as np

from dyntheory._analysis.verdict import aggregate

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


def cmd_run(args) -> int:
    mod = _resolve(args.sim, SIM_PACKAGE)
    if not (hasattr(mod, "run") and hasattr(mod, "check")):
        raise SystemExit(f"dyntheory: {mod.__name__} has no run() and check(): not a sim module")
    ds = mod.run(args.size, key=args.key, store=args.store)
    summary = aggregate(mod.check(ds))
    for v in summary.verdicts:
        print(v)
    print(summary.line)  # last: what holds, what failed, each known disagreement and why
    return 0 if summary.passed else 1


def cmd_figure(args) -> int:
    mod = _resolve(args.figure, FIG_PACKAGE)
    rc = mod.main(["--size", args.size, "--out", args.out])
    return rc if isinstance(rc, int) else 0  # some scripts return the figure's path


def cmd_summary(args) -> int:
    from dyntheory import load

    run = load(args.store, verify=not args.no_verify)
    ds = run.metrics
    cfg = json.loads(ds.attrs["config"])
    print(f"store     {args.store}  (manifest {'verified' if not args.no_verify else 'not checked'})")
    print(f"task      {cfg['task']['type']}  model {cfg['model']['type']}  optimizer {cfg['optimizer']}")
    print(f"dims      {dict(ds.sizes)}   members {int(np.prod([ds.sizes[d] for d in ds.diverged_at.dims]))}")
    print(f"steps     {cfg['steps']}   records {ds.sizes['step']}   checkpoints {len(run.checkpoints)}")
    div = int((ds.diverged_at >= 0).sum())
    print(f"diverged  {div} members")
    last = ds.isel(step=-1)
    for name in [v for v in ds.data_vars if "step" in ds[v].dims]:
        vals = np.asarray(last[name]).ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size:
            q = np.percentile(vals, [5, 50, 95])
            print(f"{name:14s} final: median {q[1]:.4g}  (5%-95%: {q[0]:.4g} .. {q[2]:.4g}, n={vals.size})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dyntheory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sims", help="list simulation modules").set_defaults(fn=cmd_sims)
    sub.add_parser("figures", help="list figure scripts").set_defaults(fn=cmd_figures)
    p = sub.add_parser("run", help="run a sim by name and print its verdicts")
    p.add_argument("sim")
    p.add_argument("--size", choices=("small", "paper"), default="small")
    p.add_argument("--key", type=int, default=0)
    p.add_argument("--store", default=None)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("figure", help="draw a paper figure by name")
    p.add_argument("figure")
    p.add_argument("--size", choices=("small", "paper"), default="paper")
    p.add_argument("--out", default="figures")
    p.set_defaults(fn=cmd_figure)
    p = sub.add_parser("summary", help="summarise a stored run")
    p.add_argument("store")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 manifest check")
    p.set_defaults(fn=cmd_summary)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
