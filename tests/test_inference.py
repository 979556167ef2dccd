"""Inference: padding/cropping, portrait transposition, gray channel-by-channel, tiling, weights formats, the CLI."""
import os

import keras
import numpy as np
import pytest
from PIL import Image

from deblurkeras.cli import main
from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.imageio import load_image, save_image
from deblurkeras.inference import deblur_array, load_model, predict_01
from deblurkeras.families import ModelIO, build_model, model_io


@pytest.fixture(scope="module")
def color():
    keras.utils.set_random_seed(0)
    return build_model("srn-color")


@pytest.fixture(scope="module")
def weights(tmp_path_factory, color):
    d = tmp_path_factory.mktemp("w")
    color.save_weights(d / "color.weights.h5")
    color.save(d / "color.keras")
    build_model("srn-gray").save_weights(d / "gray.weights.h5")
    build_model("srn-lstm").save_weights(d / "lstm.weights.h5")
    return d


def _img(h, w, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


def test_any_size_is_edge_padded_to_16_and_cropped(color):
    img = _img(37, 50)
    out = deblur_array(color, model_io("srn-color"), img)
    assert out.shape == img.shape and out.dtype == np.uint8
    padded = np.pad(img, ((0, 48 - 37), (0, 64 - 50), (0, 0)), mode="edge")
    want = color((padded / 255.0).astype("float32")[None])[-1].numpy()[0, :37, :50]  # eager Keras call
    out01 = predict_01(color, model_io("srn-color"), img)
    np.testing.assert_allclose(out01, want, atol=1e-5)  # graph mode may fuse ops differently
    np.testing.assert_array_equal(out, (np.clip(out01, 0, 1) * 255).astype(np.uint8))  # truncation
    rounded = deblur_array(color, model_io("srn-color"), img, round=True)
    assert 0 < np.mean(rounded != out) and np.all(rounded.astype(int) - out >= 0)
    # --pad-to (the official fixed placeholder) pads further, which changes the border pixels
    fixed = deblur_array(color, model_io("srn-color"), img, pad_to=(64, 80))
    assert fixed.shape == img.shape and np.any(fixed != out)
    with pytest.raises(BadInputError, match="does not fit"):
        deblur_array(color, model_io("srn-color"), img, pad_to=(32, 32))


def test_portrait_is_transposed_like_the_original(color):
    io = model_io("srn-color")
    img = _img(48, 32)
    out = deblur_array(color, io, img)
    landscape = deblur_array(color, io, np.ascontiguousarray(img.transpose(1, 0, 2)))
    np.testing.assert_array_equal(out, landscape.transpose(1, 0, 2))
    assert np.any(deblur_array(color, io, img, transpose=False) != out)  # kernels are not transpose-symmetric


def test_gray_model_runs_rgb_channel_by_channel():
    model = build_model("srn-gray")
    img = _img(32, 48)
    out = predict_01(model, model_io("srn-gray"), img)
    for c in range(3):
        one = model((img[None, ..., c:c + 1] / 255.0).astype("float32"))[-1].numpy()[0, ..., 0]
        np.testing.assert_allclose(out[..., c], one, atol=2e-5)  # batch 3 vs 1: oneDNN summation order
    assert np.abs(out[..., 0] - out[..., 1]).max() > 1e-2


def test_tile_that_holds_the_image_is_identical(color):
    io = model_io("srn-color")
    img = _img(40, 60)
    np.testing.assert_array_equal(deblur_array(color, io, img, tile=64, overlap=16), deblur_array(color, io, img))


def test_tiles_cover_and_blend(color):
    # a pointwise model: any tiling must reproduce the untiled result (up to float rounding of the blend)
    inp = keras.Input((None, None, 3))
    pointwise = keras.Model(inp, keras.layers.Conv2D(3, 1, kernel_initializer="ones")(inp))
    io = ModelIO(multiple=16)
    img = _img(100, 140)
    whole = predict_01(pointwise, io, img)
    np.testing.assert_allclose(predict_01(pointwise, io, img, tile=48, overlap=16), whole, atol=1e-5)
    np.testing.assert_allclose(predict_01(pointwise, io, img, tile=64, overlap=0), whole, atol=1e-5)
    # the real model tiled: right shape, close to the untiled run away from the seams on average
    out = deblur_array(color, model_io("srn-color"), _img(40, 100), tile=48, overlap=16)
    assert out.shape == (40, 100, 3)


def test_weight_formats_and_wrong_weights(weights, color):
    img = _img(32, 32)
    want = deblur_array(color, model_io("srn-color"), img)
    for f in ("color.weights.h5", "color.keras"):
        got = deblur_array(load_model("srn-color", weights / f), model_io("srn-color"), img)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(WeightsMismatchError, match="gray.weights.h5") as e:
        load_model("srn-color", weights / "gray.weights.h5")
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsMismatchError, match="unexpected"):  # Keras alone would load this silently
        load_model("srn-gray", weights / "lstm.weights.h5")
    with pytest.raises(WeightsMismatchError, match=r"shape mismatch: enc1_1/kernel \(5, 5, 6, 32\)"):
        load_model("srn-gray", weights / "color.keras")
    (weights / "junk.weights.h5").write_bytes(b"junk")
    with pytest.raises(BadInputError, match="junk.weights.h5"):
        load_model("srn-color", weights / "junk.weights.h5")
    with pytest.raises(BadInputError, match="nothing.bin"):
        load_model("srn-color", weights / "nothing.bin")


def test_tf1_checkpoint_weights(tmp_path):
    from test_tf1_import import VARIANT_LAYOUT, official_shapes, random_tensors, write_tf1_checkpoint
    prefix = write_tf1_checkpoint(tmp_path / "deblur.model", random_tensors(official_shapes(*VARIANT_LAYOUT["lstm"]), 1))
    model = load_model("srn-lstm", prefix)
    np.testing.assert_array_equal(model.get_layer("dec1_0").bias.numpy(),
                                  random_tensors(official_shapes(1, True), 1)["g_net/dec1_0/biases"])


def test_cli_processes_good_files_and_names_bad_ones(tmp_path, weights, color, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    save_image(src / "a.png", _img(30, 40, 1))
    Image.fromarray(_img(40, 24, 2)[..., 0]).save(src / "b_gray_portrait.png")
    (src / "empty.png").write_bytes(b"")
    (src / "text.jpg").write_text("not an image")
    Image.fromarray(_img(32, 32)).save(src / "full.jpg")
    data = (src / "full.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(data[: len(data) // 3])
    os.remove(src / "full.jpg")
    rc = main(["deblur", str(src), "--model", "srn-color", "--weights", str(weights / "color.weights.h5"),
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0
    assert sorted(os.listdir(out)) == ["a.png", "b_gray_portrait.png"]  # nothing partial for the bad ones
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 3 and all(any(n in line for n in ("empty.png", "text.jpg", "cut.jpg")) for line in errors)
    np.testing.assert_array_equal(load_image(out / "a.png"),
                                  deblur_array(color, model_io("srn-color"), load_image(src / "a.png")))
    assert load_image(out / "b_gray_portrait.png").shape == (40, 24, 3)


def test_cli_good_run_exits_zero_and_wrong_weights_exit_two(tmp_path, weights, capsys):
    save_image(tmp_path / "a.png", _img(16, 16))
    args = ["deblur", str(tmp_path / "a.png"), "--model", "srn-gray", "--out", str(tmp_path / "o"), "--ext", "bmp"]
    assert main(args + ["--weights", str(weights / "gray.weights.h5"), "--tile", "16", "--overlap", "4"]) == 0
    assert os.listdir(tmp_path / "o") == ["a.bmp"]
    # --overwrite: the first run's a.bmp is there (deblurkeras/outputs.py); the wrong weights are what stops it
    assert main(args + ["--weights", str(weights / "color.weights.h5"), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("deblurkeras deblur: error:") and "color.weights.h5" in err[-1]
    # the output folder cannot be created (a file is in the way)
    (tmp_path / "file").write_text("x")
    bad_out = ["deblur", str(tmp_path / "a.png"), "--model", "srn-gray", "--out", str(tmp_path / "file" / "o"),
               "--weights", str(weights / "gray.weights.h5")]
    assert main(bad_out) == 2
    assert "file" in capsys.readouterr().err


def test_keras_file_of_any_family_loads_in_a_fresh_process(tmp_path):
    """`.keras` files need their family's custom layers registered before safe_mode loading: load_model does it."""
    import subprocess
    import sys
    from deblurkeras.families import build_model
    path = tmp_path / "d.keras"
    build_model("dense-gan-d").save(path)
    code = ("from deblurkeras.inference import load_model; "
            f"m = load_model('dense-gan-d', {str(path)!r}); print(m.count_params())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) == build_model("dense-gan-d").count_params()
