"""experiments/reproduce_dmphn.py on a checkout we make ourselves in the official layout:
official-definition torch modules -> checkpoints/DMPHN_1_2_4_8/*.pkl, test_samples/, and the "authors' outputs"
written the way the official test script writes them (ToTensor() - 0.5, forward, + 0.5, save_image's truncation).
The script runs as a user runs it, in a subprocess (tests import nothing from experiments/)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from deblurkeras.families.dmphn import original as ref  # noqa: E402
from conftest import REPO  # noqa: E402


def _reproduce(*args):
    """experiments/reproduce_dmphn.py ARGS -> the finished process (stdout, stderr as text)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "experiments" / "reproduce_dmphn.py"), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600)


def _official_checkout(root, levels=4, size=(32, 40), n=2):
    torch.manual_seed(0)
    enc = {k: ref.dmphn_official_init(ref.Encoder()).eval() for k in range(1, levels + 1)}
    dec = {k: ref.dmphn_official_init(ref.Decoder()).eval() for k in range(1, levels + 1)}
    ckpt = root / "checkpoints" / "DMPHN_1_2_4_8"
    res = root / "test_results" / "DMPHN_1_2_4_8_test_res"
    for d in (ckpt, res, root / "test_samples"):
        os.makedirs(d)
    for k in enc:
        torch.save(enc[k].state_dict(), ckpt / f"encoder_lv{k}.pkl")
        torch.save(dec[k].state_dict(), ckpt / f"decoder_lv{k}.pkl")
    rng = np.random.default_rng(0)
    for i in range(1, n + 1):
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "test_samples" / f"{i:06d}.png")
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0 - 0.5
        with torch.no_grad():
            out = ref.dmphn_forward(enc, dec, x)[0] + 0.5
        theirs = out.mul(255).clamp(0, 255).byte().permute(1, 2, 0).numpy()  # save_image of 2019: truncation
        Image.fromarray(theirs).save(res / f"{i:06d}.png")


def test_reproduce_dmphn_matches_outputs_written_the_official_way(tmp_path):
    _official_checkout(tmp_path / "dmphn")   # W = 40: a multiple of 8 but not of 16, as the original allows
    out = tmp_path / "report.json"
    proc = _reproduce(tmp_path / "dmphn", "--json", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = proc.stdout
    assert "DMPHN 1-2-4: not shipped" in printed and "1-2-4-8  | truncate" in printed
    report = json.loads(out.read_text())
    assert set(report) == {"1-2-4-8"}
    s = report["1-2-4-8"]["summary"]
    assert s["n_images"] == 2
    assert s["truncate"]["identical_pct"] > 99.5 and s["truncate"]["max_abs"] <= 1
    assert s["round"]["identical_pct"] < s["truncate"]["identical_pct"]


def test_reproduce_dmphn_refuses_lfs_pointers(tmp_path):
    _official_checkout(tmp_path / "dmphn", n=1)
    (tmp_path / "dmphn" / "test_samples" / "000001.png").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    proc = _reproduce(tmp_path / "dmphn")
    assert proc.returncode != 0 and "LFS pointer" in proc.stderr, (proc.returncode, proc.stderr[-2000:])


@pytest.mark.slow
def test_reproduce_sdnet_matches_outputs_written_with_rounding(tmp_path):
    """SDNet2 as released: checkpoints/SDNet2/{encoder,decoder}_s*_lv*.pkl, outputs written by a save_image that
    rounds (the torchvision the authors' SDNet2 PNGs were written with)."""
    root = tmp_path / "dmphn"
    torch.manual_seed(0)
    enc, dec = ref.sdnet_modules(2)
    ckpt, res = root / "checkpoints" / "SDNet2", root / "test_results" / "SDNet2_test_res"
    for d in (ckpt, res, root / "test_samples"):
        os.makedirs(d)
    for part, mods in (("encoder", enc), ("decoder", dec)):
        for (s, lv), m in mods.items():
            torch.save(m.eval().state_dict(), ckpt / f"{part}_s{s}_lv{lv}.pkl")
    img = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(img).save(root / "test_samples" / "000001.png")
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0 - 0.5
    with torch.no_grad():
        out = ref.sdnet_forward(enc, dec, x)[-1][0] + 0.5
    theirs = out.mul(255).add_(0.5).clamp(0, 255).byte().permute(1, 2, 0).numpy()   # today's save_image: rounds
    Image.fromarray(theirs).save(res / "000001.png")
    report = tmp_path / "report.json"
    proc = _reproduce(root, "--variants", "SDNet2", "SDNet4", "--json", report)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = proc.stdout
    assert "read stacks s1-s2 (12 files)" in printed and "SDNet4: not shipped" in printed
    s = json.loads(report.read_text())["SDNet2"]["summary"]
    assert s["round"]["identical_pct"] > 99.5 and s["round"]["max_abs"] <= 1
    assert s["truncate"]["identical_pct"] < s["round"]["identical_pct"]
