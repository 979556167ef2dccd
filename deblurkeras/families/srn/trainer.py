"""SRN-DeblurNet trainer: a `keras.Model` wrapping the generator, with the original's loss in `train_step`.

Faithful to the official TF1 training (jiangsutx/SRN-Deblur, models/model.py `DEBLUR.build_model` / `train`):
  loss = sum over the 3 scales of mean((resize(gt) - out_i)^2), gt resized with the model's own bilinear op
  Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8), lr polynomial decay 1e-4 -> 0, power 0.3, over the total steps
  LSTM-only gradient clipping to global norm 3 exists in the original but is off: `clip_lstm_norm=None` here.
Gray and lstm variants train on luminance: RGB batches are converted with tf.image.rgb_to_grayscale
(0.2989/0.5870/0.1140) when the generator has one channel.

Under tf.distribute the per-replica loss is divided by the number of replicas: gradients are summed across
replicas by the optimizer, so the update equals the single-device update on the same global batch.
"""
import keras
import tensorflow as tf

from ...layers.resize import resize_bilinear
from ...precision import to_loss_dtype
from ...training.contract import SingleModelHooks, unpack, watch_outputs
from ...training.optimizers import family_adam
from . import FAMILY


def multiscale_losses(sharp, outputs, resize_mode="tf1_legacy"):
    """Per-scale mean squared errors, coarsest first: mean((resize(sharp) - out_i)^2)."""
    losses = []
    for out in outputs:
        out = to_loss_dtype(out)
        shape = tf.shape(out)
        gt = resize_bilinear(sharp, (shape[1], shape[2]), resize_mode)
        losses.append(tf.reduce_mean(tf.square(gt - out)))
    return losses


def batch_psnr(sharp, out):
    """PSNR (dB) per image of the finest output clipped to [0, 1] against the sharp image (training metric)."""
    return tf.image.psnr(tf.clip_by_value(to_loss_dtype(out), 0.0, 1.0), sharp, max_val=1.0)


class SRNTrainer(SingleModelHooks, keras.Model):
    """Trains an SRN generator (a functional model returning the scale outputs, coarsest first).

    resize_mode: how the ground truth is resized per scale; must be the model's (tf1_legacy for the original).
    clip_lstm_norm: clip the gradients of the ConvLSTM variables (names containing "LSTM") to this global norm;
        None (default) = no clipping, as the original runs.
    """

    def __init__(self, generator, resize_mode="tf1_legacy", clip_lstm_norm=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.resize_mode = resize_mode
        self.clip_lstm_norm = clip_lstm_norm
        self.channels = generator.inputs[0].shape[-1]
        self.n_levels = len(generator.outputs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.scale_trackers = [keras.metrics.Mean(name=f"loss_s{i}") for i in range(self.n_levels)]
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    @property
    def metrics(self):
        # Listed here so Keras resets them at each epoch / evaluate().
        return [self.loss_tracker, *self.scale_trackers, self.psnr_tracker]

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def _prepare(self, data):
        blurred, sharp = unpack(data)  # (x, y) or (x, y, None): Keras' standard data
        if self.channels == 1 and blurred.shape[-1] == 3:
            blurred, sharp = tf.image.rgb_to_grayscale(blurred), tf.image.rgb_to_grayscale(sharp)
        return to_loss_dtype(blurred), to_loss_dtype(sharp)

    def _update_metrics(self, total, scale_losses, sharp, outputs):
        self.loss_tracker.update_state(total)
        for tracker, value in zip(self.scale_trackers, scale_losses):
            tracker.update_state(value)
        self.psnr_tracker.update_state(batch_psnr(sharp, outputs[-1]))
        return {m.name: m.result() for m in self.metrics}

    def _clip(self, grads, variables):
        if not self.clip_lstm_norm:
            return grads
        idx = [i for i, v in enumerate(variables) if "LSTM" in v.path]
        if not idx:
            return grads
        clipped, _ = tf.clip_by_global_norm([grads[i] for i in idx], self.clip_lstm_norm)
        grads = list(grads)
        for i, g in zip(idx, clipped):
            grads[i] = g
        return grads

    def train_step(self, data):
        blurred, sharp = self._prepare(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.generator(blurred, training=True)
            scale_losses = multiscale_losses(sharp, outputs, self.resize_mode)
            total = tf.add_n(scale_losses)
            # Summed across replicas by the optimizer: divide so the update is that of the global batch mean.
            scaled = self.optimizer.scale_loss(total / replicas)  # loss scaling under mixed precision
        grads = tape.gradient(scaled, variables)
        grads = self._clip(grads, variables)
        self.optimizer.apply(grads, variables)
        return watch_outputs(self._update_metrics(total, scale_losses, sharp, outputs), *outputs)

    def test_step(self, data):
        blurred, sharp = self._prepare(data)
        outputs = self.generator(blurred, training=False)
        scale_losses = multiscale_losses(sharp, outputs, self.resize_mode)
        return self._update_metrics(tf.add_n(scale_losses), scale_losses, sharp, outputs)

    # --- the trainer contract (savable_models, optimizers, build_optimizers: SingleModelHooks) ---
    def preview(self, blurred):
        """Deblurred [0, 1] images for the TensorBoard grid (same channels as the data after _prepare)."""
        blurred, _ = self._prepare((blurred, blurred))
        return tf.clip_by_value(to_loss_dtype(self.generator(blurred, training=False)[-1]), 0.0, 1.0)


def make_optimizer(train_cfg, total_steps, precision=None):
    """TF1's Adam(0.9, 0.999, 1e-8) (TF1Adam) on the configured schedule (polynomial 1e-4 -> 0, power 0.3 by default).

    `train.global_clipnorm` (default None, as the original) clips all gradients to a global norm: a named
    deviation for short runs at high learning rates (the demo).
    """
    clip = train_cfg.get("global_clipnorm")  # not in the original (None): a demo option for high learning rates
    return family_adam(train_cfg, FAMILY.optimizer, precision, total_steps,  # TF1's AdamOptimizer
                       global_clipnorm=None if clip is None else float(clip))


def build_generator(model_cfg):
    """The registered SRN model of `model.name` (a module-level hook: tests swap in a tiny generator)."""
    from ...registry import build_model

    model = build_model(model_cfg["name"], resize_mode=model_cfg.get("resize_mode", "tf1_legacy"))
    init = model_cfg.get("init", "xavier")
    if init == "identity":  # a named deviation for short runs (the demo); the original uses Xavier
        from .model import identity_init
        identity_init(model)
    elif init != "xavier":
        raise ValueError(f"model.init must be 'xavier' (the original) or 'identity', not {init!r}")
    return model


def build_trainer(cfg, precision=None):
    """Runner factory entry: the compiled SRNTrainer for a config dict (call inside the strategy scope)."""
    model_cfg, train_cfg = cfg["model"], cfg["train"]
    resize_mode = model_cfg.get("resize_mode", "tf1_legacy")
    generator = build_generator(model_cfg)
    trainer = SRNTrainer(generator, resize_mode=resize_mode, clip_lstm_norm=train_cfg.get("clip_lstm_norm"))
    trainer.compile(optimizer=make_optimizer(train_cfg, int(train_cfg["total_steps"]), precision),
                    jit_compile=bool(train_cfg.get("jit_compile", False)))
    return trainer
