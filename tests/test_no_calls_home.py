"""No calls home (issue 31, item 5): each ONNX engine runs `deblur` in a subprocess with HOME pointed at an empty
folder and the network denied, through a sitecustomize that records every name lookup and connection Python makes
(and refuses them); where strace exists, native connections (the runtimes' C++ telemetry) are recorded too. The run
fails if anything was looked up or connected to, or if anything was written outside its output folder.
Before deblurkeras/privacy.py: onnxruntime wrote ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, openvino wrote
~/intel/ and looked up a name server."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the onnx extra: pip install 'deblurkeras[onnx]'")
pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'deblurkeras[onnx]'")

from test_untrusted_onnx import _meta, write  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SITECUSTOMIZE = '''
import os, socket
_LOG = os.environ["NET_LOG"]

def _record(what):
    with open(_LOG, "a") as f:
        f.write(what + "\\n")

def _deny(name):
    def refuse(*args, **kwargs):
        _record(f"{name} {args[:2]!r}")
        raise OSError("network access denied by the test")
    return refuse

socket.getaddrinfo = _deny("getaddrinfo")
socket.gethostbyname = _deny("gethostbyname")
socket.gethostbyname_ex = _deny("gethostbyname_ex")
socket.create_connection = _deny("create_connection")
_connect = socket.socket.connect

class _Socket(socket.socket):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _record(f"connect {address!r}")
            raise OSError("network access denied by the test")
        return _connect(self, address)
    connect_ex = connect

socket.socket = _Socket
'''


# Caches the project names (allowed in HOME): Keras' config (~/.keras/keras.json, written at Keras' first import)
# and matplotlib's font cache, both written by the TensorFlow import the CLI does; local files, no telemetry.
NAMED_CACHES = (".keras", os.path.join(".cache", "matplotlib"), os.path.join(".config", "matplotlib"))


def _unnamed(tree):
    return [p for p in tree if p not in (".cache", ".config")
            and not any(p == c or p.startswith(c + os.sep) for c in NAMED_CACHES)]


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(r, n), folder) for r, ds, fs in os.walk(folder) for n in ds + fs)


ENGINE_SCRIPT = """
import sys, numpy as np
from deblurkeras.engines import OnnxEngine
y = OnnxEngine(sys.argv[1], sys.argv[2]).predict_nhwc(np.zeros((1, 32, 32, 3), np.float32))
np.save(sys.argv[3] + "/a.npy", y)
"""


@pytest.mark.parametrize("how", ["engine", pytest.param("cli", marks=pytest.mark.slow)])
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_engine_run_looks_nothing_up_and_writes_only_its_output(tmp_path, engine, how):
    """`engine`: the engine alone (fast); `cli`: `deblurkeras deblur --engine E` (imports TensorFlow: slow)."""
    pytest.importorskip(engine)
    from PIL import Image

    home, out, site, inputs = (tmp_path / n for n in ("home", "out", "site", "in"))
    for d in (home, site, inputs):
        d.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(inputs / "a.png")
    model = write(inputs / "m.onnx", _meta("srn-color"))
    log = tmp_path / "net.log"
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "CI")}
    env.update(HOME=str(home), NET_LOG=str(log), XDG_CACHE_HOME=str(home / ".cache"), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(site), REPO]))
    if how == "cli":
        cmd = [sys.executable, "-m", "deblurkeras.cli", "deblur", str(inputs / "a.png"), "--weights", str(model),
               "--engine", engine, "--out", str(out)]
    else:
        out.mkdir()
        cmd = [sys.executable, "-c", ENGINE_SCRIPT, str(model), engine, str(out)]
    trace = tmp_path / "strace.txt"
    if shutil.which("strace"):
        cmd = ["strace", "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(trace)] + cmd
    before = set(os.listdir(tmp_path))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not log.exists(), log.read_text()
    if trace.exists():
        inet = [ln for ln in trace.read_text().splitlines() if "AF_INET" in ln]
        assert not inet, inet[:5]
    assert _unnamed(_tree(home)) == [], _tree(home)
    assert _tree(out) == (["a.png"] if how == "cli" else ["a.npy"])
    assert set(os.listdir(tmp_path)) - before <= {"out", "strace.txt"}
