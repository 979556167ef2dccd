"""SRN-DeblurNet graph: parameter counts, names after the TF1 scopes, scales, shared weights, Keras saving."""
import numpy as np
import pytest

import keras
from deblurkeras.families import build_model, entry
from deblurkeras.families.srn.model import build_srn


@pytest.mark.parametrize("variant", ["color", "gray", "lstm"])
def test_parameter_counts_match_the_original(variant):
    model = build_srn(variant)
    assert model.count_params() == entry(f"srn-{variant}").params
    assert len(model.weights) == (86 if variant == "lstm" else 84)


def test_weight_names_follow_tf1_scopes():
    names = {w.path for w in build_srn("lstm").weights}
    for expected in ("enc1_1/kernel", "enc1_2/conv1/kernel", "enc3_4/conv2/bias", "dec2_4/kernel",
                     "dec1_0/bias", "convLSTM/LSTM_conv/kernel"):
        assert expected in names
    kernel = {w.path: w for w in build_srn("color").weights}["dec2_4/kernel"]
    assert tuple(kernel.shape) == (4, 4, 64, 128)  # conv-transpose [kh, kw, out, in], as the TF1 checkpoint


def test_three_scales_non_square_and_shared_weights():
    model = build_srn("color")
    outs = model(np.random.RandomState(0).rand(1, 48, 80, 3).astype("float32"))
    assert [tuple(o.shape) for o in outs] == [(1, 12, 20, 3), (1, 24, 40, 3), (1, 48, 80, 3)]
    # one set of weights for 3 scales: every weighted layer is called 3 times
    assert len(model.get_layer("enc2_1")._inbound_nodes) == 3


def test_coarsest_level_sees_blurred_twice_and_prediction_gradient_is_stopped():
    import tensorflow as tf
    model = build_srn("gray")
    x = tf.constant(np.random.RandomState(1).rand(1, 32, 32, 1).astype("float32"))
    concat = model.get_layer("inp")
    first = keras.Model(model.input, concat._inbound_nodes[0].output_tensors[0])
    y = first(x).numpy()
    np.testing.assert_array_equal(y[..., 0], y[..., 1])
    # at every level the previous prediction enters the concat through the stop-gradient layer
    stop = model.get_layer("stop_gradient")
    for node in concat._inbound_nodes:
        assert node.input_tensors[1]._keras_history.operation is stop
    # and that layer really blocks the gradient
    v = tf.Variable(np.ones((1, 4, 4, 1), "float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(stop(v) * 3.0 + v)
    np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), np.ones((1, 4, 4, 1)))


@pytest.mark.parametrize("mode", ["tf1_legacy", "half_pixel"])
def test_resize_modes_differ_and_legacy_is_default(mode):
    import tensorflow as tf
    from deblurkeras.layers import resize_bilinear
    x = tf.constant(np.random.RandomState(2).rand(1, 8, 8, 1).astype("float32"))
    legacy = tf.compat.v1.image.resize_bilinear(x, (4, 4), align_corners=False, half_pixel_centers=False)
    ours = resize_bilinear(x, (4, 4), mode)
    if mode == "tf1_legacy":
        np.testing.assert_array_equal(ours.numpy(), legacy.numpy())
    else:
        assert np.abs(ours.numpy() - legacy.numpy()).max() > 1e-3
    assert build_srn("color").get_layer("resize_pred").mode == "tf1_legacy"


def test_save_and_load_keras_formats_safe_mode(tmp_path):
    model = build_model("srn-lstm")
    x = np.random.RandomState(3).rand(1, 32, 48, 1).astype("float32")
    want = model(x)[-1].numpy()
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(again(x)[-1].numpy(), want)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = build_model("srn-lstm")
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(fresh(x)[-1].numpy(), want)


def test_identity_init_starts_every_scale_at_the_blurred_input():
    """The demo's named deviation: outputs start within a hair of the (resized) blurred input."""
    from deblurkeras.families.srn.model import identity_init
    x = np.random.RandomState(4).rand(1, 32, 48, 3).astype("float32")
    fresh = build_srn("color")
    assert np.abs(fresh(x)[-1].numpy() - x).mean() > 0.05  # Xavier: far from the identity
    outs = identity_init(fresh)(x)
    assert np.abs(outs[-1].numpy() - x).max() < 0.01
    assert tuple(outs[0].shape) == (1, 8, 12, 3)
