"""GAN trainer for the dense-field generator + PatchGAN: a `keras.Model` with a custom `train_step`.

Data: `(blurred, sharp)` batches in [-1, 1] (`make_dataset(..., value_range=(-1, 1))`).
Modes (leftthomas/ImageDeblurring, main.py `train`):
  original  per batch, as the original ordered it: `critic_steps` D steps on concat(sharp, G(blurred)) with
            labels 1/0 (BCE); one G step through D (-log D(G(blurred)), weight 1); one G step on the content loss
            (145 * VGG16 block3_conv3 MSE + 170 * L1). The original compiled the two G models separately, so each
            G step has its own Adam state: the through-D step uses `g_adv_optimizer` (a fresh copy of
            `g_optimizer`'s config unless given).
  combined  `critic_steps` D steps, then one G step on content + adv_weight * adversarial.
Fixed defects of the original (named here, not options): D is truly frozen in the G steps — only the generator's
variables get gradients and D runs through `stateless_call`, so its BatchNormalization statistics are not
updated either (the original compiled D-on-G while D was trainable, so that step also trained D).
Options that keep the original's behaviour by default:
  fake_for_d="inference"  the fakes the D step sees come from G in inference mode (the original used g.predict:
                          no dropout, BN moving statistics); "training" uses G in training mode.
  d_bn_in_g_step="batch"  D's BatchNormalization uses batch statistics in the G step (the original ran it in the
                          learning phase); "inference" uses its moving statistics.
  adv_eps=0               -log D exactly as the original (`-K.log(y_pred)`, unclipped: full gradient where D(G(x))
                          is tiny); adv_eps > 0 clips D's output at adv_eps first (zero gradient below it).
Critic steps beyond the first reuse the same batch (fresh fakes). Metrics: d_loss, g_adv, g_content, psnr
(dB, of the training-mode output in the content step against sharp, on the [-1, 1] range, i.e. max_val 2).
The NaN guard watches g_content (`loss_key`); a NaN in D reaches it one step later, and checkpoints with any
non-finite weight are never written. Batches follow the HDF5 file order by default (`data.shuffle: false`), as
the original walked it.
"""
import keras
import tensorflow as tf

from ... import losses
from ...errors import BadInputError
from ...precision import to_loss_dtype
from ...training.contract import Trainer, unpack, watch_outputs
from ...training.optimizers import family_adam
from . import FAMILY

# GANTrainer's keyword options: the train-section keys of the same names (FAMILY.config holds the defaults once)
TRAINER_OPTIONS = ("mode", "critic_steps", "adv_weight", "fake_for_d", "d_bn_in_g_step", "adv_eps")
MODES = FAMILY.config["train"]["mode"].options


def make_content_loss(vgg_weights="imagenet", preprocess=False, k_perceptual=145.0, k_l1=170.0):
    """The dense-field generator loss as a callable (y_true, y_pred) -> scalar; `.features` is the VGG16 model."""
    features = losses.vgg_features("vgg16", "block3_conv3", weights=vgg_weights, preprocess=preprocess)

    def content(y_true, y_pred):
        return losses.content_loss(features, y_true, y_pred, k_perceptual, k_l1)

    content.features = features
    return content


class GANTrainer(Trainer, keras.Model):
    """Trains `generator` against `discriminator`. See the module docstring for the modes and options.

    content_loss: callable (sharp, fake) -> scalar; None builds the original's (VGG16 ImageNet weights, which
        need the Keras download or a cached copy; pass make_content_loss(vgg_weights=path) when offline).
    """
    loss_key = "g_content"      # the NaN guard watches the content loss (there is no single "loss")
    value_range = (-1, 1)

    def __init__(self, generator, discriminator, content_loss=None, mode="original", critic_steps=1,
                 adv_weight=1.0, fake_for_d="inference", d_bn_in_g_step="batch", adv_eps=0.0, **kwargs):
        super().__init__(**kwargs)
        # the Python API's check of the options a config's Choice checks (the options are stated once, there)
        for key, value, what in (("mode", mode, "GAN mode"), ("fake_for_d", fake_for_d, "fake_for_d"),
                                 ("d_bn_in_g_step", d_bn_in_g_step, "d_bn_in_g_step")):
            options = FAMILY.config["train"][key].options
            if value not in options:
                raise ValueError(f"unknown {what} {value!r}; expected one of {options}")
        if int(critic_steps) < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        self.generator, self.discriminator = generator, discriminator
        self.content_loss = content_loss if content_loss is not None else make_content_loss()
        self.mode, self.critic_steps, self.adv_weight = mode, int(critic_steps), float(adv_weight)
        self.fake_for_d, self.d_bn_in_g_step, self.adv_eps = fake_for_d, d_bn_in_g_step, adv_eps
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_adv_tracker = keras.metrics.Mean(name="g_adv")
        self.g_content_tracker = keras.metrics.Mean(name="g_content")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_adv_tracker, self.g_content_tracker, self.psnr_tracker]

    def compile(self, g_optimizer, d_optimizer, g_adv_optimizer=None, **kwargs):
        """Separate optimizers, each built on its own model's trainable variables only."""
        super().compile(optimizer=g_optimizer, **kwargs)
        if self.mode == "original" and g_adv_optimizer is None:
            g_adv_optimizer = g_optimizer.__class__.from_config(g_optimizer.get_config())
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_adv_optimizer = g_adv_optimizer if self.mode == "original" else None
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        for opt, variables in ((g_optimizer, g_vars), (d_optimizer, d_vars), (self.g_adv_optimizer, g_vars)):
            if opt is not None and not opt.built:
                opt.build(variables)

    def call(self, x, training=False):
        return self.generator(x, training=training)

    # ------------------------------------------------------------------------------------------- pieces
    @staticmethod
    def _prepare(data):
        blurred, sharp = unpack(data)  # (x, y) or (x, y, None): Keras' standard data
        return to_loss_dtype(blurred), to_loss_dtype(sharp)

    def _d_frozen(self, images):
        """D's output with D's variables read, never written (BN statistic updates are discarded)."""
        if self.d_bn_in_g_step == "inference":
            return self.discriminator(images, training=False)
        d = self.discriminator
        out, _ = d.stateless_call([v.value for v in d.trainable_variables],
                                  [v.value for v in d.non_trainable_variables], images, training=True)
        return out

    @staticmethod
    def _step(optimizer, loss, tape, variables):
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)

    def _replicas(self):
        return tf.distribute.get_strategy().num_replicas_in_sync

    def d_step(self, blurred, sharp):
        fake = self.generator(blurred, training=self.fake_for_d == "training")
        fake = tf.stop_gradient(fake)
        n = tf.shape(sharp)[0]
        labels = tf.concat([tf.ones((n, 1), sharp.dtype), tf.zeros((n, 1), sharp.dtype)], axis=0)
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            scores = self.discriminator(tf.concat([sharp, fake], axis=0), training=True)
            d_loss = losses.bce_loss(labels, to_loss_dtype(scores))
            scaled = self.d_optimizer.scale_loss(d_loss / self._replicas())
        self._step(self.d_optimizer, scaled, tape, d_vars)
        return d_loss

    def g_adv_step(self, blurred):
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(blurred, training=True)
            adv = losses.adversarial_loss(to_loss_dtype(self._d_frozen(fake)), self.adv_eps)
            scaled = self.g_adv_optimizer.scale_loss(adv / self._replicas())
        self._step(self.g_adv_optimizer, scaled, tape, g_vars)
        return adv

    def g_content_step(self, blurred, sharp, with_adv):
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(blurred, training=True)
            content = self.content_loss(sharp, to_loss_dtype(fake))
            adv = losses.adversarial_loss(to_loss_dtype(self._d_frozen(fake)), self.adv_eps) \
                if with_adv else None
            total = content + self.adv_weight * adv if with_adv else content
            scaled = self.g_optimizer.scale_loss(total / self._replicas())
        self._step(self.g_optimizer, scaled, tape, g_vars)
        return content, adv, fake

    # ------------------------------------------------------------------------------------------- steps
    def train_step(self, data):
        blurred, sharp = self._prepare(data)
        for _ in range(self.critic_steps):
            d_loss = self.d_step(blurred, sharp)
        if self.mode == "original":
            adv = self.g_adv_step(blurred)
            content, _, fake = self.g_content_step(blurred, sharp, with_adv=False)
        else:
            content, adv, fake = self.g_content_step(blurred, sharp, with_adv=True)
        return watch_outputs(self._update_metrics(d_loss, adv, content, sharp, fake), fake)

    def test_step(self, data):
        """Content loss and PSNR of G in inference mode; D loss and -log D too when D accepts the image size
        (a per-patch D is built for the training crop; validation on other sizes skips the D metrics)."""
        blurred, sharp = self._prepare(data)
        fake = to_loss_dtype(self.generator(blurred, training=False))
        d_loss = adv = None
        if self._d_accepts(sharp.shape):
            n = tf.shape(sharp)[0]
            labels = tf.concat([tf.ones((n, 1), sharp.dtype), tf.zeros((n, 1), sharp.dtype)], axis=0)
            scores = to_loss_dtype(self.discriminator(tf.concat([sharp, fake], axis=0), training=False))
            d_loss, adv = losses.bce_loss(labels, scores), losses.adversarial_loss(scores[n:], self.adv_eps)
        return self._update_metrics(d_loss, adv, self.content_loss(sharp, fake), sharp, fake)

    def _d_accepts(self, shape):
        want = self.discriminator.inputs[0].shape[1:3]
        return all(w is None or w == s for w, s in zip(want, tuple(shape)[1:3]))

    def _update_metrics(self, d_loss, adv, content, sharp, fake):
        if d_loss is not None:
            self.d_loss_tracker.update_state(d_loss)
            self.g_adv_tracker.update_state(adv)
        self.g_content_tracker.update_state(content)
        fake = tf.clip_by_value(to_loss_dtype(fake), -1.0, 1.0)
        self.psnr_tracker.update_state(tf.image.psnr(fake, sharp, max_val=2.0))
        return {m.name: m.result() for m in self.metrics}

    # --- the trainer contract ---
    def savable_models(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self):
        opts = {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
        if self.g_adv_optimizer is not None:
            opts["g_adv_optimizer"] = self.g_adv_optimizer
        return opts

    def build_optimizers(self):
        """Optimizer slots exist from compile() on (each built on its own model's variables)."""
        for opt, model in ((self.g_optimizer, self.generator), (self.d_optimizer, self.discriminator),
                           (self.g_adv_optimizer, self.generator)):
            if opt is not None and not opt.built:
                opt.build(model.trainable_variables)

    def preview(self, blurred):
        """Deblurred images in [0, 1] for image grids (the generator works in [-1, 1])."""
        fake = to_loss_dtype(self.generator(to_loss_dtype(blurred), training=False))
        return tf.clip_by_value((fake + 1.0) / 2.0, 0.0, 1.0)


def _adam(train_cfg, precision=None):
    """Adam from the train section (the family's defaults are the original's: constant 1e-3, beta 0.9/0.999,
    epsilon 1e-7 = Keras 2's `optimizer='adam'`); the learning rate follows `train.schedule`."""
    return family_adam(train_cfg, FAMILY.optimizer, precision)  # Keras 2's Adam arithmetic (Keras2Adam)


def build_trainer(cfg, precision=None):
    """Runner factory entry: the compiled GANTrainer for a validated config (deblurkeras.training.config fills every
    key with the family's defaults, FAMILY.config, and checks its type and options)."""
    from ...registry import build_model

    model_cfg, train_cfg, loss_cfg = cfg["model"], cfg["train"], cfg["loss"]
    generator = build_model(model_cfg["name"], channel_rate=model_cfg["channel_rate"], dropout=model_cfg["dropout"])
    crop, patch = cfg["data"]["crop"], model_cfg["patch_size"]
    if crop and crop % patch:
        raise BadInputError(f"config: data.crop={crop!r}: expected a multiple of model.patch_size ({patch}): the "
                            f"discriminator scores {patch}x{patch} patches")
    discriminator = build_model(model_cfg["discriminator"], patch_size=patch, filters=model_cfg["d_filters"],
                                image_shape=(crop or None, crop or None, 3),
                                batch_patches=model_cfg["batch_patches"] or not crop)
    content = make_content_loss(vgg_weights=loss_cfg["vgg_weights"], preprocess=loss_cfg["vgg_preprocess"],
                                k_perceptual=loss_cfg["k_perceptual"], k_l1=loss_cfg["k_l1"])
    trainer = GANTrainer(generator, discriminator, content, **{k: train_cfg[k] for k in TRAINER_OPTIONS})
    trainer.compile(g_optimizer=_adam(train_cfg, precision), d_optimizer=_adam(train_cfg, precision),
                    jit_compile=train_cfg["jit_compile"])
    return trainer
