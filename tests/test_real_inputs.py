"""Real-size and hostile inputs: automatic tiling within a memory budget, the 2^31-element limit,
progress over tiles, a quiet TensorFlow, and failures F2, F4, F8, F9, F10, F11 (each test fails on the old code)."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from deblurkeras.cli import main
from deblurkeras.errors import BadInputError
from deblurkeras.families import build_model, model_io
from deblurkeras.imageio import load_image, save_image
from deblurkeras.inference import deblur_array

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _img(h, w, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


def _saved(tmp_path_factory, name, file_name):
    """(registered model `name` with seed-0 weights, the .weights.h5 they were saved to)."""
    keras.utils.set_random_seed(0)
    model = build_model(name)
    path = tmp_path_factory.mktemp("w") / file_name
    model.save_weights(path)
    return model, path


@pytest.fixture(scope="module")
def srn(tmp_path_factory):
    return _saved(tmp_path_factory, "srn-color", "srn.weights.h5")


@pytest.fixture(scope="module")
def sr(tmp_path_factory):
    return _saved(tmp_path_factory, "srresnet-x4", "sr.weights.h5")


# ------------------------------------------------------------------------------------------------ memory plan
def test_budget_formats():
    from deblurkeras import memory
    assert memory.parse_budget("2G") == 2 << 30 and memory.parse_budget("800M") == 800 << 20
    assert memory.parse_budget("1.5GB") == int(1.5 * (1 << 30)) and memory.parse_budget("4096") == 4096
    assert 0 < memory.parse_budget("10%") < memory.parse_budget(None) <= memory.available_bytes()
    with pytest.raises(BadInputError, match="--max-memory"):
        memory.parse_budget("lots")


def test_plan_whole_tiles_or_refuses():
    from deblurkeras import memory
    io = model_io("srn-color")
    big = 1 << 50
    assert memory.plan("srn-color", io, 720, 1280, big).tile == 0
    # 2^31 elements: never attempted in one run, whatever the budget
    p = memory.plan("srn-color", io, 60000, 60000, big)
    assert p.tile and "2^31" in p.reason
    assert memory.largest_tensor("srn-color", p.tile, p.tile, io) <= memory.MAX_ELEMENTS
    with pytest.raises(BadInputError, match="2\\^31"):
        memory.plan("srn-color", io, 60000, 60000, big, tile=0)
    # over budget -> the largest tile that fits; tiles stay multiples of the model's multiple (per axis)
    budget = memory.image_bytes(3024, 4032, io) + memory.work_bytes("srn-color", 512, 512, io)
    p = memory.plan("srn-color", io, 3024, 4032, budget)
    assert 0 < p.tile <= 512 and p.tile % 16 == 0 and p.estimate <= budget < p.whole
    dm = model_io("dmphn-1-2-4-8")
    assert dm.multiples == (16, 8) and memory.tile_side(100, dm) == 96
    with pytest.raises(memory.TooLargeError, match="even in"):
        memory.plan("srn-color", io, 3024, 4032, memory.image_bytes(3024, 4032, io))


def test_every_image_model_has_coefficients():
    from deblurkeras import memory
    from deblurkeras.families import model_names
    assert all(len(memory.coeffs(name)) == 2 for name in model_names(image_only=True))


# ------------------------------------------------------------------------------------------------ inference
def test_io_multiples_and_transpose_come_from_the_model():
    """DMPHN 1-2-4-8 pads H to 16 and W to 8 (a tuple multiple crashed before) and never transposes portraits."""
    keras.utils.set_random_seed(0)
    model, io = build_model("dmphn-1-2-4-8"), model_io("dmphn-1-2-4-8")
    img = _img(40, 28)  # portrait
    out = deblur_array(model, io, img)
    assert out.shape == img.shape
    np.testing.assert_array_equal(out, deblur_array(model, io, img, transpose=False))


def test_automatic_tiling_with_a_small_budget(tmp_path, srn, capsys):
    from deblurkeras import memory
    model, weights = srn
    io = model_io("srn-color")
    save_image(tmp_path / "small.png", _img(16, 24, 1))
    save_image(tmp_path / "wide.png", _img(48, 160, 2))
    save_image(tmp_path / "huge.png", _img(400, 400, 3))
    # fits 64-px tiles of wide.png (48 high), not the whole of it; huge.png cannot fit even its image buffers
    budget = memory.image_bytes(48, 160, io) + memory.work_bytes("srn-color", 48, 64, io)
    rc = main(["deblur", str(tmp_path / "small.png"), str(tmp_path / "wide.png"), str(tmp_path / "huge.png"),
               "--model", "srn-color", "--weights", str(weights), "--out", str(tmp_path / "o"),
               "--max-memory", str(budget), "--overlap", "16"])
    err = capsys.readouterr().err
    assert rc == 1
    notes = [ln for ln in err.splitlines() if ": tiling" in ln]
    assert len(notes) == 1 and "wide.png" in notes[0] and "tiling 64 px" in notes[0] and "--max-memory" in notes[0]
    assert "tile" in err and "3/3" in err.replace("\r", "\n")  # the progress bar over the 3 tiles of wide.png
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "huge.png" in errors[0] and "even in" in errors[0]
    assert sorted(os.listdir(tmp_path / "o")) == ["small.png", "wide.png"]
    np.testing.assert_array_equal(load_image(tmp_path / "o" / "wide.png"),
                                  deblur_array(model, io, _img(48, 160, 2), tile=64, overlap=16))
    np.testing.assert_array_equal(load_image(tmp_path / "o" / "small.png"), deblur_array(model, io, _img(16, 24, 1)))


def test_dmphn_in_tiles_says_it_changes_the_output():
    """Tiles give DMPHN a patch hierarchy per tile (37-38 dB against the whole image, whatever the overlap): the
    run says so in one line; SRN, whose tiles only differ at the seams, does not."""
    from deblurkeras.inference import run_image
    keras.utils.set_random_seed(0)
    notes = []
    run_image(build_model("dmphn-1-2-4"), "dmphn-1-2-4", model_io("dmphn-1-2-4"), _img(48, 96), "x.png", 10**12,
              tile=32, overlap=8, note=notes.append)
    assert len(notes) == 1 and notes[0].startswith("x.png: DMPHN in tiles") and "--tile 0" in notes[0]
    assert not model_io("srn-color").tiling_caveat


# ------------------------------------------------------------------------------------------------ F-failures
def test_f2_no_command_writes_over_its_input(tmp_path, srn):
    _, weights = srn
    w = tmp_path / "w.weights.h5"
    w.write_bytes(weights.read_bytes())
    before = w.read_bytes()
    assert main(["export-torch", "--model", "srn-color", "--weights", str(w), "--out", str(w), "--no-check"]) == 2
    assert w.read_bytes() == before
    d = tmp_path / "imgs"
    d.mkdir()
    save_image(d / "a.png", _img(16, 16))
    # --out is the folder of a.png: its output would be a.png itself
    assert main(["deblur", str(d / "a.png"), "--model", "srn-color", "--weights", str(weights), "--out", str(d)]) == 1
    np.testing.assert_array_equal(load_image(d / "a.png"), _img(16, 16))


def test_f4_clashing_output_names_are_refused_not_lost(tmp_path, sr, srn, capsys):
    _, weights = sr
    d = tmp_path / "in"
    d.mkdir()
    save_image(d / "x.png", _img(12, 12, 1))
    Image.fromarray(_img(12, 12, 2)).save(d / "x.jpg")
    save_image(d / "y.png", _img(12, 12, 3))
    assert main(["upscale", str(d), "--model", "srresnet-x4", "--weights", str(weights),
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    clashes = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(clashes) == 2 and all("x_x4.png" in ln for ln in clashes)
    assert os.listdir(tmp_path / "o") == ["y_x4.png"]
    # deblur --ext png: the same rule
    assert main(["deblur", str(d), "--model", "srn-color", "--weights", str(srn[1]), "--out", str(tmp_path / "o2"),
                 "--ext", "png"]) == 1
    assert os.listdir(tmp_path / "o2") == ["y.png"]


def _side_by_side(folder, n, size, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for i in range(n):
        sharp = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([sharp, sharp // 2 + 60], axis=1)).save(folder / f"p{i}.png")


def test_f8_eval_reports_a_bad_file_and_carries_on(tmp_path, srn, capsys):
    _, weights = srn
    data = tmp_path / "pairs"
    _side_by_side(data, 2, 16)
    (data / "p1_bad.png").write_bytes(b"\x89PNG not really")
    rc = main(["eval", "--model", "srn-color", "--weights", str(weights), "--data", str(data),
               "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert rc == 1
    assert [ln for ln in err.splitlines() if "error:" in ln][0].count("p1_bad.png") == 1
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["n_images"] == 2 and [f["name"] for f in summary["failed"]] == ["p1_bad.png"]
    assert (tmp_path / "ev" / "per_image.csv").read_text().count("\n") == 3


def test_f9_upscale_evaluate_tiny_image_is_one_line_and_keeps_the_rest(tmp_path, sr, capsys):
    _, weights = sr
    save_image(tmp_path / "good.png", _img(40, 40))
    save_image(tmp_path / "tiny.png", _img(12, 12))
    rc = main(["upscale", str(tmp_path / "good.png"), str(tmp_path / "tiny.png"), "--model", "srresnet-x4",
               "--weights", str(weights), "--out", str(tmp_path / "o"), "--evaluate"])
    err = capsys.readouterr().err
    assert rc == 1
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "tiny.png" in errors[0] and "12x12" in errors[0]
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert report["n_images"] == 1 and report["images"][0]["image"].endswith("good.png")


def test_f10_eval_tiny_pairs_and_discriminators(tmp_path, srn, capsys):
    _, weights = srn
    data = tmp_path / "pairs"
    _side_by_side(data, 2, 6)
    assert main(["eval", "--model", "srn-color", "--weights", str(weights), "--data", str(data),
               "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "6x6" in err and "SSIM" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("deblurkeras eval: error: no image pairs")
    for verb in (["eval", "--data", str(data)], ["deblur", str(data)]):
        with pytest.raises(SystemExit) as e:
            main(verb + ["--model", "srgan-d", "--weights", str(weights), "--out", str(tmp_path / "x")])
        assert e.value.code == 2
    assert "invalid choice: 'srgan-d'" in capsys.readouterr().err


def test_f11_upscale_on_an_empty_folder(tmp_path, sr, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["upscale", str(tmp_path / "empty"), "--model", "srresnet-x4", "--weights", str(sr[1]),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no images found" in err and "empty" in err


# ------------------------------------------------------------------------------------------------ quiet TF
def test_cli_prints_no_tensorflow_noise(tmp_path, srn):
    save_image(tmp_path / "a.png", _img(16, 16))
    env = {**os.environ, "PYTHONPATH": REPO}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cmd = [sys.executable, "-m", "deblurkeras.cli"]
    run = [str(tmp_path / "a.png"), "--model", "srn-color", "--weights", str(srn[1]), "--out", str(tmp_path / "o")]
    helped = subprocess.run(cmd + ["deblur", "--help"], capture_output=True, text=True, env=env, timeout=300)
    done = subprocess.run(cmd + ["deblur"] + run, capture_output=True, text=True, env=env, timeout=300)
    assert helped.returncode == 0 and done.returncode == 0, done.stderr
    for err in (helped.stderr, done.stderr):
        noise = [ln for ln in err.splitlines() if any(w in ln.lower() for w in ("cuda", "cuinit", "absl", "i0000",
                                                                                  "e0000", "w0000"))]
        assert not noise, noise
    assert "1 of 1 images deblurred" in done.stdout
