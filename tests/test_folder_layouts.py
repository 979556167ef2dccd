"""Issue 23 item 2: one folder rule across verbs. A *pair folder* holds pairs (side-by-side images, or blur/ +
sharp/); a *dataset folder* holds train/ + test/, each a pair folder. build-hdf5 reads a dataset folder and says so
in one line when given a pair folder; eval and demo read either; combine_pairs writes a pair folder."""
import os

import numpy as np
from PIL import Image

from deblurkeras import cli, evaluate
from deblurkeras.data.combine import combine


def _pairs(folder, n, seed=0, h=16, w=32):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(os.path.join(folder, f"p{i}.png"))


def test_build_hdf5_on_a_pair_folder_is_a_one_line_hint(tmp_path, capsys):
    _pairs(tmp_path / "flat", 3)
    out = tmp_path / "d.h5"
    assert cli.main(["build-hdf5", str(tmp_path / "flat"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "no train/ or test/" in err and "3 images" in err and "DIR/train" in err
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith("d.h5")]


def test_combine_pairs_output_builds_when_written_as_the_train_and_test_folders(tmp_path, capsys):
    for side in ("blur", "sharp"):
        _pairs(tmp_path / side, 2, seed=1 if side == "blur" else 2)
    for split in ("train", "test"):
        written, _ = combine(str(tmp_path / "blur"), str(tmp_path / "sharp"), str(tmp_path / "ds" / split),
                             ext="png", log=lambda *a: None)
        assert written == 2
    assert cli.main(["build-hdf5", str(tmp_path / "ds"), "--out", str(tmp_path / "d.h5"), "--size", "0",
                     "--quiet"]) == 0


def test_eval_reads_a_dataset_folder_by_its_split_and_a_pair_folder_as_itself(tmp_path):
    _pairs(tmp_path / "ds" / "train", 3, seed=3)
    _pairs(tmp_path / "ds" / "test", 2, seed=4)
    test = [name for _, _, name in evaluate.iter_pairs(str(tmp_path / "ds"))]
    train = [name for _, _, name in evaluate.iter_pairs(str(tmp_path / "ds"), split="train")]
    flat = [name for _, _, name in evaluate.iter_pairs(str(tmp_path / "ds" / "train"))]
    assert test == ["p0.png", "p1.png"] and train == flat == ["p0.png", "p1.png", "p2.png"]
    a = next(iter(evaluate.iter_pairs(str(tmp_path / "ds"))))
    b = next(iter(evaluate.iter_pairs(str(tmp_path / "ds" / "test"))))
    np.testing.assert_array_equal(a[0], b[0])


def test_demo_stages_a_pair_folder_and_keeps_a_dataset_folder(tmp_path):
    from deblurkeras.demo import _stage_folder

    _pairs(tmp_path / "flat", 10)
    staged = _stage_folder(str(tmp_path / "flat"), str(tmp_path / "stage"))
    assert sorted(os.listdir(os.path.join(staged, "test"))) == ["p4.png", "p9.png"]
    _pairs(tmp_path / "ds" / "train", 2)
    _pairs(tmp_path / "ds" / "test", 1)
    assert _stage_folder(str(tmp_path / "ds"), str(tmp_path / "stage2")) == str(tmp_path / "ds")
