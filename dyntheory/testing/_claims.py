"""Property-test a theory claim against a simulation, at configurations drawn inside its validity region.

A :class:`~dyntheory.TheoryResult` states where it applies: the sympy assumptions on its symbols
(``positive=True``, ``integer=True``, ...), its ``validity`` relations and a ``domain`` box to test
in. :func:`configs` turns that region into a hypothesis strategy; :func:`check_claim` holds one
simulated observation against the prediction with a :class:`~dyntheory.Verdict`;
:func:`property_test` joins the two into a ready-made test. Hypothesis hunts for the edges of the
region (e.g. ``eta * lambda`` just below 1), which is where hand-picked test points rarely look,
so state claims that hold up to the boundary or narrow the box with ``bounds``.

Drawing: inputs in declaration order, each from its box (``bounds``, else ``domain``) narrowed by
every relation linear in it with a slope of known sign (``eta * lam < 2`` gives ``eta < 2 / lam``
once ``lam`` is drawn). Floats are drawn strictly inside, log-uniformly when the box spans a factor
``log_ratio``; integer symbols draw integers. The full conjunction then filters every draw, so
nonlinear relations (``(2 beta - 1) / alpha > -2``) hold too. Values are float64, judged in
float64: a float32 simulation may round a value within float32 precision of an edge onto it.

Judging: with a member dimension (``over="seed"``) the bootstrap interval of the
discrepancy must lie within ``±tol`` at every coordinate (:func:`~dyntheory.equivalence`); without
one the observation is taken as deterministic and its worst discrepancy must be within ``tol``.

Example: gradient descent on ``0.5 * lam * x**2`` contracts ``x`` by ``1 - eta * lam`` per step.
    >>> import numpy as np, sympy as sp, xarray as xr
    >>> import dyntheory as dt
    >>> from dyntheory import testing
    >>> eta, lam, x0 = sp.symbols("eta lambda x_0", positive=True)
    >>> t = sp.Symbol("t", nonnegative=True)
    >>> decay = dt.TheoryResult(
    ...     name="quadratic_gd", outputs={"x": x0 * (1 - eta * lam) ** t},
    ...     symbols={"eta": (eta, "step size"), "lam": (lam, "curvature"),
    ...              "x0": (x0, "initial point"), "t": (t, "step")},
    ...     validity=(eta * lam < 1,), citation="textbook",
    ...     domain={"eta": (1e-3, 1.0), "lam": (0.1, 10.0), "x0": (0.1, 10.0)})
    >>> def simulate(cfg):  # 20 GD steps; the steps are the coordinate t
    ...     xs = [cfg["x0"]]
    ...     for _ in range(19):
    ...         xs.append(xs[-1] - cfg["eta"] * cfg["lam"] * xs[-1])
    ...     return xr.DataArray(xs, dims="t", coords={"t": np.arange(20)})
    >>> # Near eta * lam = 1 the contraction cancels to rounding, so compare absolute errors.
    >>> test_decay = testing.property_test(decay, simulate, output="x", tol=1e-9,
    ...                                    relative=False, omit=("t",))
    >>> test_decay()  # a pytest test when assigned to a test_* name; here run by hand
    >>> print(testing.check_claim(decay, {"eta": 0.5, "lam": 1.0, "x0": 1.0},
    ...                           simulate({"eta": 0.5, "lam": 1.0, "x0": 1.0}), output="x", tol=1e-9))
    PASS quadratic_gd.x: max rel.err 0 [0, 0] within ±1e-09 (n=1 members); deterministic, worst at t=0

    The same test written by hand, e.g. to simulate once and check several outputs:

    >>> from hypothesis import given, settings
    >>> @settings(deadline=None)  # the first call compiles the theory's JAX function
    ... @given(testing.configs(decay, omit=("t",), bounds={"eta": (0.01, 0.05)}))
    ... def test_slow_decay(cfg):
    ...     testing.check_claim(decay, cfg, simulate(cfg), output="x", tol=1e-12)
    >>> test_slow_decay()

    A stochastic simulation returns a ``seed`` dimension (e.g. ``dt.train(...).metrics``) and is
    judged by the bootstrap interval over seeds instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis
import numpy as np
import xarray as xr
from hypothesis import strategies as st

from dyntheory.testing._regions import Region
from dyntheory._analysis.stats import equivalence
from dyntheory._analysis.theory import TheoryResult
from dyntheory._analysis.verdict import Verdict

__all__ = ["check_claim", "configs", "property_test"]

def configs(result: TheoryResult, *, fixed: Mapping[str, float] | None = None,
            bounds: Mapping[str, tuple[float, float]] | None = None, omit: tuple[str, ...] = (),
            log_ratio: float = 100.0) -> st.SearchStrategy[dict[str, float]]:
    """A hypothesis strategy of input configurations strictly inside ``result``'s validity region.

    The region is the conjunction of ``result.validity`` and the sympy assumptions of the symbols
    (``positive``, ``nonnegative``, ``negative``, ``nonpositive``, ``integer``), inside the box
    ``result.domain``. The region is checked when the strategy is built: an input with no finite
    box, or a region left empty by ``fixed``/``bounds``, raises ``ValueError`` naming the input
    or relation.

    Args:
        result: the theory result.
        fixed: input name -> value held constant (included in every configuration).
        bounds: input name -> ``(low, high)``, replacing ``result.domain`` for that input; still
            intersected with the validity relations and assumptions.
        omit: inputs not drawn, typically the coordinates a simulation supplies (e.g. ``"t"``).
            Relations that involve them are left to :func:`check_claim`.
        log_ratio: positive float boxes with ``high / low >= log_ratio`` draw log-uniformly
            (``math.inf`` never does).

    Returns:
        A strategy of ``{input name: value}`` (floats; ints for integer symbols) over every input
        but ``omit``.

    Example:
        >>> import sympy as sp
        >>> w0, wc = sp.symbols("w_0 w_c", positive=True)
        >>> res = TheoryResult(name="toy", outputs={"r": w0 / wc}, validity=(w0 > wc,),
        ...                    symbols={"w0": (w0, ""), "wc": (wc, "")},
        ...                    domain={"w0": (1.0, 5.0), "wc": (0.1, 10.0)})
        >>> from hypothesis import given
        >>> @given(configs(res))
        ... def test_ordered(cfg):
        ...     assert cfg["w0"] > cfg["wc"]
        >>> test_ordered()
    """
    region = Region(result, dict(fixed or {}), dict(bounds or {}), tuple(omit), log_ratio)

    @st.composite
    def config(draw: Callable[..., Any]) -> dict[str, float]:
        values = region.draw(draw)
        return {n: values[n] for n in result.inputs if n in values}

    return config()


def _fmt(config: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}"
                           for k, v in config.items()) + "}"


def _where(da: xr.DataArray, flat_index: int) -> str:
    pos = np.unravel_index(flat_index, da.shape)
    return ", ".join(f"{d}={da[d].values[i].item() if d in da.coords else i}" for d, i in zip(da.dims, pos))


def check_claim(result: TheoryResult, config: Mapping[str, float], observed: xr.DataArray | xr.Dataset,
                *, output: str, tol: float, relative: bool = True, over: str = "seed",
                names: Mapping[str, str] | None = None, level: float = 0.95, n_boot: int = 2000,
                name: str | None = None) -> Verdict:
    """Hold one observation against ``result``'s output at ``config``; raise if it disagrees.

    Inputs in ``config`` are numbers; every other input is looked up by name (or ``names``) among
    ``observed``'s coordinates (and, for a Dataset, its variables, e.g. a per-seed initial value),
    so the prediction broadcasts against the observation. With a member dimension ``over`` the
    claim passes iff, at every coordinate, the bootstrap interval of the member-mean discrepancy
    lies within ``±tol`` (:func:`~dyntheory.equivalence`); otherwise the observation is treated as
    deterministic and its worst discrepancy must be within ``tol``.

    Args:
        result: the theory result.
        config: input values (e.g. drawn by :func:`configs`).
        observed: the simulated output, or a Dataset holding it as the variable ``output``.
        output: which output of ``result`` is claimed.
        tol: allowed relative (``relative=True``) or absolute discrepancy.
        relative: compare ``(sim - theory) / |theory|`` instead of ``sim - theory`` (with a
            prediction per member, ``sim / theory - 1`` member by member).
        over: the member (seed) dimension, if ``observed`` has one.
        names: input name -> coordinate name in ``observed`` where they differ.
        level, n_boot: confidence level and resamples of the bootstrap interval.
        name: verdict name; ``"<result.name>.<output>"`` by default.

    Returns:
        The passing :class:`~dyntheory.Verdict`.

    Raises:
        AssertionError: the claim fails; the message holds the config and the verdict line.
        ValueError: the observation's coordinates leave the validity region or do not match the
            prediction's, or a relative comparison meets a zero prediction.
    """
    name = name or f"{result.name}.{output}"
    at = f"check_claim {name!r}: at config {_fmt(config)}"
    if output not in result.outputs:
        raise ValueError(f"check_claim {name!r}: {result.name!r} has no output {output!r}; "
                         f"outputs are {list(result.outputs)}")
    unknown = [k for k in config if k not in result.symbols]
    if unknown:
        raise ValueError(f"{at}: unknown inputs {unknown}; inputs are {list(result.inputs)}")
    sim = observed[output] if isinstance(observed, xr.Dataset) else observed
    coords = observed if isinstance(observed, xr.Dataset) else dict(observed.coords)
    theory = result.evaluate(coords, names=names, **config)
    valid = theory.theory_valid
    if not bool(valid.all()):
        raise ValueError(f"{at}: the observation's coordinates leave the validity region "
                         f"{list(map(str, result.validity))}, e.g. at "
                         f"{_where(valid, int(np.argmin(valid.values.ravel()))) or 'the config'}")
    try:
        sim, th = xr.align(sim, theory[f"theory_{output}"], join="exact")
    except ValueError as err:
        raise ValueError(f"{at}: observation and prediction coordinates differ: {err}") from None
    if relative and bool((th == 0).any()):
        raise ValueError(f"{at}: the prediction is 0 somewhere; use relative=False")
    label = "rel.err" if relative else "abs.err"
    if over in sim.dims:
        if over in th.dims:  # per-member predictions: the member mean of sim/th - 1 (or sim - th)
            # Dividing by th, not |th|, keeps the sign of a systematic error when th changes sign.
            err = (sim - th) / (th if relative else 1.0)
            verdict = equivalence(err, 0.0, over=over, tol=tol, relative=False, level=level, name=name,
                                  n_boot=n_boot)
            verdict = dataclasses.replace(verdict, label=label)
        else:
            verdict = equivalence(sim, th, over=over, tol=tol, relative=relative, level=level,
                                  name=name, n_boot=n_boot)
    else:  # deterministic: no spread to build an interval from
        err = abs(sim - th) / (abs(th) if relative else 1.0)
        flat = np.where(np.isfinite(err.values), err.values, np.inf).ravel()
        worst = int(np.argmax(flat))
        where = _where(err, worst)
        verdict = Verdict(name=name, passed=bool(flat[worst] <= tol), effect=float(flat[worst]),
                          interval=(float(flat[worst]),) * 2, tolerance=float(tol), n_members=1,
                          label=f"max {label}",
                          detail="deterministic" + (f", worst at {where}" if where else ""))
    if not verdict.passed:
        raise AssertionError(f"claim {name!r} fails at config {_fmt(config)}:\n  {verdict}")
    return verdict


def property_test(result: TheoryResult, simulate: Callable[[dict[str, float]], xr.DataArray | xr.Dataset],
                  *, output: str, tol: float, fixed: Mapping[str, float] | None = None,
                  bounds: Mapping[str, tuple[float, float]] | None = None, omit: tuple[str, ...] = (),
                  settings: hypothesis.settings | None = None, **check: Any) -> Callable[[], None]:
    """A hypothesis test: at each drawn configuration, ``check_claim(result, cfg, simulate(cfg))``.

    Assign the result to a ``test_*`` name in a test module for pytest to collect it, or call it.

    Args:
        result: the theory result.
        simulate: ``config -> observation``, as accepted by :func:`check_claim`.
        output, tol: as in :func:`check_claim`; further keywords (``relative``, ``over``,
            ``names``, ``level``, ``n_boot``) pass through to it.
        fixed, bounds, omit: as in :func:`configs`.
        settings: hypothesis settings (e.g. ``hypothesis.settings(max_examples=3)``), the loaded
            profile by default; the deadline is always off, as a simulation compiles on first call.

    Returns:
        A zero-argument test function; it raises the claim's ``AssertionError`` (after
        hypothesis has shrunk the configuration) when the claim fails.
    """
    strategy = configs(result, fixed=fixed, bounds=bounds, omit=omit)

    @hypothesis.given(config=strategy)
    def test(config: dict[str, float]) -> None:
        check_claim(result, config, simulate(config), output=output, tol=tol, **check)

    # JAX compiles on a simulation's first call: a wall-clock deadline would flag that as flaky.
    test = hypothesis.settings(settings or hypothesis.settings(), deadline=None)(test)
    test.__name__ = test.__qualname__ = f"test_{result.name}_{output}"
    return test
