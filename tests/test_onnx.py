"""export-onnx / convert-keras --onnx / --engine onnxruntime|openvino: the exported files against Keras float32.

Sizes here are used by no other test (the export-torch checks use the twins' PARITY_SIZES): each export is traced
at the first size and checked at both, so a graph that only works at its trace size fails.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'deblurkeras[onnx]'")
pytest.importorskip("onnx", reason="the onnx extra: pip install 'deblurkeras[onnx]'")

from deblurkeras import registry  # noqa: E402
from deblurkeras.cli import main  # noqa: E402
from deblurkeras.convert.onnx_export import INPUT, OUTPUT, export_onnx, read_metadata  # noqa: E402
from deblurkeras.convert.parity import output_to_image_range, randomize_batchnorm  # noqa: E402
from deblurkeras.convert.pipeline import parity_input  # noqa: E402
from deblurkeras.engines import OnnxEngine  # noqa: E402
from deblurkeras.errors import BadInputError  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.onnx]
TOL = 1e-4
MODELS = registry.model_names(image_only=True)
FAST = {"srn-color", "dense-gan", "dmphn-1-2-4", "srresnet-x4"}  # one per family in the default run


def sizes_of(name):
    """Two check sizes from the model's size multiples (no table keyed by model or family: a new model gets its
    sizes, where a missing key once hid Stack-DMPHN's export error behind a KeyError); odd sizes for (1, 1)."""
    mh, mw = registry.model_io(name).multiples
    if (mh, mw) == (1, 1):
        return [(13, 22), (19, 14)]
    return [(2 * mh, 5 * mw), (5 * mh, mw)]


def other_sizes(name):
    """Two more sizes, neither a check size: a file traced at one size must run at any multiple."""
    mh, mw = registry.model_io(name).multiples
    return [(3 * mh, 2 * mw), (mh, 3 * mw)] if (mh, mw) != (1, 1) else [(11, 17), (24, 9)]


def model_params():
    return [pytest.param(m, marks=() if m in FAST else pytest.mark.slow) for m in MODELS]


_CACHE = {}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (Keras model with seeded weights and non-trivial BN, its .weights.h5, the exported .onnx)."""
    def get(name):
        if name not in _CACHE:
            d = tmp_path_factory.mktemp(name)
            keras.utils.set_random_seed(0)
            model = randomize_batchnorm(registry.build_model(name))
            output_to_image_range(model, parity_input(name, sizes_of(name)[0], 9), registry.model_io(name).output_index)
            weights = str(d / f"{name}.weights.h5")
            model.save_weights(weights)
            out = str(d / f"{name}.onnx")
            ok, results, paths, _ = export_onnx(name, out, weights, report_dir=str(d / "report"),
                                                sizes=sizes_of(name), keras_model=model)
            assert ok, [(r["size"], r["first_divergence"], r["max_abs_output"]) for r in results]
            _CACHE[name] = (model, weights, out, results, paths)
        return _CACHE[name]
    return get


def keras_01(name, model, x):
    """Keras float32 image output in [0, 1] units."""
    io = registry.model_io(name)
    y = model(x, training=False)
    y = np.asarray(y[io.output_index] if isinstance(y, (list, tuple)) else y)
    return (y - io.out_offset) / io.out_scale


def engine_diff(name, model, path, engine, seed=1, sizes=None):
    io = registry.model_io(name)
    eng = OnnxEngine(path, engine)
    diffs = []
    for size in sizes or sizes_of(name):
        x = parity_input(name, size, seed)
        got = (eng.predict_nhwc(x) - io.out_offset) / io.out_scale
        ref = keras_01(name, model, x)
        assert got.shape == ref.shape
        diffs.append(float(np.abs(got - ref).max()))
    return diffs


@pytest.mark.parametrize("name", model_params())
def test_onnxruntime_matches_keras(name, exported):
    model, _, path, results, paths = exported(name)
    assert [tuple(r["size"]) for r in results] == sizes_of(name)
    assert all(r["file_max_abs"] <= TOL and r["first_divergence"] is None for r in results)
    assert all(r["rows"] for r in results)  # per-layer rows came from the checking copy's extra outputs
    diffs = engine_diff(name, model, path, "onnxruntime")
    assert max(diffs) <= TOL, diffs
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])  # the file handed out: one output
    assert [i.name for i in sess.get_inputs()] == [INPUT] and [o.name for o in sess.get_outputs()] == [OUTPUT]
    assert read_metadata(path)["model"] == name
    doc = json.load(open(paths[0], encoding="utf-8"))
    assert doc["target"] == "ONNX Runtime" and doc["ok"] is True


@pytest.mark.parametrize("name", [pytest.param(m, marks=() if m in FAST else pytest.mark.slow)  # FAST: exported
                                  for m in MODELS if registry.model_io(m).multiples != (1, 1)])  # for other tests
def test_onnx_file_runs_at_sizes_it_was_not_checked_at(name, exported):
    """The handed-out file is traced at one size: at two sizes that are neither the trace nor the check sizes, it
    runs and matches Keras (Stack-DMPHN's split was once frozen to the trace size: ONNX Runtime's Split failed)."""
    model, _, path, _, _ = exported(name)
    assert not set(other_sizes(name)) & set(sizes_of(name))
    diffs = engine_diff(name, model, path, "onnxruntime", seed=2, sizes=other_sizes(name))
    assert max(diffs) <= TOL, diffs


@pytest.mark.parametrize("name", model_params())
def test_openvino_f32_matches_keras(name, exported):
    pytest.importorskip("openvino", reason="the openvino extra: pip install 'deblurkeras[openvino]'")
    model, _, path, _, _ = exported(name)
    diffs = engine_diff(name, model, path, "openvino")
    assert max(diffs) <= TOL, diffs


def test_size_check_refuses_non_multiples(exported):
    _, _, path, results, _ = exported("srn-color")
    assert "size_check_H_multiple_of_16_W_multiple_of_16" in results[0]["size_check"]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="size_check_H_multiple_of_16"):
        sess.run([OUTPUT], {INPUT: np.zeros((1, 3, 40, 80), np.float32)})
    out = sess.run([OUTPUT], {INPUT: np.zeros((1, 3, 48, 96), np.float32)})[0]  # a third size, any multiple
    assert out.shape == (1, 3, 48, 96)
    with pytest.raises(BadInputError, match="multiples of 16x16"):
        OnnxEngine(path).predict_nhwc(np.zeros((1, 40, 80, 3), np.float32))


def test_naive_padding_caught_at_the_right_layer(exported, tmp_path):
    """A hand port's symmetric k//2 padding: every stride-1 SAME conv agrees (its pads are symmetric either way), so
    the first row off must be enc2_1@0, the first stride-2 SAME conv (TF pads it 1 top / 2 bottom)."""
    model, weights, _, _, _ = exported("srn-color")
    out = tmp_path / "naive.onnx"
    ok, results, paths, _ = export_onnx("srn-color", str(out), weights, report_dir=str(tmp_path / "rep"),
                                        naive={"padding"}, sizes=sizes_of("srn-color"), keras_model=model)
    assert not ok and not out.exists()
    for r in results:
        assert r["first_divergence"] == "enc2_1@0"
        assert "padding" in r["cause"]
        assert all(row["ok"] for row in r["rows"][:[x["name"] for x in r["rows"]].index("enc2_1@0")])
    doc = json.load(open(paths[0], encoding="utf-8"))
    assert doc["ok"] is False and doc["results"][0]["first_divergence"] == "enc2_1@0"
    assert "DIVERGES" in open(paths[1], encoding="utf-8").read()


def test_cli_export_onnx_exit_codes(exported, tmp_path, capsys):
    """0 and a file when parity holds; 1 and no file when it does not; 2 (one line) on a user error."""
    _, weights, _, _, _ = exported("dense-gan")
    out, sizes = tmp_path / "g.onnx", "21x34,30x19"
    assert main(["export-onnx", "--model", "dense-gan", "--weights", weights, "--out", str(out), "--sizes", sizes,
                 "--report", str(tmp_path / "rep")]) == 0
    assert out.is_file() and (tmp_path / "rep" / "parity.html").is_file()
    assert "dynamic H x W" in capsys.readouterr().out
    bad = tmp_path / "naive.onnx"
    assert main(["export-onnx", "--model", "dense-gan", "--weights", weights, "--out", str(bad), "--sizes", sizes,
                 "--naive", "leaky"]) == 1
    assert not bad.exists() and "not written" in capsys.readouterr().out
    assert main(["export-onnx", "--model", "dense-gan", "--weights", weights, "--out", str(bad),
                 "--sizes", "21x34"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not bad.exists()
    with pytest.raises(SystemExit) as stop:  # not an image model: not among --model's choices
        main(["export-onnx", "--model", "dense-gan-d", "--out", str(bad)])
    assert stop.value.code == 2 and "invalid choice: 'dense-gan-d'" in capsys.readouterr().err


def _image(path, h, w, seed=0):
    from PIL import Image
    Image.fromarray((np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)).save(path)


def _read(path):
    from PIL import Image
    return np.asarray(Image.open(path), dtype=np.int16)


def test_cli_engines_agree_with_keras_tiled(exported, tmp_path):
    """deblur --engine onnxruntime|openvino: same padding, tiling and uint8 conventions as the Keras engine."""
    _, weights, path, _, _ = exported("dense-gan")
    _image(tmp_path / "a.png", 45, 70)
    outs = {}
    for engine in ("keras", "onnxruntime", "openvino"):
        if engine == "openvino" and not _has("openvino"):
            continue
        w = weights if engine == "keras" else path
        rc = main(["deblur", str(tmp_path / "a.png"), "--weights", w, "--model", "dense-gan", "--engine", engine,
                   "--tile", "32", "--overlap", "8", "--out", str(tmp_path / engine)])
        assert rc == 0
        outs[engine] = _read(tmp_path / engine / "a.png")
    assert outs["keras"].shape == (45, 70, 3)
    for engine, img in outs.items():
        assert np.abs(img - outs["keras"]).max() <= 1, engine  # float diffs <= 1e-4 can flip a truncation


def test_cli_eval_onnxruntime(exported, tmp_path):
    """eval --engine onnxruntime scores like Keras on a folder of side-by-side pairs, and says which engine ran."""
    _, weights, path, _, _ = exported("dense-gan")
    (tmp_path / "pairs").mkdir()
    for i in range(2):
        _image(tmp_path / "pairs" / f"p{i}.png", 24, 60, seed=10 + i)
    summaries = {}
    for engine, w in (("keras", weights), ("onnxruntime", path)):
        assert main(["eval", "--model", "dense-gan", "--weights", w, "--engine", engine, "--data",
                     str(tmp_path / "pairs"), "--out", str(tmp_path / engine)]) == 0
        summaries[engine] = json.load(open(tmp_path / engine / "summary.json", encoding="utf-8"))
    assert summaries["onnxruntime"]["n_images"] == 2
    assert abs(summaries["onnxruntime"]["psnr_out"] - summaries["keras"]["psnr_out"]) < 0.01
    assert summaries["onnxruntime"]["dtype_policy"] == "onnxruntime float32"


def test_cli_upscale_onnxruntime(exported, tmp_path):
    _, weights, path, _, _ = exported("srresnet-x4")
    _image(tmp_path / "lr.png", 11, 13, seed=2)
    for engine, w in (("keras", weights), ("onnxruntime", path)):
        assert main(["upscale", str(tmp_path / "lr.png"), "--weights", w, "--engine", engine, "--model", "srresnet-x4",
                     "--out", str(tmp_path / engine)]) == 0
    a, b = _read(tmp_path / "keras" / "lr_x4.png"), _read(tmp_path / "onnxruntime" / "lr_x4.png")
    assert a.shape == (44, 52, 3) and np.abs(a - b).max() <= 1


def _has(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def test_missing_engine_is_one_line_naming_the_extra(exported, tmp_path, monkeypatch, capsys):
    _, _, path, _, _ = exported("dense-gan")
    _image(tmp_path / "a.png", 8, 8)
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    rc = main(["deblur", str(tmp_path / "a.png"), "--weights", path, "--engine", "openvino",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pip install 'deblurkeras[openvino]'" in err[0]
    assert not (tmp_path / "o" / "a.png").exists()
    rc = main(["deblur", str(tmp_path / "a.png"), "--weights", path, "--out", str(tmp_path / "o")])
    assert rc == 2 and "--engine onnxruntime" in capsys.readouterr().err


def test_precision_bfloat16_maps_to_openvino_hint(exported):
    pytest.importorskip("openvino", reason="the openvino extra")
    from deblurkeras import precision
    model, _, path, _, _ = exported("dense-gan")
    with pytest.raises(BadInputError, match="float32"):
        OnnxEngine(path, "onnxruntime", "bfloat16")
    native, _ = precision.detect()
    eng = OnnxEngine(path, "openvino", "bfloat16")
    assert eng.precision == ("bfloat16" if native else "float32")
    x = parity_input("dense-gan", (21, 34), 3)
    f32 = OnnxEngine(path, "openvino", "float32").predict_nhwc(x)
    bf16 = eng.predict_nhwc(x)
    diff = float(np.abs(bf16 - f32).max())
    if native:  # the hint took effect: not bit-equal to f32, yet close (values in [-1, 1])
        assert 0 < diff < 0.2
    else:
        assert diff == 0


def toy_model():
    """A model no other test converts: stride-2 SAME convs on odd sizes (TF's asymmetric pads), BN, dilation,
    depthwise conv, bilinear upsampling, a one-pixel crop (so odd H / W only), a skip concat; H / W open."""
    from keras import layers
    x = keras.Input((None, None, 3), name="photo")
    a = layers.Conv2D(6, 3, strides=2, padding="same", name="down")(x)
    a = layers.BatchNormalization(name="bn")(a)
    a = layers.ReLU(name="relu")(a)
    b = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, name="dw")(a)
    a = layers.Add(name="add")([a, b])
    a = layers.UpSampling2D(2, interpolation="bilinear", name="up")(a)
    a = layers.Cropping2D(((0, 1), (0, 1)), name="crop")(a)
    a = layers.Concatenate(name="cat")([a, x])
    y = layers.Conv2D(3, 5, padding="same", activation="sigmoid", name="head")(a)
    keras.utils.set_random_seed(3)
    return randomize_batchnorm(keras.Model(x, y, name="toy_onnx"))


def test_convert_keras_onnx_matches(tmp_path):
    from deblurkeras.convert.keras_to_torch import convert_keras
    model = toy_model()
    out = tmp_path / "conv"
    ok, results, paths, _, _ = convert_keras(model, out, sizes=[(33, 47), (41, 29)], onnx=True)
    assert ok and (out / "model.onnx").is_file() and (out / "parity_onnx.json").is_file()
    onnx_rows = [r for r in results if r.get("target") == "ONNX Runtime"]
    assert len(onnx_rows) == 2 and all(r["max_abs_output"] <= TOL for r in onnx_rows)
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.RandomState(5).rand(1, 27, 39, 3).astype(np.float32)  # a third odd size
    got = sess.run(None, {"photo": x.transpose(0, 3, 1, 2).copy()})[0].transpose(0, 2, 3, 1)
    ref = np.asarray(model(x, training=False))
    assert got.shape == ref.shape and float(np.abs(got - ref).max()) <= TOL


def test_import_deblurkeras_does_not_import_the_runtimes():
    code = ("import sys, deblurkeras, deblurkeras.engines, deblurkeras.convert.onnx_export, deblurkeras.inference; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'openvino', 'torch') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_convert_keras_onnx_classifier_with_report(tmp_path):
    """Non-image outputs (a logits vector) go through the ONNX proof and its report too (no heatmap to draw)."""
    from keras import layers
    from deblurkeras.convert.keras_to_torch import convert_keras
    x = keras.Input((20, 24, 3), name="rgb")
    a = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c")(x)
    a = layers.GlobalAveragePooling2D(name="gap")(a)
    y = layers.Dense(5, name="logits")(a)
    keras.utils.set_random_seed(4)
    model = keras.Model(x, y)
    ok, results, paths, _, _ = convert_keras(model, tmp_path / "cls", report_dir=str(tmp_path / "rep"), onnx=True)
    onnx_rows = [r for r in results if r.get("target") == "ONNX Runtime"]
    assert ok and len(onnx_rows) == 1 and onnx_rows[0]["max_abs_output"] <= TOL
    assert (tmp_path / "rep" / "parity_onnx.html").is_file() and (tmp_path / "cls" / "model.onnx").is_file()
    x_np = np.random.RandomState(0).rand(2, 20, 24, 3).astype(np.float32)  # batch 2: the batch axis is dynamic
    sess = ort.InferenceSession(str(tmp_path / "cls" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"rgb": x_np.transpose(0, 3, 1, 2).copy()})[0]
    assert float(np.abs(got - np.asarray(model(x_np))).max()) <= TOL
