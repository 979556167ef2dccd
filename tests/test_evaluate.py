"""`deblurkeras eval` on a tiny HDF5 and a tiny folder of side-by-side pairs, with a randomly initialised SRN."""
import csv
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from deblurkeras import cli, evaluate, metrics


@pytest.fixture(scope="module")
def srn_weights(tmp_path_factory):
    from deblurkeras.families import build_model

    path = tmp_path_factory.mktemp("w") / "srn.weights.h5"
    model = build_model("srn-color")
    model.save_weights(path)
    return path, model


def _pairs(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    sharp = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    blur = ((sharp.astype(np.uint16) + np.roll(sharp, 2, axis=2)) // 2).astype(np.uint8)
    return blur, sharp


def test_eval_on_hdf5_writes_csv_and_summary(tmp_path, srn_weights):
    from deblurkeras.inference import deblur_array
    from deblurkeras.families import model_io

    weights, model = srn_weights
    blur, sharp = _pairs()
    data = tmp_path / "d.h5"
    with h5py.File(data, "w") as f:
        f["test_data_full"], f["test_data_blur"] = sharp, blur
    out = tmp_path / "eval"
    assert cli.main(["eval", "--model", "srn-color", "--weights", str(weights), "--data", str(data),
                     "--out", str(out), "--save-images"]) == 0
    with open(out / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["test_000000", "test_000001", "test_000002"]
    for i, r in enumerate(rows):
        expected_out = deblur_array(model, model_io("srn-color"), blur[i])
        assert float(r["psnr_in"]) == pytest.approx(metrics.psnr(blur[i], sharp[i]), abs=1e-9)
        assert float(r["ssim_in"]) == pytest.approx(metrics.ssim(blur[i], sharp[i]), abs=1e-9)
        assert float(r["psnr_out"]) == pytest.approx(metrics.psnr(expected_out, sharp[i]), abs=1e-6)
        assert float(r["seconds"]) > 0
        saved = np.asarray(Image.open(out / "images" / f"test_{i:06d}.png"))
        np.testing.assert_array_equal(saved, expected_out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 3
    assert summary["psnr_in"] == pytest.approx(np.mean([float(r["psnr_in"]) for r in rows]))
    assert summary["psnr_gain"] == pytest.approx(summary["psnr_out"] - summary["psnr_in"])
    assert summary["convention"] == metrics.CONVENTION and summary["model"] == "srn-color"
    assert summary["seconds_per_image_median"] > 0


def test_eval_on_folder_of_side_by_side_pairs(tmp_path, srn_weights):
    weights, model = srn_weights
    blur, sharp = _pairs(2, 32, seed=1)
    folder = tmp_path / "pairs"
    folder.mkdir()
    for i in range(2):  # left sharp | right blurred, lossless
        Image.fromarray(np.concatenate([sharp[i], blur[i]], axis=1)).save(folder / f"p{i}.png")
    rows, summary = evaluate.evaluate("srn-color", weights, folder, tmp_path / "ev", model=model)
    assert [r["name"] for r in rows] == ["p0.png", "p1.png"]
    assert rows[1]["psnr_in"] == pytest.approx(metrics.psnr(blur[1], sharp[1]))
    assert summary["split"] is None and summary["n_images"] == 2


def test_eval_bad_data_is_one_line_error(tmp_path, srn_weights, capsys):
    weights, _ = srn_weights
    missing = tmp_path / "nope.h5"
    assert cli.main(["eval", "--weights", str(weights), "--data", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.h5" in err
    assert not (tmp_path / "o" / "summary.json").exists()
