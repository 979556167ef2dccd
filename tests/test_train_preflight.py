"""`train`'s cheap refusals come before TensorFlow loads and write nothing: a run folder that already holds a run,
a data file that is not there, a split without pairs (with the config key that fixes it)."""
import os
import subprocess
import sys

import h5py
import numpy as np
import yaml

import tiny_trainers  # tests/ (on sys.path by conftest)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# each command line through the CLI's main(), in one fresh interpreter: was TensorFlow imported by then?
_SCRIPT = """
import json, sys, time
from deblurkeras.cli import main
for argv in json.loads(sys.argv[1]):
    t = time.time()
    rc = main(argv)
    print("RESULT", rc, "tensorflow" in sys.modules, round(time.time() - t, 2), flush=True)
"""


def _run(commands):
    import json

    out = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(commands)], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    results = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == len(commands), out.stdout + out.stderr
    return results, out.stderr.splitlines()


def test_cheap_refusals_come_before_tensorflow(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name": "srn-color"}, "train": {"total_steps": 2}}))
    data = tiny_trainers.make_h5(tmp_path / "d.h5", n_train=2, n_test=2, size=16)
    no_test = tmp_path / "no_test.h5"
    with h5py.File(no_test, "w") as f:  # what build-hdf5 writes for a folder without test/
        for split, n in (("train", 2), ("test", 0)):
            f[f"{split}_data_full"] = f[f"{split}_data_blur"] = np.zeros((n, 16, 16, 3), np.uint8)
    held = tmp_path / "held"
    (held / "ckpt" / "step_00000005").mkdir(parents=True)
    (held / "ckpt" / "latest").write_text("step_00000005")
    before = sorted(os.listdir(tmp_path))

    def train(*sets):
        return ["train", "--config", str(cfg)] + [a for s in sets for a in ("--set", s)]

    results, errors = _run([
        train(f"data.path={data}", f"run.dir={held}"),
        train(f"data.path={tmp_path / 'missing.h5'}", f"run.dir={tmp_path / 'r1'}"),
        train(f"data.path={no_test}", f"run.dir={tmp_path / 'r2'}"),
        train(f"data.path={data}", "data.split=val", f"run.dir={tmp_path / 'r3'}"),
    ])
    assert [r[:2] for r in results] == [["2", "False"]] * 4, (results, errors)
    assert f"{held}: already holds a run (pass --resume" in errors[0]
    assert "data.path=" in errors[1] and "missing.h5" in errors[1] and "no such file" in errors[1]
    assert "split 'test' (data.val_split) is empty" in errors[2] and "--set data.val_split=null" in errors[2]
    assert "no split 'val' (data.split); the file has test, train" in errors[3]
    assert len(errors) == 4, errors  # one line each
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(held) == ["ckpt"]
