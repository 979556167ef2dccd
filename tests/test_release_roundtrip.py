"""Issue 27's Done-when with the real released files (experiments/release_roundtrip.py): the official SDNet4 folder,
served from a loopback mirror through DEBLURKERAS_MIRROR, is fetched, verified and imported by `deblur --weights
stack-dmphn-4:gopro`, and frame 1 equals the authors' PNG (>= 99.99 % identical values). Needs the fetched
HongguangZhang/DMPHN-cvpr19-master git directory beside the checkout; about 2-3 minutes on 2 CPU cores."""
import json
import pathlib

import pytest

import release_roundtrip

GIT_DIR = pathlib.Path(release_roundtrip.DEFAULT_GIT)


@pytest.mark.slow
@pytest.mark.torch
def test_stack_dmphn_4_through_a_mirror_reproduces_the_authors_frame(tmp_path):
    if not GIT_DIR.is_dir():
        pytest.skip(f"no fetched DMPHN-cvpr19-master at {GIT_DIR}")
    pytest.importorskip("torch")
    out = tmp_path / "report.json"
    assert release_roundtrip.main([str(GIT_DIR), "--limit", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["frames"] == 1 and report["min_identical_pct"] >= 99.99
    assert report["weights_max_abs_diff_vs_by_hand"] == 0.0 and report["requests"] == 24
