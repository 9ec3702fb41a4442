"""Several hosts: two processes joined by ``jax.distributed`` on this machine's loopback train one
population over their four devices, get the numbers one process gets, and resume a killed run."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dyntheory as dt
from tests.engine._helpers import small_sweep, store_progress

SWEEP = dict(dtype="float64", seeds=4, axes={"lr": [0.05, 0.1], "init_scale": [0.5, 1.0]})
LONG = dict(SWEEP, steps=300, record=10, checkpoints=[0, 150, 300])  # long enough to be killed midway

HOST = textwrap.dedent("""
    import json, sys
    import jax
    jax.distributed.initialize(coordinator_address=sys.argv[2], num_processes=2, process_id=int(sys.argv[1]))
    sys.path.insert(0, {root!r})
    import dyntheory as dt
    from tests.engine._helpers import small_sweep
    if sys.argv[1] == "1":  # this host would cut parts of one member: process 0's cut must hold
        import os
        os.environ["DYNTHEORY_STEP_BYTES"] = "1"
    assert jax.process_count() == 2 and len(jax.devices()) == 4 and len(jax.local_devices()) == 2
    if sys.argv[3] == "killed":
        dt.train(small_sweep(**{long!r}), key=2, store={store!r}, resume_every=0.0, max_members=8, max_resident=8)
    mem = dt.train(small_sweep(**{sweep!r}), key=2)
    waves = dt.train(small_sweep(**{sweep!r}), key=2, max_members=8, max_resident=8)
    disk = dt.train(small_sweep(**{long!r}), key=2, store={store!r}, max_members=8, max_resident=8)
    print("RESULT " + json.dumps({{name: run.metrics.train_loss.values.tolist()
                                  for name, run in (("mem", mem), ("waves", waves), ("disk", disk))}}))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(code: str, phase: str) -> list[subprocess.Popen]:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    address = f"127.0.0.1:{_free_port()}"
    return [subprocess.Popen([sys.executable, "-c", code, str(i), address, phase], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]



def test_two_hosts_equal_one_and_resume_a_killed_run(tmp_path):
    store = str(tmp_path / "run")
    code = HOST.format(root=os.getcwd(), sweep=SWEEP, long=LONG, store=store)
    first = _launch(code, "killed")  # killed in its second wave, the first one written by process 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            prog = store_progress(store)
            if prog and not prog["done"] and prog.get("wave", 0) == 1 and prog["step"] >= 100:
                break
            if any(p.poll() is not None for p in first):
                pytest.fail("a process ended before it could be killed: "
                            + "".join(p.stderr.read()[-2000:] for p in first if p.poll() is not None))
            time.sleep(0.02)
        else:
            pytest.fail("no progress committed in time")
    finally:
        for p in first:
            p.send_signal(signal.SIGKILL)
            p.communicate()
    killed_at = store_progress(store)
    assert killed_at["wave"] == 1 and 0 < killed_at["step"] < 300
    again = _launch(code, "resumed")
    try:
        outs = [p.communicate(timeout=400) for p in again]
    finally:
        for p in again:
            p.kill()
    for p, (_, err) in zip(again, outs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
               for out, _ in outs]
    single = dt.train(small_sweep(**SWEEP), key=2).metrics.train_loss.values
    single_long = dt.train(small_sweep(**LONG), key=2, max_members=8, max_resident=8).metrics.train_loss.values
    for host in results:  # every process holds the whole population's results
        for name, want in (("mem", single), ("waves", single), ("disk", single_long)):
            np.testing.assert_allclose(np.asarray(host[name]), want, rtol=1e-12, atol=0, err_msg=name)
    written = dt.load(store)  # written (by process 0 alone), resumed and sealed with its manifest
    np.testing.assert_array_equal(written.metrics.train_loss.values, np.asarray(results[1]["disk"]))
