"""SRResNet and SRGAN trainers (custom `train_step`), faithful to the tutorial's train_srresnet.py / train_srgan.py.

Data: `(lr, hr)` batches in [0, 1] from deblurkeras.families.sr.data (LR either itself or repeated `scale` times — the
trainers take every `scale`-th pixel then, which recovers it exactly). The trainers apply the model conventions:
LR ImageNet-normalised in, SR in [-1, 1] out, HR target mapped to [-1, 1].

SRResNet: loss = MSE(SR, HR) in [-1, 1]; Adam lr 1e-4 (betas 0.9/0.999, eps 1e-8), constant.
SRGAN, per batch as the tutorial orders it:
  G step: SR = G(LR); content = MSE(VGG19_54(SR), VGG19_54(HR)) (`block5_conv4` after its ReLU, i=5 j=4);
          adversarial = BCE-with-logits(D(SR), 1); G loss = content + 1e-3 * adversarial; only G's variables
          are updated. D runs in training mode there (the tutorial keeps it in train()), so its BN statistics
          move in that forward pass too, as in PyTorch.
  D step: BCE-with-logits(D(SR detached, from the G step), 0) + BCE-with-logits(D(HR), 1), with D(HR) run first
          (the tutorial's order: D's BN running statistics see HR, then SR).
  Adam is PyTorch's rule (TorchAdam) and D/G's BatchNorm keep torch's running variance (TorchBatchNorm).
  D sees ImageNet-normalised images (HR, and SR mapped [-1, 1] -> [0, 1] -> ImageNet-normalised), as in the tutorial.
  Both optimizers Adam 1e-4, multiplied by 0.1 at half of `total_steps` (the family's `train.schedule: null`
  means each model's own schedule: SRResNet constant, SRGAN that step); G initialised from SRResNet weights
  (`model.init_weights`: a Keras .weights.h5 of an SRResNet run, or the tutorial's .pth; loaded by the runner).
The NaN guard watches `loss` (SRResNet) / `content` (SRGAN).
VGG: `loss.vgg_weights` is, by default, torchvision's VGG19 state_dict `vgg19-dcbb9e9d.pth` (the tutorial's
`torchvision.models.vgg19(pretrained=True)`; a local file, loaded strictly with weights_only=True), fed as the
tutorial feeds it: [-1, 1] -> [0, 1] -> ImageNet mean/std (`convert_image(..., 'imagenet-norm')`). Named
alternatives: `imagenet` (the Keras download) or a Keras *_notop.h5 path, with Caffe-style preprocessing;
`none` (random, tests). `loss.vgg_preprocess: auto` picks "torch" for a .pth, "caffe" otherwise.
"""
import keras
import tensorflow as tf

from ... import losses
from ...spec import IMAGENET_MEAN, IMAGENET_STD
from . import FAMILY
from ...precision import to_loss_dtype
from ...training.contract import SingleModelHooks, Trainer, unpack, watch_outputs
from ...training.optimizers import family_adam

BETA = 1e-3
VGG19_TORCHVISION = "vgg19-dcbb9e9d.pth"  # torchvision's file name; download: losses.TORCHVISION_URL


def imagenet_norm(x01):
    return (x01 - tf.constant(IMAGENET_MEAN, x01.dtype)) / tf.constant(IMAGENET_STD, x01.dtype)


def bce_logits(labels_value, logits):
    logits = to_loss_dtype(logits)
    labels = tf.fill(tf.shape(logits), tf.constant(labels_value, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class _SRBase(Trainer, keras.Model):
    def __init__(self, generator, scale=4, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.scale = generator, int(scale)
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def _lr(self, x, hr_size):
        """LR from the batch: itself, or every `scale`-th pixel of the repeated layout."""
        if x.shape[1] is not None and x.shape[1] == hr_size:
            x = x[:, ::self.scale, ::self.scale]
        return x

    def _prepare(self, data):
        x, hr = unpack(data)  # (x, y) or (x, y, None): Keras' standard data
        hr = to_loss_dtype(hr)
        lr = self._lr(to_loss_dtype(x), hr.shape[1])
        return imagenet_norm(lr), hr * 2.0 - 1.0

    def _psnr(self, sr, hr_signed):
        sr01 = tf.clip_by_value((to_loss_dtype(sr) + 1.0) / 2.0, 0.0, 1.0)
        self.psnr_tracker.update_state(tf.image.psnr(sr01, (hr_signed + 1.0) / 2.0, max_val=1.0))

    def preview(self, x, layout="repeat"):
        """SR images in [0, 1] for the runner's grids; x is the batch's LR slot ("repeat" layout by default)."""
        x = to_loss_dtype(x)
        lr = x[:, ::self.scale, ::self.scale] if layout == "repeat" else x
        sr = self.generator(imagenet_norm(lr), training=False)
        return tf.clip_by_value((to_loss_dtype(sr) + 1.0) / 2.0, 0.0, 1.0)

    def make_datasets(self, cfg, start_step):
        """LR/HR streams of random crops of random images (deblurkeras.families.sr.data), not the HDF5 pair pipeline."""
        return make_datasets(cfg, start_step)


class SRResNetTrainer(SingleModelHooks, _SRBase):
    """MSE in [-1, 1] between SRResNet(LR) and HR."""

    def __init__(self, generator, scale=4, **kwargs):
        super().__init__(generator, scale, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.psnr_tracker]

    def train_step(self, data):
        lr, hr = self._prepare(data)
        variables = self.generator.trainable_variables
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            sr = to_loss_dtype(self.generator(lr, training=True))
            loss = tf.reduce_mean(tf.square(sr - hr))
            scaled = self.optimizer.scale_loss(loss / replicas)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return watch_outputs(self._update(loss, sr, hr), sr)

    def test_step(self, data):
        lr, hr = self._prepare(data)
        sr = to_loss_dtype(self.generator(lr, training=False))
        return self._update(tf.reduce_mean(tf.square(sr - hr)), sr, hr)

    def _update(self, loss, sr, hr):
        self.loss_tracker.update_state(loss)
        self._psnr(sr, hr)
        return {m.name: m.result() for m in self.metrics}


class SRGANTrainer(_SRBase):
    """Content (VGG19 i=5 j=4) + 1e-3 adversarial for G, BCE for D; see the module docstring."""
    loss_key = "content"

    def __init__(self, generator, discriminator, features, scale=4, beta=BETA, **kwargs):
        super().__init__(generator, scale, **kwargs)
        self.discriminator, self.features, self.beta = discriminator, features, float(beta)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("content", "adversarial", "d_loss")}

    @property
    def metrics(self):
        return [*self.trackers.values(), self.psnr_tracker]

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(optimizer=g_optimizer, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.build_optimizers()

    def build_optimizers(self):
        for opt, model in ((self.g_optimizer, self.generator), (self.d_optimizer, self.discriminator)):
            if not opt.built:
                opt.build(model.trainable_variables)

    def _d_input(self, signed):
        return imagenet_norm((signed + 1.0) / 2.0)

    def train_step(self, data):
        lr, hr = self._prepare(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        hr_feat = tf.stop_gradient(self.features(hr, training=False))
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            sr = to_loss_dtype(self.generator(lr, training=True))
            content = tf.reduce_mean(tf.square(self.features(sr, training=False) - hr_feat))
            adversarial = bce_logits(1.0, self.discriminator(self._d_input(sr), training=True))
            g_loss = content + self.beta * adversarial
            scaled = self.g_optimizer.scale_loss(g_loss / replicas)
        self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)

        d_vars = self.discriminator.trainable_variables
        fake = tf.stop_gradient(self._d_input(sr))
        with tf.GradientTape() as tape:
            # D(HR) before D(SR) as the tutorial: the order its BN running statistics move in
            d_real = self.discriminator(self._d_input(hr), training=True)
            d_fake = self.discriminator(fake, training=True)
            d_loss = bce_logits(0.0, d_fake) + bce_logits(1.0, d_real)
            scaled = self.d_optimizer.scale_loss(d_loss / replicas)
        self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        return watch_outputs(self._update(content, adversarial, d_loss, sr, hr), sr)

    def test_step(self, data):
        lr, hr = self._prepare(data)
        sr = to_loss_dtype(self.generator(lr, training=False))
        content = tf.reduce_mean(tf.square(self.features(sr, training=False) - self.features(hr, training=False)))
        d_fake = self.discriminator(self._d_input(sr), training=False)
        d_real = self.discriminator(self._d_input(hr), training=False)
        return self._update(content, bce_logits(1.0, d_fake), bce_logits(0.0, d_fake) + bce_logits(1.0, d_real),
                            sr, hr)

    def _update(self, content, adversarial, d_loss, sr, hr):
        for name, value in (("content", content), ("adversarial", adversarial), ("d_loss", d_loss)):
            self.trackers[name].update_state(value)
        self._psnr(sr, hr)
        return {m.name: m.result() for m in self.metrics}

    def savable_models(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}


# ----------------------------------------------------------------------------------------------- runner hooks
def _adam(t, total_steps, precision=None):
    return family_adam(t, FAMILY.optimizer, precision, total_steps)  # torch.optim.Adam's rule (TorchAdam)


def model_schedule(t, total, srgan):
    """`train.schedule: null` (the family default) = the model's own: SRResNet constant lr; SRGAN the tutorial's
    "lr x 0.1 at half of training" (`train.boundaries` if given). An explicit schedule is used as given."""
    if t.get("schedule") is not None:
        return t
    if not srgan:
        return {**t, "schedule": "constant"}
    return {**t, "schedule": "piecewise", "boundaries": t.get("boundaries") or [total // 2],
            "factor": t.get("factor", 0.1)}


def build_trainer(cfg, precision=None):
    """Runner factory: SRResNetTrainer for `srresnet-x4`, SRGANTrainer for `srgan-x4` (model.name)."""
    from ...registry import build_model, model_io

    model_cfg, t = cfg["model"], cfg["train"]
    name = model_cfg.get("name", "srresnet-x4")
    scale = model_io(name).scale
    generator = build_model(name)
    total = int(t["total_steps"])
    srgan = name.startswith("srgan")
    t = model_schedule(t, total, srgan)
    if not srgan:
        trainer = SRResNetTrainer(generator, scale)
        trainer.compile(optimizer=_adam(t, total, precision), jit_compile=bool(t.get("jit_compile", False)))
        return trainer
    crop = int(cfg["data"].get("crop", 96))
    discriminator = build_model(model_cfg.get("discriminator", "srgan-d"), size=crop)
    loss_cfg = cfg.get("loss", {})
    features = losses.vgg_features("vgg19", loss_cfg.get("vgg_layer", "block5_conv4"),
                                   weights=loss_cfg.get("vgg_weights", VGG19_TORCHVISION),
                                   preprocess=loss_cfg.get("vgg_preprocess", "auto"), input_range=(-1.0, 1.0))
    trainer = SRGANTrainer(generator, discriminator, features, scale, beta=float(loss_cfg.get("beta", BETA)))
    trainer.compile(g_optimizer=_adam(t, total, precision), d_optimizer=_adam(t, total, precision),
                    jit_compile=bool(t.get("jit_compile", False)))
    return trainer


def make_datasets(cfg, start_step):
    """(train, val) LR/HR streams from data.path (HDF5 sharp images, photo folder, or 'skimage')."""
    from .data import ImageSource, make_sr_dataset
    from ...errors import BadInputError
    from ...registry import model_io

    d, t = cfg["data"], cfg["train"]
    if d.get("shuffle") is False:
        raise BadInputError("config: data.shuffle=False: expected True: the SR stream draws random crops of random "
                            "images every batch (the tutorial's DataLoader(shuffle=True))")
    if not d.get("path"):
        raise BadInputError("data.path is not set (an HDF5 file, a folder of photos, or 'skimage')")
    scale = model_io(cfg["model"].get("name", "srresnet-x4")).scale
    crop, seed = int(d.get("crop") or 96), int(t["seed"])
    src = ImageSource(d["path"], d.get("split", "train"), min_size=crop)
    train = make_sr_dataset(src, int(d["batch_size"]), crop, scale, seed, start_step)
    val = None
    if int(d.get("val_batches") or 0) > 0:
        vsrc = ImageSource(d.get("val_path") or d["path"], d.get("val_split", "test"), min_size=crop) \
            if (d.get("val_path") or str(d["path"]).endswith((".h5", ".hdf5"))) else src
        val = make_sr_dataset(vsrc, int(d["val_batch_size"]), crop, scale, seed + 10_007, 0, repeat=False,
                              n_batches=int(d["val_batches"]))
    return train, val
