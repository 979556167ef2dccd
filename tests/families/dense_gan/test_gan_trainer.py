"""The dense-field GAN trainer: D truly frozen in G steps, separate optimizers, both modes, metrics, data in [-1, 1]."""
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import deblurkeras  # noqa: F401  (sets the Keras backend)
from deblurkeras import losses
from deblurkeras.families import entry
from deblurkeras.families.dense_gan import model as dense_gan
from deblurkeras.families.dense_gan import trainer as gan
from deblurkeras.training.contract import OUTPUT_KEY


def _models():
    keras.utils.set_random_seed(0)
    g = dense_gan.build_generator(channel_rate=4)
    d = dense_gan.build_discriminator(patch_size=16, filters=4, image_shape=(32, 32, 3))
    return g, d


def _l1(sharp, fake):
    return 170.0 * losses.l1_loss(sharp, fake)


def _trainer(mode="original", critic_steps=1, content=_l1, **kwargs):
    g, d = _models()
    t = gan.GANTrainer(g, d, content, mode=mode, critic_steps=critic_steps, **kwargs)
    t.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3))
    return t


def _batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    sharp = rng.uniform(-1, 1, (n, 32, 32, 3)).astype("float32")
    blurred = np.clip(sharp * 0.7 + rng.normal(0, 0.1, sharp.shape), -1, 1).astype("float32")
    return tf.constant(blurred), tf.constant(sharp)


def _snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def _changed(before, model):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.variables)]


@pytest.mark.parametrize("d_bn", ["batch", "inference"])
def test_generator_steps_leave_every_discriminator_variable_untouched(d_bn):
    t = _trainer(mode="combined", d_bn_in_g_step=d_bn)
    t.g_adv_optimizer = keras.optimizers.Adam(1e-3)  # to run the original's through-D step too
    blurred, sharp = _batch()
    d_before, g_before = _snapshot(t.discriminator), _snapshot(t.generator)
    t.g_adv_step(blurred)
    t.g_content_step(blurred, sharp, with_adv=True)
    assert not any(_changed(d_before, t.discriminator)), "D changed during G steps"
    g_trainable = {id(v) for v in t.generator.trainable_variables}
    changed = [c for c, v in zip(_changed(g_before, t.generator), t.generator.variables) if id(v) in g_trainable]
    assert all(changed), "some generator weights got no update"
    # The check can fail: running D in training mode the ordinary way does update its BN statistics.
    t.discriminator(t.generator(blurred), training=True)
    assert any(_changed(d_before, t.discriminator))


def test_discriminator_step_updates_only_the_discriminator():
    t = _trainer()
    blurred, sharp = _batch()
    d_before, g_before = _snapshot(t.discriminator), _snapshot(t.generator)
    d_loss = float(t.d_step(blurred, sharp))
    assert np.isfinite(d_loss) and d_loss > 0
    assert not any(_changed(g_before, t.generator))  # fakes come from G in inference mode (the original's predict)
    d_trainable = {id(v) for v in t.discriminator.trainable_variables}
    assert all(c for c, v in zip(_changed(d_before, t.discriminator), t.discriminator.variables)
               if id(v) in d_trainable)


def test_original_mode_runs_critic_d_steps_then_two_g_steps_with_their_own_adam():
    t = _trainer(mode="original", critic_steps=2)
    logs = t.train_step(_batch())
    assert int(t.d_optimizer.iterations) == 2
    assert int(t.g_adv_optimizer.iterations) == 1 and int(t.g_optimizer.iterations) == 1
    assert t.g_adv_optimizer is not t.g_optimizer
    # Each optimizer holds slots for its own model's variables only.
    n_g, n_d = len(t.generator.trainable_variables), len(t.discriminator.trainable_variables)
    assert len(t.g_optimizer.variables) == len(t.g_adv_optimizer.variables) == 2 * n_g + 2
    assert len(t.d_optimizer.variables) == 2 * n_d + 2
    assert set(logs) == {"d_loss", "g_adv", "g_content", "psnr", OUTPUT_KEY} and float(logs[OUTPUT_KEY]) == 0
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert set(t.optimizers()) == {"g_optimizer", "d_optimizer", "g_adv_optimizer"}


def test_combined_mode_adds_the_weighted_adversarial_term():
    t = _trainer(mode="combined", adv_weight=0.0)
    assert t.g_adv_optimizer is None and set(t.optimizers()) == {"g_optimizer", "d_optimizer"}
    blurred, sharp = _batch()
    g_before = _snapshot(t.generator)
    t.train_step((blurred, sharp))
    assert int(t.g_optimizer.iterations) == 1 and int(t.d_optimizer.iterations) == 1
    # With adv_weight 0 the G update equals a pure content step from the same weights.
    after_combined = [v.numpy().copy() for v in t.generator.trainable_variables]
    ref = _trainer(mode="combined", adv_weight=0.0)
    for v, b in zip(ref.generator.variables, g_before):
        v.assign(b)
    ref.g_content_step(blurred, sharp, with_adv=False)
    for a, b in zip(after_combined, ref.generator.trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)


def test_adversarial_loss_has_the_originals_gradient_where_d_is_saturated():
    # The original's adversarial_loss is -K.log(y_pred) on D's sigmoid output, unclipped: at a logit
    # of -17 (sigmoid 4e-8) d(-log sigmoid(z))/dz = -(1 - sigmoid(z)) = -1. Clipping at 1e-7 made it 0.
    z = tf.Variable([[-17.0], [0.0]])
    with tf.GradientTape() as tape:
        loss = losses.adversarial_loss(tf.sigmoid(z))
    grad = tape.gradient(loss, z).numpy().ravel()
    np.testing.assert_allclose(grad, [-1.0 / 2, -0.5 / 2], rtol=1e-6)  # mean over the batch of 2
    assert float(loss) == pytest.approx((17.0 + np.log(2.0)) / 2, rel=1e-6)
    with tf.GradientTape() as tape:  # the named deviation clips, and loses the gradient there
        clipped = losses.adversarial_loss(tf.sigmoid(z), eps=1e-7)
    assert tape.gradient(clipped, z).numpy().ravel()[0] == 0.0


def test_generator_learns_through_a_saturated_discriminator():
    t = _trainer()
    t.discriminator.get_layer("patch_gan").get_layer("score").bias.assign([-40.0])  # D(G(x)) ~ 4e-18 < 1e-7
    blurred, _ = _batch()
    assert float(tf.reduce_max(t.discriminator(t.generator(blurred), training=True))) < 1e-7
    g_before = [v.numpy().copy() for v in t.generator.trainable_variables]  # (BN statistics move regardless)
    adv = float(t.g_adv_step(blurred))
    assert adv == pytest.approx(40.0, rel=0.05)  # finite, unclipped (-log 1e-7 would be 16.1)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(g_before, t.generator.trainable_variables))


def test_bad_options_are_rejected():
    g, d = _models()
    with pytest.raises(ValueError, match="unknown GAN mode"):
        gan.GANTrainer(g, d, _l1, mode="wgan")
    with pytest.raises(ValueError, match="critic_steps"):
        gan.GANTrainer(g, d, _l1, critic_steps=0)


def test_fit_on_the_hdf5_pipeline_in_minus_one_one(tmp_path):
    """One short graph-mode fit on a build_hdf5-layout file read by make_dataset(value_range=(-1, 1)),
    with the original's content loss (VGG16 block3_conv3, random weights here) and evaluation."""
    from deblurkeras.data import Hdf5Writer, make_dataset

    rng = np.random.default_rng(1)
    path = tmp_path / "data.h5"
    with Hdf5Writer(path, (32, 32)) as w:
        for split in ("train", "test"):
            for i in range(4):
                sharp = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                w.append(split, sharp, (sharp // 2 + 64).astype(np.uint8), f"{split}{i}")
    ds = make_dataset(path, "train", batch_size=2, crop=32, value_range=(-1, 1))
    blurred, _ = next(iter(ds))
    assert float(tf.reduce_min(blurred)) >= -1 and float(tf.reduce_min(blurred)) < 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        content = gan.make_content_loss(vgg_weights="none")
    t = _trainer(mode="original", content=content)
    hist = t.fit(ds, steps_per_epoch=2, epochs=1, verbose=0).history
    assert set(hist) == {"d_loss", "g_adv", "g_content", "psnr", OUTPUT_KEY} and hist[OUTPUT_KEY][-1] == 0
    assert all(np.isfinite(v[-1]) for v in hist.values())
    val = make_dataset(path, "test", batch_size=2, crop=32, value_range=(-1, 1), repeat=False, shuffle=False)
    res = t.evaluate(val, verbose=0, return_dict=True)
    assert res["psnr"] > 0 and res["g_content"] > 0
    preview = t.preview(blurred).numpy()
    assert preview.min() >= 0 and preview.max() <= 1


def test_original_config_builds_the_original_setup():
    from deblurkeras.training import config

    cfg = config.load_config("dense_gan/original", ["loss.vgg_weights=none"])
    assert config.family_module(cfg) is gan
    assert gan.GANTrainer.value_range == (-1, 1) and cfg["data"]["shuffle"] is False  # file order, as main.py
    assert cfg["data"]["batch_size"] == 2 and cfg["data"]["crop"] == 256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = gan.build_trainer(cfg)
    assert t.mode == "original" and t.critic_steps == 1
    assert t.generator.count_params() == entry("dense-gan").params
    assert t.discriminator.count_params() == entry("dense-gan-d").params
    assert len([lyr for lyr in t.discriminator.layers if isinstance(lyr, dense_gan.Patch)]) == 16
    for opt in t.optimizers().values():
        assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(1e-3)
        assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-7)


def test_the_spec_names_the_originals_adam():
    """Keras 2's Adam (main.py's three Adam(1e-3)s, epsilon 1e-7)."""
    from deblurkeras.families import family
    assert family("dense_gan").optimizer == "keras2"
