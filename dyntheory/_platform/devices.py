"""Every core by default: one jax CPU device per core this process may use.

On one CPU device XLA:CPU runs the engine's small operations on about one core. Measured
2026-12-04 on a 2-core AMD EPYC: W1 at 10,000 members ran 146,435 model-steps/s on one device and
324,458 on two (2.2x); see docs/benchmarks.md. So importing dyntheory (and the ``dyntheory``
command, always) gives jax one CPU device per usable core, counted with the CPU affinity and the
cgroup (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) quota in mind, through
``jax_num_cpu_devices``, which jax reads when its CPU backend starts.

It leaves jax's device count alone where the user chose one (``--xla_force_host_platform_device_count``
in ``XLA_FLAGS``, or ``jax_num_cpu_devices`` set before dyntheory was imported), where an
accelerator will be jax's default backend (``JAX_PLATFORMS`` naming another platform first, or,
with ``JAX_PLATFORMS`` unset, a jax plugin or libtpu installed: those are found without starting
a backend), and once jax's backends have started (then it warns once and the run uses the devices
jax has). ``DYNTHEORY_DEVICES=N`` or ``use_cores(N)`` gives jax N devices instead; N=1 is the
one-device behaviour of jax itself.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import pkgutil
import re
import warnings
from collections.abc import Mapping

import jax

ENV = "DYNTHEORY_DEVICES"
FLAG = "--xla_force_host_platform_device_count"
CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "<quota> <period>" or "max <period>"
CFS_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"  # cgroup v1: -1 for none
CFS_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_period_us"

_state = {"ours": None, "warned": False}  # the count dyntheory set itself; whether it has warned


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def quota_cores(cpu_max: str = CPU_MAX, cfs_quota: str = CFS_QUOTA, cfs_period: str = CFS_PERIOD) -> float | None:
    """The cgroup's CPU quota in cores (1.5 for 150 ms each 100 ms), or None where there is none."""
    v2 = _read(cpu_max)
    if v2:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota, period = _read(cfs_quota), _read(cfs_period)
    if quota and period and int(quota) > 0 and int(period) > 0:
        return int(quota) / int(period)
    return None


def usable_cores(*, affinity: int | None = None, cpu_max: str = CPU_MAX, cfs_quota: str = CFS_QUOTA,
                 cfs_period: str = CFS_PERIOD) -> int:
    """The cores this process may run on: its CPU affinity (``affinity`` cores if given), bounded
    by the cgroup quota rounded down (a 1.5-core quota runs one device's worth of work a core;
    a second device would only be throttled), and at least one."""
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = quota_cores(cpu_max, cfs_quota, cfs_period)
    return max(1, min(affinity, math.floor(quota) if quota is not None else affinity))


def flag_count(xla_flags: str) -> int | None:
    """The device count ``XLA_FLAGS`` forces, or None."""
    m = re.search(re.escape(FLAG) + r"=(\d+)", xla_flags)
    return int(m.group(1)) if m else None


def accelerator_installed() -> bool:
    """Whether jax may find a GPU or TPU: a PJRT plugin (``jax_plugins.*`` or the ``jax_plugins``
    entry points, as jax discovers them) or libtpu, looked up without importing any of them."""
    if importlib.util.find_spec("libtpu") is not None:
        return True
    spec = importlib.util.find_spec("jax_plugins")
    if spec is not None and any(True for _ in pkgutil.iter_modules(spec.submodule_search_locations or [])):
        return True
    return bool(importlib.metadata.entry_points(group="jax_plugins"))


def choose(*, environ: Mapping[str, str], cores: int, jax_count: int, platforms: str | None,
           accelerator: bool) -> tuple[int | None, str]:
    """The CPU device count to give jax (None: leave jax's) and why, from the environment,
    ``cores``, the ``jax_num_cpu_devices`` the user set (-1: none), ``jax_platforms`` and whether
    an accelerator plugin is installed. What the user told jax wins over ``DYNTHEORY_DEVICES``,
    which wins over the cores."""
    if flag_count(environ.get("XLA_FLAGS", "")) is not None:
        return None, f"XLA_FLAGS sets {FLAG}"
    if jax_count >= 0:
        return None, f"jax_num_cpu_devices is set ({jax_count})"
    if environ.get(ENV, "").strip():
        return parse_count(environ[ENV], ENV), f"{ENV}={environ[ENV].strip()}"
    first = (platforms or "").split(",")[0].strip()
    if first and first != "cpu":
        return None, f"jax's platforms are {platforms!r}, not the CPU first"
    if not first and accelerator:
        return None, "a jax accelerator plugin is installed (set JAX_PLATFORMS=cpu to use the cores)"
    return cores, f"{cores} usable core{'s' * (cores != 1)}"


def parse_count(value, name: str) -> int:
    """A positive device count, or a ValueError naming ``name`` and ``value``."""
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1 or isinstance(value, bool):
        raise ValueError(f"{name} must be a positive number of CPU devices, got {value!r} "
                         f"(1: one device, as jax has by default)")
    return n


def _started() -> bool:
    from jax._src import xla_bridge  # no public way to ask without starting the backends
    return xla_bridge.backends_are_initialized()


def _apply(n: int) -> None:
    jax.config.update("jax_num_cpu_devices", n)
    _state["ours"] = n


def default_devices() -> int | None:
    """Give jax one CPU device per usable core, unless told otherwise (see the module docstring);
    called when dyntheory is imported, and as ``use_cores()``. Returns the count given, or None
    where jax's own is kept. Calling it again changes nothing."""
    current = jax.config.jax_num_cpu_devices
    user = current if current != _state["ours"] else -1
    n, why = choose(environ=os.environ, cores=usable_cores(), jax_count=user,
                    platforms=jax.config.jax_platforms, accelerator=accelerator_installed())
    if n is None:
        return None
    if not _started():
        _apply(n)
        return n
    if jax.default_backend() == "cpu" and jax.local_device_count() != n and not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"dyntheory: jax started before dyntheory was imported, so this process keeps its "
                      f"{jax.local_device_count()} CPU device(s) instead of {n} ({why}); import dyntheory "
                      f"before any jax operation to use them, or set {ENV}=1 to silence this", RuntimeWarning,
                      stacklevel=3)
    return None


def use_cores(n: int | None = None) -> int | None:
    """Give jax ``n`` CPU devices, over which ``dt.train`` shards its populations. Call it before
    any jax operation: jax reads the count once, when its backends start.

    ``use_cores()`` is what importing dyntheory (and the ``dyntheory`` command) does: one device
    per usable core, unless a count was already chosen (``XLA_FLAGS``'
    ``--xla_force_host_platform_device_count``, ``jax_num_cpu_devices``, ``DYNTHEORY_DEVICES``),
    an accelerator will be jax's default backend, or jax has started (then it warns once).
    ``use_cores(1)`` keeps jax's single CPU device, as ``DYNTHEORY_DEVICES=1`` does.

    Args:
        n: the device count, a positive integer; None for the default above.

    Returns:
        The CPU device count given to jax; None where ``use_cores()`` left jax's as it was.

    Raises:
        ValueError: ``n`` is not a positive integer.
        RuntimeError: ``n`` given, and jax's backends have started with another count.

    Example:
        >>> import dyntheory as dt
        >>> dt.use_cores(1)  # doctest: +SKIP
        1
    """
    if n is None:
        return default_devices()
    n = parse_count(n, "use_cores: n")
    if _started():
        have = jax.local_device_count("cpu")
        if have != n:
            raise RuntimeError(f"use_cores: jax's backends have started with {have} CPU device(s), so it cannot "
                               f"have {n}; call use_cores before any jax operation")
        return n
    _apply(n)
    return n
