"""`--strategy multiworker` proven on one machine: 2 worker processes (TF_CONFIG, loopback ports, one CPU each)
train the tiny SRN stand-in and end with the weights of a single-process run over the same global batch; a worker
killed mid-run is recovered by restarting every worker with --resume (the README's procedure)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml

from tests.test_runner import REPO, _PRELUDE, tiny, tiny_cfg  # noqa: F401 - tiny is a fixture

pytestmark = pytest.mark.slow  # 4-6 TensorFlow processes: about 2-4 minutes on 2 cores

_WORKER = _PRELUDE + """
import os
os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
import keras; keras.config.disable_traceback_filtering()
cfg = config.load_config({cfg!r})
if {slow}:
    orig = loop.Run.on_step
    loop.Run.on_step = lambda self, logs: (time.sleep(1.0), orig(self, logs))
s = loop.train(cfg, resume={resume})
print("SUMMARY", s["step"], flush=True)
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(cfg_path, resume=False, slow=False):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
               "PYTHONPATH": REPO}
        script = _WORKER.format(repo=REPO, cfg=str(cfg_path), resume=resume, slow=slow)
        procs.append(subprocess.Popen(["taskset", "-c", str(i % (os.cpu_count() or 1)), sys.executable, "-c", script],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def _wait(procs, timeout=400):
    """Outputs of the workers; on any failure the others are killed (a survivor would wait for its peer forever)."""
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            outs.append(out)
            assert p.returncode == 0, out[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def _weights(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def _assert_same(a_path, b_path, atol=1e-5):
    a, b = _weights(a_path), _weights(b_path)
    assert a.keys() == b.keys() and a
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert diff <= atol, diff
    return diff


def test_two_workers_match_one_process_and_recover_from_a_kill(tmp_path, tiny):
    from deblurkeras.training import loop

    # global batch 2 = 1 per worker; 3 steps, the single-process reference over the same global batches
    cfg = tiny_cfg(tmp_path, total_steps=3, ckpt_every=3)
    cfg["run"]["strategy"] = "multiworker"
    cfg["data"]["val_batches"] = 0
    cfg_path = tmp_path / "mw.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    outs = _wait(_start_workers(cfg_path))
    assert all("SUMMARY 3" in o for o in outs)
    ref = {**cfg, "run": {**cfg["run"], "strategy": "default", "dir": str(tmp_path / "ref")}}
    ref_path = tmp_path / "ref.yaml"
    ref_path.write_text(yaml.safe_dump(ref))
    single = subprocess.run([sys.executable, "-c", _WORKER.format(repo=REPO, cfg=str(ref_path), resume=False,
                                                                  slow=False)],
                            cwd=REPO, capture_output=True, text=True, timeout=400)
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-2000:]
    _assert_same(tmp_path / "run" / "generator.weights.h5", tmp_path / "ref" / "generator.weights.h5")

    # kill -9 one worker mid-run; the other blocks in its next collective: stop it, restart both with --resume
    cfg2 = {**cfg, "train": {**cfg["train"], "total_steps": 6, "ckpt_every": 2},
            "run": {**cfg["run"], "dir": str(tmp_path / "run2")}}
    cfg2_path = tmp_path / "mw2.yaml"
    cfg2_path.write_text(yaml.safe_dump(cfg2))
    procs = _start_workers(cfg2_path, slow=True)
    latest = tmp_path / "run2" / "ckpt" / "latest"
    deadline = time.time() + 300
    while time.time() < deadline and not latest.exists():
        assert all(p.poll() is None for p in procs), [p.stdout.read()[-2000:] for p in procs]
        time.sleep(0.1)
    os.kill(procs[1].pid, signal.SIGKILL)
    time.sleep(3.0)
    # the survivor blocks at its next collective or fails there (no elasticity): either way it is stopped too
    out0 = procs[0].communicate(timeout=1)[0] if procs[0].poll() is not None else None
    assert out0 is None or "SUMMARY" not in out0, out0[-2000:]
    if procs[0].poll() is None:
        os.kill(procs[0].pid, signal.SIGKILL)
    for p in procs:
        p.communicate()
    killed_at = latest.read_text()
    assert killed_at in ("step_00000002", "step_00000004"), killed_at
    outs = _wait(_start_workers(cfg2_path, resume=True))
    assert all(f"step {int(killed_at[-8:])}" in o and "SUMMARY 6" in o for o in outs), outs
    ref2 = {**cfg2, "run": {**cfg2["run"], "strategy": "default", "dir": str(tmp_path / "ref2")}}
    loop.train(ref2)
    _assert_same(tmp_path / "run2" / "generator.weights.h5", tmp_path / "ref2" / "generator.weights.h5")
