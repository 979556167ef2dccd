"""TF1 checkpoint importer: a TF1-format checkpoint with the official names is imported and the Keras model agrees
with an independent forward pass written in raw tf.nn / tf.compat.v1 ops reading the same checkpoint by name."""
import numpy as np
import pytest
import tensorflow as tf

from deblurkeras.families.srn.importer import (detect_variant, load_tf1_checkpoint, open_checkpoint,
                                            read_generator_tensors, run)
from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.families import entry
from deblurkeras.families.srn.original import g_net


# ------------------------------------------------------------- the official g_net variables, written from the table
def official_shapes(channels, lstm):
    """{TF1 name: shape} of g_net, from jiangsutx/SRN-Deblur's models/model.py `generator` (independent of the Keras
    model)."""
    shapes = {}

    def conv(scope, k, cin, cout, transpose=False):
        shapes[f"g_net/{scope}/weights"] = (k, k, cout, cin) if transpose else (k, k, cin, cout)
        shapes[f"g_net/{scope}/biases"] = (cout,)

    def res(scope, ch):
        conv(scope + "/conv1", 5, ch, ch)
        conv(scope + "/conv2", 5, ch, ch)

    conv("enc1_1", 5, 2 * channels, 32)
    for level, ch, prev in ((1, 32, None), (2, 64, 32), (3, 128, 64)):
        if prev:
            conv(f"enc{level}_1", 5, prev, ch)
        for k in (2, 3, 4):
            res(f"enc{level}_{k}", ch)
    if lstm:
        conv("convLSTM/LSTM_conv", 3, 128 + 128, 4 * 128)
    for level, ch in ((3, 128), (2, 64), (1, 32)):
        for k in (3, 2, 1):
            res(f"dec{level}_{k}", ch)
        if level > 1:  # dec2_4: 128 -> 64 after the dec3 blocks, dec1_4: 64 -> 32 after the dec2 blocks
            conv(f"dec{level - 1}_4", 4, ch, ch // 2, transpose=True)
    conv("dec1_0", 5, 32, channels)
    return shapes


def random_tensors(shapes, seed):
    """Xavier-uniform kernels and small random biases (non-zero, so biases are checked too)."""
    rng = np.random.RandomState(seed)
    out = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith("/weights"):
            fan = shape[0] * shape[1] * (shape[2] + shape[3])
            out[name] = rng.uniform(-1, 1, shape).astype("float32") * np.sqrt(6.0 / fan).astype("float32")
        else:
            out[name] = (0.05 * rng.randn(*shape)).astype("float32")
    return out


def write_tf1_checkpoint(prefix, tensors):
    """A real TF1 checkpoint: graph-mode variables + tf.compat.v1.train.Saver, in its own graph (eager untouched)."""
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in tensors.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, str(prefix), global_step=523000)


# ------------------------------------------------------------------ the independent forward pass, raw TF ops
def reference_forward(prefix, x, lstm, n_levels=3, scale=0.5):
    """g_net as in the official code (families/srn/original.g_net, raw tf.nn ops), every tensor read from the
    checkpoint by its TF1 name."""
    reader = tf.train.load_checkpoint(prefix)
    W = lambda s: tf.constant(reader.get_tensor(f"g_net/{s}/weights"))  # noqa: E731
    B = lambda s: tf.constant(reader.get_tensor(f"g_net/{s}/biases"))  # noqa: E731
    return [o.numpy() for o in g_net(tf.constant(x), W, B, lstm, n_levels, scale)]


VARIANT_LAYOUT = {"color": (3, False), "gray": (1, False), "lstm": (1, True), "color_lstm": (3, True)}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf1")
    paths = {}
    for seed, variant in enumerate(("color", "lstm")):
        paths[variant] = write_tf1_checkpoint(root / variant / "deblur.model",
                                              random_tensors(official_shapes(*VARIANT_LAYOUT[variant]), seed))
    return paths


def test_official_table_matches_published_counts():
    for variant, tensors in (("color", 84), ("gray", 84), ("lstm", 86)):
        shapes = official_shapes(*VARIANT_LAYOUT[variant])
        assert len(shapes) == tensors
        assert sum(int(np.prod(s)) for s in shapes.values()) == entry(f"srn-{variant}").params


@pytest.mark.parametrize("variant", ["color", "lstm"])
@pytest.mark.parametrize("hw", [(64, 64), (48, 80)])
def test_import_matches_independent_tf1_forward(checkpoints, variant, hw):
    prefix = checkpoints[variant]
    model = load_tf1_checkpoint(None, prefix)
    assert model.name == f"srn_{variant}"
    channels = VARIANT_LAYOUT[variant][0]
    x = np.random.RandomState(7).rand(2, *hw, channels).astype("float32")
    ours = [o.numpy() for o in model(x)]
    ref = reference_forward(prefix, tf.constant(x), lstm=variant == "lstm")
    for o, r in zip(ours, ref):
        assert o.shape == r.shape
        assert np.abs(r).max() > 0.05  # the comparison is not between two near-zero tensors
        assert np.abs(o - r).max() <= 1e-5
    # the LSTM path matters: zeroing its kernel changes the output
    if variant == "lstm":
        lstm_kernel = model.get_layer("convLSTM").conv.kernel
        lstm_kernel.assign(np.zeros(lstm_kernel.shape, "float32"))
        assert np.abs(model(x)[-1].numpy() - ref[-1]).max() > 1e-3


@pytest.mark.parametrize("variant", ["color", "gray", "lstm", "color_lstm"])
def test_variant_auto_detected(tmp_path, variant):
    prefix = write_tf1_checkpoint(tmp_path / "ckpt", random_tensors(official_shapes(*VARIANT_LAYOUT[variant]), 3))
    model = load_tf1_checkpoint(None, prefix)
    assert model.name == f"srn_{variant}"
    # a directory works too (its latest checkpoint)
    assert detect_variant(read_generator_tensors(open_checkpoint(tmp_path))[0]) == variant


@pytest.fixture(scope="module")
def color_model():
    """One built colour model for the error tests (they fail before assigning anything)."""
    from deblurkeras.families.srn.model import build_srn
    return build_srn("color")


def _tensors(variant="color"):
    return random_tensors(official_shapes(*VARIANT_LAYOUT[variant]), 5)


def test_missing_tensor_is_named(tmp_path, color_model):
    t = _tensors()
    del t["g_net/enc2_3/conv2/biases"]
    prefix = write_tf1_checkpoint(tmp_path / "m", t)
    with pytest.raises(WeightsMismatchError, match=r"missing: g_net/enc2_3/conv2/biases") as e:
        load_tf1_checkpoint(color_model, prefix)
    assert e.value.missing == ["g_net/enc2_3/conv2/biases"] and not e.value.unexpected
    assert "\n" not in str(e.value)


def test_unexpected_and_missing_are_listed_together(tmp_path, color_model):
    t = _tensors()
    t["g_net/enc9_1/weights"] = np.zeros((1, 1, 1, 1), "float32")
    t["d_net/conv/weights"] = np.zeros((1,), "float32")
    del t["g_net/dec1_1/conv1/weights"]
    prefix = write_tf1_checkpoint(tmp_path / "u", t)
    with pytest.raises(WeightsMismatchError) as e:
        load_tf1_checkpoint(color_model, prefix)
    assert e.value.unexpected == ["g_net/enc9_1/weights", "d_net/conv/weights"]
    assert e.value.missing == ["g_net/dec1_1/conv1/weights"]


def test_extra_generator_tensor_is_named(tmp_path, color_model):
    t = _tensors()
    t["g_net/enc9_1/weights"] = np.zeros((1, 1, 1, 1), "float32")
    prefix = write_tf1_checkpoint(tmp_path / "u", t)
    with pytest.raises(WeightsMismatchError) as e:
        load_tf1_checkpoint(color_model, prefix)
    assert e.value.unexpected == ["g_net/enc9_1/weights"]


def test_misshaped_tensor_is_named(tmp_path, color_model):
    t = _tensors()
    t["g_net/dec2_4/weights"] = np.zeros((4, 4, 128, 64), "float32")  # in/out swapped
    prefix = write_tf1_checkpoint(tmp_path / "s", t)
    with pytest.raises(WeightsMismatchError, match=r"g_net/dec2_4/weights \(4, 4, 128, 64\) vs \(4, 4, 64, 128\)"):
        load_tf1_checkpoint(color_model, prefix)


def test_wrong_variant_requested_lists_the_difference(checkpoints):
    with pytest.raises(WeightsMismatchError) as e:
        load_tf1_checkpoint(None, checkpoints["color"], variant="lstm")
    assert "g_net/convLSTM/LSTM_conv/weights" in e.value.missing
    assert ("g_net/dec1_0/weights", (5, 5, 32, 3), (5, 5, 32, 1)) in e.value.mismatched
    assert str(e.value).endswith("[the checkpoint holds SRN 'color']")


def test_optimizer_slots_and_step_are_ignored_explicitly(tmp_path, color_model):
    t = _tensors()
    t["g_net/enc1_1/weights/Adam"] = np.zeros_like(t["g_net/enc1_1/weights"])
    t["g_net/enc1_1/weights/Adam_1"] = np.zeros_like(t["g_net/enc1_1/weights"])
    t["beta1_power"] = np.float32(0.9)
    t["Variable"] = np.int32(523000)
    prefix = write_tf1_checkpoint(tmp_path / "adam", t)
    model = load_tf1_checkpoint(color_model, prefix)
    np.testing.assert_array_equal(model.get_layer("enc1_1").kernel.numpy(), t["g_net/enc1_1/weights"])


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(BadInputError, match="nothing"):
        open_checkpoint(tmp_path / "nothing")
    (tmp_path / "junk.index").write_bytes(b"not a checkpoint index")
    with pytest.raises(BadInputError, match="junk"):
        load_tf1_checkpoint(None, tmp_path / "junk")


def test_cli_writes_weights_and_keras_atomically(tmp_path, checkpoints):
    import argparse
    import keras
    from deblurkeras.families.srn import importer as tf1_srn
    from deblurkeras.families import build_model
    parser = argparse.ArgumentParser()
    tf1_srn.add_arguments(parser)
    x = np.random.RandomState(1).rand(1, 32, 32, 1).astype("float32")
    want = reference_forward(checkpoints["lstm"], tf.constant(x), lstm=True)[-1]
    for out in ("m.weights.h5", "m.keras"):
        args = parser.parse_args([checkpoints["lstm"], "--out", str(tmp_path / out)])
        assert run(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.weights.h5"]  # no temporary left behind
    model = build_model("srn-lstm")
    model.load_weights(tmp_path / "m.weights.h5")
    assert np.abs(model(x)[-1].numpy() - want).max() <= 1e-5
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert np.abs(again(x)[-1].numpy() - want).max() <= 1e-5
    with pytest.raises(BadInputError, match=r"m\.txt"):
        run(parser.parse_args([checkpoints["lstm"], "--out", str(tmp_path / "m.txt")]))
