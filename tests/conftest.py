"""Shared test settings: one hypothesis profile, small sizes everywhere, one compilation cache."""

import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
# One CPU device per test process, not dyntheory's default of one per core: pytest-xdist already runs
# a worker per core, and most tests compare a run in this process with one in another or with a
# stored array. The several-device paths are tested on purpose: test_parts, test_hosts and test_lapack
# force a count with XLA_FLAGS (which wins over this), test_devices runs the default in a subprocess.
os.environ.setdefault("DYNTHEORY_DEVICES", "1")
# JAX's persistent compilation cache, shared by the xdist workers and the subprocesses the kill and
# two-host tests start (they inherit the environment): a program compiled by one process is loaded
# by the next. It holds executables keyed by their HLO, jax version and flags, so it changes no number.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).parent.parent / ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import hypothesis  # noqa: E402

# JAX compiles on first call, so wall-clock deadlines are meaningless here.
hypothesis.settings.register_profile(
    "dyntheory", deadline=None, max_examples=10, derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
hypothesis.settings.load_profile("dyntheory")
