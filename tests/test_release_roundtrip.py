"""The released weights by name, end to end with the real files (experiments/release_roundtrip.py, run as a user
runs it): the official SDNet4 folder, served from a loopback mirror through DEBLURKERAS_MIRROR, is fetched, verified
and imported by `deblur --weights stack-dmphn-4:gopro`, and frame 1 equals the authors' PNG (>= 99.99 % identical
values). Needs the fetched HongguangZhang/DMPHN-cvpr19-master git directory beside the checkout (skipped, saying
so, where it is absent); about 2-3 minutes on 2 CPU cores."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "release_roundtrip.py"
# the script's own default: the fetched repository's git directory beside the checkout
GIT_DIR = REPO.parent / ".mirror" / "HongguangZhang+DMPHN-cvpr19-master" / "repo"


@pytest.mark.slow
@pytest.mark.torch
def test_stack_dmphn_4_through_a_mirror_reproduces_the_authors_frame(tmp_path):
    if not GIT_DIR.is_dir():
        pytest.skip(f"no fetched DMPHN-cvpr19-master at {GIT_DIR}")
    pytest.importorskip("torch")
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, str(SCRIPT), str(GIT_DIR), "--limit", "1", "--json", str(out)],
                         capture_output=True, text=True, env=env, timeout=1800)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["ok"] and report["frames"] == 1 and report["min_identical_pct"] >= 99.99
    assert report["weights_max_abs_diff_vs_by_hand"] == 0.0 and report["requests"] == 24
