"""Multi-host sampling for real: two CPU processes joined by `jax.distributed.initialize` on a
local port each get the whole `Posterior`, the same as one process with the same seed."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("_multiprocess_worker.py")
TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, processes: int, rank: int, port: int) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / f"p{processes}_r{rank}.npz"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SYMBNN_CACHE_DIR": "off"}
    # One CPU device per process, whatever the caller's XLA flags say.
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    cmd = [sys.executable, str(WORKER), "--processes", str(processes), "--rank", str(rank),
           "--port", str(port), "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, out


def finish(procs) -> None:
    """Wait for every process; on a failure or a timeout stop the others and show the output."""
    try:
        for proc in procs:
            text, _ = proc.communicate(timeout=TIMEOUT_S)
            assert proc.returncode == 0, text.decode(errors="replace")[-4000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_two_processes_get_the_one_process_posterior(tmp_path):
    port = free_port()
    pair = [start(tmp_path, 2, rank, port) for rank in (0, 1)]
    single = start(tmp_path, 0, 0, 0)
    finish([p for p, _ in pair] + [single[0]])
    ref = np.load(single[1])
    assert int(ref["processes"]) == 1 and int(ref["devices"]) == 1
    for _, out in pair:
        got = np.load(out)
        assert int(got["processes"]) == 2 and int(got["devices"]) == 2
        assert str(got["device"]) == "cpu: cpu × 2"
        assert got["samples"].shape == ref["samples"].shape == (4, 3, 10)
        # Same chains, same keys: equal up to rounding, which differs with the batch width
        # (two chains per program here, four there) and which the starts' L-BFGS carries to
        # ~1e-4 through its accept-or-shrink decisions; another chain's key would differ by O(1).
        for name in ("samples", "noise_std", "log_density"):
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-3, atol=1e-6)
