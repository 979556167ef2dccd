"""convert-keras (any Keras graph -> readable PyTorch) and compare (any Keras model vs any torch module)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from keras import layers  # noqa: E402

from deblurkeras.cli import main  # noqa: E402
from deblurkeras.convert import codegen, export, load_torch  # noqa: E402
from deblurkeras.convert.compare import compare, keras_to_torch_array, torch_to_keras_array  # noqa: E402
from deblurkeras.convert.converters import Converted, UnsupportedLayerError, register_converter  # noqa: E402
from deblurkeras.convert.keras_to_torch import convert_keras  # noqa: E402
from deblurkeras.convert.parity import randomize_batchnorm  # noqa: E402
from deblurkeras.errors import DeblurKerasError  # noqa: E402
from deblurkeras import families as registry  # noqa: E402

pytestmark = pytest.mark.torch
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def converted(model, tmp_path, sizes=None, name="out"):
    ok, results, paths, _, gen = convert_keras(model, tmp_path / name, sizes=sizes)
    assert ok, [(r["first_divergence"], r["cause"], r["max_abs_output"]) for r in results]
    return load_torch(str(tmp_path / name)), results, gen


def image_model():
    """Most 2D layer kinds, two inputs, two outputs, odd static size (TF SAME pads asymmetrically)."""
    a = keras.Input((15, 17, 3), name="a")
    b = keras.Input((15, 17, 3), name="b")
    x = layers.Rescaling(2.0, -1.0, name="rescale")(a)
    x = layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.5, 0.5, 2.0], name="norm")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv_s2")(x)            # 8x9
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.LeakyReLU(0.3, name="leaky")(x)
    x = layers.Conv2D(8, 3, dilation_rate=2, padding="same", groups=2, activation="swish", name="conv_dil")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="dw")(x)  # 4x5x16
    x = layers.SeparableConv2D(8, 3, padding="same", activation="gelu", name="sep")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="deconv")(x)     # 8x10
    x = layers.Cropping2D(((0, 0), (1, 1)), name="crop")(x)                            # 8x8
    x = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(x)                          # 9x9
    x = layers.Conv2D(8, 2, padding="valid", name="conv_valid")(x)                     # 8x8
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(x)        # 16x16
    x = layers.UpSampling2D(2, name="up_nearest")(x)                                   # 32x32
    x = layers.Resizing(15, 17, name="resizing")(x)
    y = layers.Conv2D(8, 1, name="conv_b")(b)
    y = layers.LayerNormalization(name="ln")(y)
    y = layers.GroupNormalization(groups=4, name="gn")(y)
    y = layers.PReLU(shared_axes=[1, 2], name="prelu")(y)
    m = layers.Add(name="add")([x, y])
    m = layers.Subtract(name="sub")([m, y])
    m = layers.Multiply(name="mul")([m, layers.Activation("sigmoid", name="gate")(y)])
    m = layers.Average(name="avg")([m, layers.ELU(name="elu")(y)])
    m = layers.Maximum(name="max")([m, layers.ReLU(6.0, name="relu6")(y)])
    m = layers.Concatenate(name="cat")([m, layers.Activation("tanh", name="tanh")(y)])
    m = layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(m)          # 8x9
    m = layers.AveragePooling2D(3, strides=2, padding="same", name="avgpool")(m)      # 4x5
    m = layers.Dropout(0.5, name="drop")(m)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(m)
    m = layers.Multiply(name="se")([m, g])
    p = layers.Permute((3, 1, 2), name="permute")(m)
    r = layers.Reshape((16, 20), name="reshape")(p)
    f = layers.Flatten(name="flatten")(m)                                              # (H, W, C) order
    out1 = layers.Dense(5, activation="softmax", name="head")(f)
    out2 = layers.Softmax(name="softmax")(layers.Dense(4, name="dense3d")(r))
    return randomize_batchnorm(keras.Model([a, b], [out1, out2], name="zoo_of_layers"))


def seq_model():
    """Sequential, 1D layers."""
    return keras.Sequential([
        keras.Input((20, 4)),
        layers.Conv1D(6, 3, padding="causal", dilation_rate=2, name="causal"),
        layers.Conv1D(6, 4, strides=2, padding="same", activation="relu", name="same1d"),
        layers.MaxPooling1D(2, padding="same", name="pool1d"),
        layers.Conv1D(5, 2, name="valid1d"),
        layers.GlobalMaxPooling1D(name="gmp"),
        layers.Dense(3, name="out"),
    ], name="seq1d")


def test_layer_coverage_matches_keras(tmp_path):
    model = image_model()
    torch_model, results, gen = converted(model, tmp_path)
    assert results[0]["max_abs_output"] <= 1e-5 and not results[0]["unpaired_keras_layers"]
    rng = np.random.RandomState(3)
    a, b = (rng.rand(2, 15, 17, 3).astype("float32") for _ in range(2))
    ka, kb = model([a, b], training=False)
    with torch.no_grad():
        ta, tb = torch_model(torch.from_numpy(keras_to_torch_array(a)), torch.from_numpy(keras_to_torch_array(b)))
    np.testing.assert_allclose(ta.numpy(), np.asarray(ka), atol=1e-5)   # Dense after Flatten: (H, W, C) order
    np.testing.assert_allclose(torch_to_keras_array(tb), np.asarray(kb), atol=1e-5)


def test_sequential_1d(tmp_path):
    torch_model, results, _ = converted(seq_model(), tmp_path)
    assert results[0]["ok"] and len(results[0]["rows"]) == 6


def tiny_app_models():
    from deblurkeras.convert.zoo import build_unet
    return {"MobileNetV2-0.35": lambda: keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3),
                                                                       alpha=0.35),
            "UNet": lambda: build_unet(None, base=4, depth=2)}


@pytest.mark.parametrize("name", ["MobileNetV2-0.35", "UNet"])
def test_small_zoo_models_convert_within_1e4(name, tmp_path):
    model = randomize_batchnorm(tiny_app_models()[name]())
    _, results, _ = converted(model, tmp_path, sizes=[(64, 64)])
    assert results[0]["max_abs_output"] <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121", "VGG16", "Xception",
                                  "ConvNeXtTiny", "UNet"])
def test_zoo_models_convert_within_1e4(name, tmp_path):
    from deblurkeras.convert.zoo import build
    model = randomize_batchnorm(build(name, 64))
    shape = model.inputs[0].shape
    _, results, _ = converted(model, tmp_path, sizes=[(shape[1] or 64, shape[2] or 64)])
    assert results[0]["max_abs_output"] <= 1e-4


# ---- our families: the hand-written twins are the oracle ---------------------------------------------------
@pytest.mark.parametrize("name,size", [("srn-color", (16, 32)), ("dmphn-1-2-4", (32, 32)), ("srresnet-x4", (12, 10)),
                                       ("dense-gan", (16, 16))])
def test_generated_module_equals_hand_written_twin(name, size, tmp_path):
    overrides = {"n_blocks": 2} if name.startswith("srresnet") else {}
    model = randomize_batchnorm(registry.build_model(name, **overrides))
    generated, _, _ = converted(model, tmp_path, sizes=[size])
    twin = export.build_twin(name, overrides)
    twin.load_state_dict(export.keras_to_torch_state(model, twin))
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        g, t = generated(x), twin.eval()(x)
    g, t = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (g, t))
    assert len(g) == len(t)
    for a, b in zip(g, t):
        assert float((a - b).abs().max()) <= 1e-6


def test_srn_model_py_reads_like_a_port(tmp_path):
    from deblurkeras.convert.graph import read_graph
    model = registry.build_model("srn-color")
    gen = codegen.generate(model)
    src = gen.source
    assert "self.enc1_1 = Conv(6, 32, (5, 5), padding='same', activation='relu')" in src
    assert "self.enc2_1 = Conv(32, 64, (5, 5), stride=(2, 2), padding='same', activation='relu')" in src
    assert "cat2 = self.cat2(dec2_4, enc2_4)" in src
    forward = src.split("def forward(self, blurred):")[1].split("return")[0]
    assert len([ln for ln in forward.splitlines() if ln.strip()]) == len(read_graph(model).calls) == 3 * 30
    imports = {ln.split()[1] for ln in src.splitlines() if ln.strip().startswith(("import ", "from "))}
    assert imports == {"torch", "torch.nn.functional", ".tf_same", "tf_same", "os", "safetensors.torch"}


# ---- the written directory ---------------------------------------------------------------------------------
def small_model():
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.LeakyReLU(0.2, name="act1")(x)
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same", name="up")(x)
    return randomize_batchnorm(keras.Model(inp, [x, layers.Add(name="skip")([x, inp])], name="small"))


def test_dir_loads_with_torch_and_safetensors_only(tmp_path):
    model = small_model()
    _, _, _ = converted(model, tmp_path)
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == [".deblurkeras-convert-keras.json", "__init__.py", "model.py",
                                       "model.safetensors", "parity.html", "parity.json", "parity.md", "tf_same.py"]
    x = np.random.RandomState(0).rand(1, 8, 10, 3).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expect = np.asarray(model(x, training=False)[1])
    block = "import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras')]; "
    check = ("import numpy as np, torch; x = torch.from_numpy(np.load('{x}').transpose(0, 3, 1, 2).copy()); "
             "y = m(x); assert isinstance(y, tuple) and not m.training; "
             "np.save('{o}', y[1].detach().numpy().transpose(0, 2, 3, 1))")
    via_pkg = block + f"import deblurkeras.convert as c; m = c.load_torch('{out}'); " + check
    standalone = block + "sys.modules['deblurkeras'] = None; import model; m = model.load(); " + check
    for i, (code, cwd) in enumerate([(via_pkg, REPO), (standalone, str(out))]):
        o = tmp_path / f"y{i}.npy"
        env = {**os.environ, "PYTHONPATH": REPO if i == 0 else ""}
        subprocess.run([sys.executable, "-c", code.format(x=tmp_path / "x.npy", o=o)], cwd=cwd, env=env, check=True)
        np.testing.assert_allclose(np.load(o), expect, atol=1e-5)


def test_torch_side_never_imports_tensorflow():
    code = ("import sys; import deblurkeras.convert.torch_layers, deblurkeras.convert.tf_same, "
            "deblurkeras.convert.generated, deblurkeras.families.srn.convert, deblurkeras.families.dmphn.convert, "
            "deblurkeras.families.sr.convert; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_cli_writes_dir_or_nothing(tmp_path, capsys):
    path = tmp_path / "small.keras"
    small_model().save(path)
    out = tmp_path / "conv"
    assert main(["convert-keras", str(path), "--out", str(tmp_path / "odd"), "--sizes", "9x13"]) == 2
    assert "does not run on input 1x9x13x3" in capsys.readouterr().err and not (tmp_path / "odd").exists()
    assert main(["convert-keras", str(path), "--out", str(out), "--sizes", "8x8,12x16"]) == 0
    assert (out / "model.py").is_file() and json.loads((out / "parity.json").read_text())["ok"]
    assert main(["convert-keras", str(path), "--out", str(out)]) == 2           # exists: refused
    assert "exists; pass --overwrite" in capsys.readouterr().err
    # A parity failure (a wrong converter, registered through the hook): exit 1, nothing written, report kept.
    from deblurkeras.convert import converters
    real = converters._CONVERTERS["LeakyReLU"]
    converters._CONVERTERS["LeakyReLU"] = lambda layer, ctx: Converted("nn.LeakyReLU(0.01)")
    try:
        bad = tmp_path / "bad"
        assert main(["convert-keras", str(path), "--out", str(bad), "--report", str(tmp_path / "rep")]) == 1
    finally:
        converters._CONVERTERS["LeakyReLU"] = real
    assert not bad.exists() and not (tmp_path / "bad.partial").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".bad.")]  # nor its hidden temporary folder
    printed = capsys.readouterr().out
    assert "first divergence: act1" in printed and "LeakyReLU converter does not reproduce" in printed
    assert not json.loads((tmp_path / "rep" / "parity.json").read_text())["ok"]


def test_unsupported_layer_is_a_one_line_error(tmp_path):
    inp = keras.Input((8, 8, 3))
    out = layers.Lambda(lambda t: t * 2, name="double")(inp)
    with pytest.raises(UnsupportedLayerError) as err:
        codegen.generate(keras.Model(inp, out))
    msg = str(err.value)
    assert "'double'" in msg and "Lambda" in msg and "register_converter" in msg and "\n" not in msg
    assert isinstance(err.value, DeblurKerasError)


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(DeblurKerasError, match="subclassed"):
        codegen.generate(Net())


class Twice(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


class TwiceTorch(torch.nn.Module):
    def forward(self, x):
        return 2.0 * x


def test_register_converter_hook(tmp_path):
    inp = keras.Input((6, 6, 2))
    model = keras.Model(inp, Twice(name="twice")(layers.Conv2D(2, 3, padding="same", name="c")(inp)))
    with pytest.raises(UnsupportedLayerError, match="'twice'.*Twice"):
        codegen.generate(model)
    register_converter(Twice)(lambda layer, ctx: Converted("TwiceTorch()", helpers=(TwiceTorch,)))
    _, results, gen = converted(model, tmp_path)
    assert "class TwiceTorch(torch.nn.Module)" in gen.source and results[0]["ok"]


def test_nested_submodels_share_one_class(tmp_path):
    gen = codegen.generate(registry.build_model("dmphn-1-2-4"))
    assert gen.source.count("(TapModule):") == 3   # encoder class, decoder class, the model


# ---- compare: a wrong hand port is pinpointed and the cause named ------------------------------------------
def keras_net():
    inp = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="down")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Conv2D(3, 3, padding="same", name="head")(x)
    return randomize_batchnorm(keras.Model(inp, x, name="net"))


class HandPort(torch.nn.Module):
    """The usual hand port: symmetric padding=1 everywhere (wrong on the stride-2 'same' conv)."""

    def __init__(self, bn_eps=1e-3):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.down = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(16, eps=bn_eps)
        self.head = torch.nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.down(torch.relu(self.conv1(x))))
        return self.head(self.bn(x))


def port_state(model):
    tw = {}
    for name in ("conv1", "down", "head"):
        k, b = model.get_layer(name).get_weights()
        tw[f"{name}.weight"], tw[f"{name}.bias"] = torch.from_numpy(k.transpose(3, 2, 0, 1).copy()), torch.tensor(b)
    g, beta, mean, var = model.get_layer("bn").get_weights()
    tw.update({"bn.weight": torch.tensor(g), "bn.bias": torch.tensor(beta), "bn.running_mean": torch.tensor(mean),
               "bn.running_var": torch.tensor(var), "bn.num_batches_tracked": torch.tensor(0)})
    return tw


def test_compare_pinpoints_symmetric_padding_on_stride2():
    model = keras_net()
    port = HandPort()
    port.load_state_dict(port_state(model))
    r = compare(model, port, sizes=[(16, 16)])[0]
    assert not r["ok"] and r["first_divergence"] == "down"
    assert r["rows"][0]["name"] == "conv1" and r["rows"][0]["ok"]
    assert r["cause"].startswith("asymmetric SAME padding")
    # odd sizes pad symmetrically in TF too: the same port is then exact
    assert compare(model, port, sizes=[(15, 15)])[0]["ok"]


def test_compare_names_bn_epsilon_and_uses_an_explicit_map():
    model = keras_net()
    port = HandPort(bn_eps=1e-5)
    port.load_state_dict(port_state(model))
    r = compare(model, port, {"conv1": "conv1", "down": "down", "bn": "bn"}, sizes=[(15, 15)])[0]
    assert r["first_divergence"] == "bn" and r["cause"].startswith("BN epsilon")


def test_compare_cli_with_user_file_and_weights(tmp_path, capsys):
    from safetensors.torch import save_file
    model = keras_net()
    model.save(tmp_path / "net.keras")
    save_file(port_state(model), tmp_path / "port.safetensors")
    (tmp_path / "port.py").write_text(
        "import torch\n\n\nclass Port(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)\n"
        "        self.b = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)\n"
        "        self.c = torch.nn.BatchNorm2d(16, eps=1e-3)\n        self.d = torch.nn.Conv2d(16, 3, 3, padding=1)\n\n"
        "    def forward(self, x):\n        return self.d(self.c(torch.relu(self.b(torch.relu(self.a(x))))))\n")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"conv1": "a", "down": "b", "bn": "c", "head": "d"}))
    state = {k.replace("conv1.", "a.").replace("down.", "b.").replace("bn.", "c.").replace("head.", "d."): v
             for k, v in port_state(model).items()}
    save_file(state, tmp_path / "port.safetensors")
    argv = ["compare", str(tmp_path / "net.keras"), f"{tmp_path / 'port.py'}:Port", "--torch-weights",
            str(tmp_path / "port.safetensors"), "--map", str(mapping), "--sizes", "16x16",
            "--report", str(tmp_path / "rep")]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "first divergence: down" in out and "asymmetric SAME padding" in out
    assert "asymmetric SAME padding" in (tmp_path / "rep" / "parity.md").read_text()
    assert main(argv[:7] + ["--sizes", "15x15"]) == 0        # the same port on an odd size: exact
    bad_map = tmp_path / "bad.json"
    bad_map.write_text(json.dumps({"conv1": "nope"}))
    assert main(argv[:5] + ["--map", str(bad_map)]) == 2
    assert "'nope' is not a submodule" in capsys.readouterr().err


def _conv_state(layer):
    k, b = layer.get_weights()
    return torch.from_numpy(k.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b)


def test_compare_names_resize_convention_and_flatten_order():
    inp = keras.Input((6, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up")(x)
    model = keras.Model(inp, layers.Dense(5, name="dense")(layers.Flatten(name="flatten")(x)))

    class Port(torch.nn.Module):
        def __init__(self, align_corners):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.up = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners)
            self.fc = torch.nn.Linear(12 * 12 * 4, 5)   # another name: paired by execution order

        def forward(self, x):
            return self.fc(torch.flatten(self.up(self.conv(x)), 1))   # flattens NCHW

    k, b = model.get_layer("dense").get_weights()
    for align_corners, first, cause in [(True, "up", "resize convention"), (False, "dense", "channel order")]:
        port = Port(align_corners)
        port.conv.weight.data, port.conv.bias.data = _conv_state(model.get_layer("conv"))
        port.fc.weight.data, port.fc.bias.data = torch.from_numpy(k.T.copy()), torch.from_numpy(b)
        r = compare(model, port, sizes=[(6, 6)])[0]
        assert r["layer_map"] == {"conv": "conv", "up": "up", "dense": "fc"}
        assert r["first_divergence"] == first and r["cause"].startswith(cause), r["cause"]
