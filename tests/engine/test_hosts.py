"""Several hosts: two processes joined by ``jax.distributed`` on this machine's loopback train one
population over their four devices, and get the numbers one process gets."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

import dyntheory as dt
from tests.engine._helpers import small_sweep

SWEEP = dict(dtype="float64", seeds=4, axes={"lr": [0.05, 0.1], "init_scale": [0.5, 1.0]})

HOST = textwrap.dedent("""
    import json, sys
    import jax
    jax.distributed.initialize(coordinator_address={address!r}, num_processes=2, process_id=int(sys.argv[1]))
    sys.path.insert(0, {root!r})
    import dyntheory as dt
    from tests.engine._helpers import small_sweep
    assert jax.process_count() == 2 and len(jax.devices()) == 4 and len(jax.local_devices()) == 2
    mem = dt.train(small_sweep(**{sweep!r}), key=2)
    disk = dt.train(small_sweep(**{sweep!r}), key=2, store={store!r})
    waves = dt.train(small_sweep(**{sweep!r}), key=2, max_members=8, max_resident=8)
    print("RESULT " + json.dumps({{name: run.metrics.train_loss.values.tolist()
                                  for name, run in (("mem", mem), ("disk", disk), ("waves", waves))}}))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_hosts_equal_one(tmp_path):
    store = str(tmp_path / "run")
    code = HOST.format(address=f"127.0.0.1:{_free_port()}", root=os.getcwd(), sweep=SWEEP, store=store)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        outs = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
               for out, _ in outs]
    single = dt.train(small_sweep(**SWEEP), key=2).metrics.train_loss.values
    for host in results:  # every process holds the whole population's results
        for name in ("mem", "disk", "waves"):
            np.testing.assert_allclose(np.asarray(host[name]), single, rtol=1e-12, atol=0, err_msg=name)
    written = dt.load(store)  # written once (by process 0) and sealed with its manifest
    np.testing.assert_array_equal(written.metrics.train_loss.values, np.asarray(results[1]["disk"]))
