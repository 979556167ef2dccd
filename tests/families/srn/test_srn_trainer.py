"""SRNTrainer: the original's multi-scale loss, Adam + polynomial decay, luminance for gray, LSTM-only clipping."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from deblurkeras.layers import ScaleResize
from deblurkeras.families.srn import trainer as srn
from deblurkeras.training.schedules import build_schedule, current_lr


def tiny_generator(channels=3, seed=0):
    """A 3-output stand-in for SRN (coarsest first) that traces in milliseconds."""
    init = keras.initializers.GlorotUniform(seed=seed)
    x = keras.Input((None, None, channels))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init)(x)
    y = keras.layers.Add()([x, keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=init)(h)])
    return keras.Model(x, [ScaleResize(0.25)(y), ScaleResize(0.5)(y), y])


def tiny_trainer(channels=3, total_steps=100, **train_cfg):
    trainer = srn.SRNTrainer(tiny_generator(channels))
    trainer.compile(optimizer=srn.make_optimizer(train_cfg, total_steps))
    return trainer


def _pair(n=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    sharp = rng.random((n, size, size, 3), dtype=np.float32)
    blurred = np.clip(sharp + 0.1 * rng.standard_normal(sharp.shape).astype(np.float32), 0, 1)
    return blurred, sharp


def test_loss_is_sum_of_per_scale_mse_with_tf1_resize():
    """Against the TF1 op SRN-Deblur uses (tf.image.resize_images, BILINEAR), computed independently of
    deblurkeras.layers."""
    rng = np.random.default_rng(1)
    sharp = rng.random((2, 32, 24, 3), dtype=np.float32)
    outputs = [rng.random((2, 32 // f, 24 // f, 3), dtype=np.float32) for f in (4, 2, 1)]
    got = srn.multiscale_losses(tf.constant(sharp), [tf.constant(o) for o in outputs])
    for out, value in zip(outputs, got):
        gt = tf.compat.v1.image.resize_bilinear(sharp, out.shape[1:3], align_corners=False,
                                                half_pixel_centers=False).numpy()
        assert float(value) == pytest.approx(float(np.mean((gt - out) ** 2)), rel=1e-6)
    # the half-pixel resize gives another loss: the op matters
    half = srn.multiscale_losses(tf.constant(sharp), [tf.constant(o) for o in outputs], "half_pixel")
    assert abs(float(half[0]) - float(got[0])) > 1e-6


@pytest.mark.slow
def test_real_srn_loss_and_one_step():
    gen = srn.build_generator({"name": "srn-color"})
    trainer = srn.SRNTrainer(gen)
    trainer.compile(optimizer=srn.make_optimizer({}, 10))
    blurred, sharp = _pair(1, 32)
    expected = float(tf.add_n(srn.multiscale_losses(tf.constant(sharp), gen(blurred))))
    logs = trainer.train_on_batch(blurred, sharp, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)  # the step reports the loss before its update
    assert int(trainer.optimizer.iterations.numpy()) == 1


def test_train_step_updates_and_reports_metrics():
    trainer = tiny_trainer(total_steps=100)
    blurred, sharp = _pair()
    before = [w.numpy().copy() for w in trainer.generator.trainable_weights]
    expected = [float(v) for v in srn.multiscale_losses(tf.constant(sharp), trainer.generator(blurred))]
    logs = trainer.train_on_batch(blurred, sharp, return_dict=True)
    assert logs["loss"] == pytest.approx(sum(expected), rel=1e-5)
    assert [logs[f"loss_s{i}"] for i in range(3)] == pytest.approx(expected, rel=1e-5)
    assert logs["psnr"] > 0
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, trainer.generator.trainable_weights))
    test_logs = trainer.test_on_batch(blurred, sharp, return_dict=True)
    assert set(test_logs) == {"loss", "loss_s0", "loss_s1", "loss_s2", "psnr"}


def test_adam_settings_and_polynomial_schedule():
    opt = srn.make_optimizer({}, 1000)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-8)
    sched = build_schedule({}, 1000)
    for step in (0, 1, 500, 999, 1000, 2000):
        expected = 1e-4 * (1 - min(step, 1000) / 1000) ** 0.3
        assert float(sched(step)) == pytest.approx(expected, rel=1e-5, abs=1e-12)
    opt.build([keras.Variable(np.zeros(2, np.float32))])
    opt.iterations.assign(500)
    assert current_lr(opt) == pytest.approx(1e-4 * 0.5 ** 0.3, rel=1e-5)


def test_gray_variant_trains_on_luminance():
    trainer = tiny_trainer(channels=1)
    blurred, sharp = _pair()
    b, s = trainer._prepare((tf.constant(blurred), tf.constant(sharp)))
    assert b.shape[-1] == 1
    np.testing.assert_allclose(s.numpy()[..., 0], sharp @ np.array([0.2989, 0.5870, 0.1140], np.float32),
                               rtol=1e-5, atol=1e-6)
    logs = trainer.train_on_batch(blurred, sharp, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_lstm_only_clipping():
    lstm = keras.Variable(np.zeros((3,), np.float32), name="LSTM_conv_kernel")
    other = keras.Variable(np.zeros((3,), np.float32), name="enc1_1_kernel")
    big = [tf.constant([30.0, 40.0, 0.0]), tf.constant([300.0, 400.0, 0.0])]
    off = srn.SRNTrainer(tiny_generator())  # default: no clipping, as the original runs
    assert [g.numpy().tolist() for g in off._clip(big, [lstm, other])] == [g.numpy().tolist() for g in big]
    on = srn.SRNTrainer(tiny_generator(), clip_lstm_norm=3.0)
    clipped = on._clip(big, [lstm, other])
    assert float(tf.norm(clipped[0])) == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_array_equal(clipped[1].numpy(), big[1].numpy())  # non-LSTM gradients untouched


def test_warmup_and_global_clipnorm_are_off_by_default_and_named_options():
    assert srn.make_optimizer({}, 10).global_clipnorm is None
    assert srn.make_optimizer({"global_clipnorm": 1.0}, 10).global_clipnorm == 1.0
    sched = build_schedule({"lr": 1e-3, "warmup_steps": 10}, 100)
    for step in (0, 4, 9, 50):
        expected = 1e-3 * (1 - step / 100) ** 0.3 * min(1.0, (step + 1) / 10)
        assert float(sched(step)) == pytest.approx(expected, rel=1e-5)
    config = keras.optimizers.schedules.serialize(sched)
    assert float(keras.optimizers.schedules.deserialize(config)(4)) == pytest.approx(float(sched(4)))


def test_time_polynomial_schedule_follows_progress():
    from deblurkeras.training.schedules import TimePolynomial, time_progress_schedule

    opt = srn.make_optimizer({"schedule": "time_polynomial", "lr": 1e-3, "power": 1.0, "warmup_steps": 2}, 10)
    sched = time_progress_schedule(opt)
    assert isinstance(sched, TimePolynomial)
    sched.set_progress(0.25)
    assert float(opt.learning_rate) == pytest.approx(1e-3 * 0.75 * 0.5, rel=1e-5)  # warm-up step 0: x1/2
    sched.set_progress(2.0)  # clamped: past the budget the rate is the end rate
    assert float(sched(5)) == pytest.approx(0.0, abs=1e-12)


def test_the_spec_names_the_originals_adam():
    """tf.compat.v1.train.AdamOptimizer (models/model.py), its float32 rounding."""
    from deblurkeras.families import family
    assert family("srn").optimizer == "tf1"
