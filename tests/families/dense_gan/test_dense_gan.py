"""Dense-field generator + PatchGAN discriminator (leftthomas/ImageDeblurring, model.py) and the shared loss pieces."""
import warnings

import keras
import numpy as np
import pytest

import deblurkeras  # noqa: F401  (sets the Keras backend)
from deblurkeras import losses
from deblurkeras.errors import BadInputError
from deblurkeras.families.dense_gan import model as dense_gan
from deblurkeras.families import SIGNED, build_model, entry, model_io

# Parameter counts worked out by hand from leftthomas/ImageDeblurring's model.py (c = 64, f = 4c = 256; conv k x k:
# k*k*in*out + out, BN: 4 per channel of which 2 trainable):
#   head 3*3*3*256+256 = 7,168
#   dense block k (input 256 + 64(k-1)): 1x1 conv in*256+256, BN 1,024, 3x3 conv 9*256*64+64 = 147,520, BN 256;
#     sum of inputs over k = 10*256 + 64*45 = 5,440 -> 1x1 convs 5,440*256 + 2,560 = 1,395,200;
#     3x3 convs 1,475,200; BNs 12,800
#   tail 1x1 64*256+256 = 16,640, BN 1,024; skip conv 9*512*64+64 = 294,976; output 9*64*3+3 = 1,731
#   total 3,204,739, of which BN moving statistics 2*(10*(256+64)+256) = 6,912 non-trainable
#   (the seed: "300万个可训练参数,和近7000个固定参数" = 3M trainable, ~7000 fixed).
GENERATOR = entry("dense-gan")          # its spec holds the hand count above (params, fixed)
# PatchGAN: convs 1,792 + 73,856 + 295,168 + 590,080; BNs 4*(64+128+256+256) = 2,816; Dense 4*4*256+1 = 4,097
#   total 967,809, non-trainable 1,408 (the seed: "96万个可训练参数,1400个固定参数").
DISCRIMINATOR = entry("dense-gan-d")    # likewise


def _fixed(model):
    return sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)


def test_generator_parameter_count_matches_the_hand_count():
    g = dense_gan.build_generator()
    assert (g.count_params(), _fixed(g)) == (GENERATOR.params, GENERATOR.fixed)
    assert dense_gan.generator_param_count() == (GENERATOR.params, GENERATOR.fixed)
    assert build_model("dense-gan").count_params() == GENERATOR.params
    assert model_io("dense-gan") == SIGNED  # [-1, 1] in and out
    d = model_io("dense-gan-d")
    assert (d.in_scale, d.in_offset, d.image) == (2.0, -1.0, False)  # [-1, 1] in, a score out


def test_generator_structure_follows_the_reference():
    g = dense_gan.build_generator(channel_rate=8)
    layer = g.get_layer
    assert [layer(f"d{k}_conv3x3").dilation_rate for k in range(1, 11)] == \
        [(1, 1), (1, 1), (1, 1), (2, 2), (1, 1), (3, 3), (1, 1), (2, 2), (1, 1), (1, 1)]
    # The running concatenation: block k sees head + k-1 outputs; d10 feeds the tail alone (no cat10).
    for k in range(1, 11):
        assert layer(f"d{k}_conv1x1").input.shape[-1] == 32 + 8 * (k - 1)
    assert "cat10" not in [lyr.name for lyr in g.layers]
    assert layer("tail_lrelu").input is layer("d10_dropout").output
    # Global skip: concat(head, tail) -> conv -> LReLU -> conv tanh; no addition to the input anywhere.
    assert [t.name for t in layer("skip_cat").input] == [layer("head").output.name, layer("tail_bn").output.name]
    assert not any(isinstance(lyr, keras.layers.Add) for lyr in g.layers)
    assert layer("output").activation.__name__ == "tanh" and layer("output").filters == 3
    lrelus = [lyr for lyr in g.layers if isinstance(lyr, keras.layers.LeakyReLU)]
    assert len(lrelus) == 22 and all(lyr.negative_slope == pytest.approx(0.2) for lyr in lrelus)
    bns = [lyr for lyr in g.layers if isinstance(lyr, keras.layers.BatchNormalization)]
    assert len(bns) == 21 and all((b.epsilon, b.momentum) == (1e-3, 0.99) for b in bns)
    assert [lyr.rate for lyr in g.layers if isinstance(lyr, keras.layers.Dropout)] == [0.5] * 10
    assert dense_gan.build_generator(channel_rate=8, dropout=False).count_params() == g.count_params()


def test_generator_is_fully_convolutional_in_minus_one_one():
    g = dense_gan.build_generator(channel_rate=8)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 19, 30, 3)).astype("float32")
    y = g(x, training=False).numpy()
    assert y.shape == (2, 19, 30, 3) and np.abs(y).max() <= 1.0
    assert dense_gan.generator_param_count(8) == (g.count_params(), _fixed(g))


def test_discriminator_parameter_count_matches_the_hand_count():
    d = dense_gan.build_discriminator()
    assert (d.count_params(), _fixed(d)) == (DISCRIMINATOR.params, DISCRIMINATOR.fixed)
    assert dense_gan.discriminator_param_count() == (DISCRIMINATOR.params, DISCRIMINATOR.fixed)
    patch = d.get_layer("patch_gan")
    assert [lyr.strides for lyr in patch.layers if isinstance(lyr, keras.layers.Conv2D)] == [(2, 2)] * 4
    assert all(lyr.negative_slope == pytest.approx(0.2) for lyr in patch.layers
               if isinstance(lyr, keras.layers.LeakyReLU))


@pytest.mark.parametrize("batch_patches", [False, True])
def test_every_one_of_the_16_patches_reaches_the_average(batch_patches):
    """The original's Lambda closures sliced the last patch 16 times; here each patch must count, once."""
    shape = (256, 256, 3) if not batch_patches else (None, None, 3)
    d = dense_gan.build_discriminator(patch_size=64, filters=4, image_shape=shape, batch_patches=batch_patches)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 256, 256, 3)).astype("float32")
    base = d(x, training=False).numpy()
    # The output is exactly the mean of the shared patch model over the 16 patches, in any order.
    patch_model = d.get_layer("patch_gan")
    patches = [x[:, r:r + 64, c:c + 64] for r in range(0, 256, 64) for c in range(0, 256, 64)]
    manual = np.mean([patch_model(p, training=False).numpy() for p in patches], axis=0)
    np.testing.assert_allclose(base, manual, rtol=1e-5, atol=1e-6)
    # Perturbing any one patch changes the score, by 1/16 of that patch's own score change (one batched call).
    corners = [(r, c) for r in range(0, 256, 64) for c in range(0, 256, 64)]
    variants = np.repeat(x[None], 16, axis=0)  # (16 variants, 2 images, ...)
    for i, (r, c) in enumerate(corners):
        variants[i, :, r:r + 64, c:c + 64] = rng.uniform(-1, 1, (2, 64, 64, 3))
    delta = d(variants.reshape(32, 256, 256, 3), training=False).numpy().reshape(16, 2) - base.ravel()
    new = np.stack([variants[i, :, r:r + 64, c:c + 64] for i, (r, c) in enumerate(corners)]).reshape(32, 64, 64, 3)
    old = np.stack(patches).reshape(32, 64, 64, 3)
    own = (patch_model(new, training=False).numpy() - patch_model(old, training=False).numpy()).reshape(16, 2)
    assert np.all(np.abs(delta) > 0), f"patches not reaching the average: {np.argwhere(delta == 0)}"
    np.testing.assert_allclose(delta, own / 16, rtol=1e-3, atol=1e-6)


def test_discriminator_on_a_new_tensor_scores_every_patch():
    """D called on G(x) (a new symbolic tensor) must still see all patches: gradients reach every patch."""
    import tensorflow as tf

    d = dense_gan.build_discriminator(patch_size=16, filters=4, image_shape=(64, 64, 3))
    x = tf.constant(np.random.default_rng(2).uniform(-1, 1, (1, 64, 64, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = d(x * 0.5, training=False)
    grad = np.abs(tape.gradient(y, x).numpy()[0]).sum(axis=-1)
    per_patch = grad.reshape(4, 16, 4, 16).sum(axis=(1, 3))
    assert np.all(per_patch > 0), per_patch


def test_patch_size_is_its_own_argument():
    d = dense_gan.build_discriminator(patch_size=32, image_shape=(128, 128, 3), filters=64)
    assert len([lyr for lyr in d.layers if isinstance(lyr, dense_gan.Patch)]) == 16
    assert d.get_layer("patch_gan").get_layer("score").kernel.shape == (2 * 2 * 256, 1)
    assert dense_gan.discriminator_param_count(32, 64)[0] == d.count_params()
    with pytest.raises(ValueError, match="not a multiple of patch_size 48"):
        dense_gan.build_discriminator(patch_size=48, image_shape=(256, 256, 3))


def test_models_round_trip_through_safe_keras_files(tmp_path):
    g = dense_gan.build_generator(channel_rate=4)
    d = dense_gan.build_discriminator(patch_size=16, filters=4, image_shape=(32, 32, 3))
    db = dense_gan.build_discriminator(patch_size=16, filters=4, image_shape=(None, None, 3), batch_patches=True)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    for model in (g, d, db):
        path = tmp_path / f"{model.name}_{len(model.layers)}.keras"
        model.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


# ------------------------------------------------------------------------------------------------ losses
def test_vgg_features_random_weights_warn_and_cut_at_the_layer():
    with pytest.warns(UserWarning, match="random weights"):
        f16 = losses.vgg_features(weights="none")
    assert f16.output_shape == (None, None, None, 256) and not f16.trainable_weights
    x = np.random.default_rng(4).uniform(-1, 1, (1, 32, 48, 3)).astype("float32")
    assert f16(x).shape == (1, 8, 12, 256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f19 = losses.vgg_features("vgg19", "block5_conv4", weights="none")
        assert f19(x).shape == (1, 2, 3, 512)
        with pytest.raises(ValueError, match="no layer 'block9_conv1'"):
            losses.vgg_features(layer="block9_conv1", weights="none")


def test_vgg_features_load_a_local_weights_file(tmp_path):
    backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    backbone.save_weights(path)
    f = losses.vgg_features(weights=str(path))
    x = np.random.default_rng(5).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    ref = keras.Model(backbone.input, backbone.get_layer("block3_conv3").output)
    np.testing.assert_allclose(f(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(BadInputError, match="nowhere.h5: VGG weights file not found"):
        losses.vgg_features(weights=str(tmp_path / "nowhere.h5"))
    with pytest.raises(BadInputError, match="not a vgg19"):
        losses.vgg_features("vgg19", "block5_conv4", weights=str(path))


def test_vgg_preprocessing_is_optional_and_exact():
    x = np.array([[[[-1.0, 0.0, 1.0]]]], "float32")  # R=-1 G=0 B=1 in [-1, 1]
    caffe = losses.VGGPreprocess("caffe")(x).numpy().ravel()
    np.testing.assert_allclose(caffe, [255 - 103.939, 127.5 - 116.779, 0 - 123.68], rtol=1e-5)  # BGR
    torch_like = losses.VGGPreprocess("torch", input_range=(0, 1))(np.full((1, 1, 1, 3), 0.5, "float32"))
    np.testing.assert_allclose(torch_like.numpy().ravel(),
                               [(0.5 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))], rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = losses.vgg_features(weights="none")
        pre = losses.vgg_features(weights="none", preprocess=True)
    assert "vgg_preprocess" not in [lyr.name for lyr in plain.layers]  # faithful default: fed unchanged
    assert "vgg_preprocess" in [lyr.name for lyr in pre.layers]


def test_loss_values():
    a = np.zeros((2, 4, 4, 3), "float32")
    b = np.full((2, 4, 4, 3), 0.5, "float32")
    assert float(losses.l1_loss(a, b)) == pytest.approx(0.5)
    assert float(losses.adversarial_loss(np.array([[0.5], [0.25]], "float32"))) == \
        pytest.approx((np.log(2) + np.log(4)) / 2, rel=1e-6)
    assert float(losses.adversarial_loss(np.zeros((1, 1), "float32"))) == np.inf  # unclipped, like the original
    assert np.isfinite(float(losses.adversarial_loss(np.zeros((1, 1), "float32"), eps=1e-7)))
    assert float(losses.bce_loss(np.array([1.0, 0.0]), np.array([0.8, 0.4]))) == \
        pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = losses.vgg_features(weights="none")
    perceptual = float(np.mean((f(a).numpy() - f(b).numpy()) ** 2))
    assert perceptual > 0
    assert float(losses.content_loss(f, a, b)) == pytest.approx(145 * perceptual + 170 * 0.5, rel=1e-4)
    assert float(losses.psnr(a, b, max_val=2.0)) == pytest.approx(10 * np.log10(4 / 0.25), rel=1e-5)
