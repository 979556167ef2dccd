"""DMPHN / Stack-DMPHN trainer: a `keras.Model` wrapping the network, with the official loss in `train_step`.

Faithful to the official training scripts (HongguangZhang/DMPHN-cvpr19-master, DMPHN_1_2_4.py / DMPHN_1_2_4_8.py
`main`, and SDNet2/3/4.py for Stack-DMPHN):
  inputs and targets shifted by -0.5 (`ToTensor() - 0.5`); loss = MSE of the final output only
  (mean over every element, torch `nn.MSELoss()`); Stack-DMPHN: the sum of every stack's MSE, in SDNet4.py's
  order (`mse(s4) + mse(s3) + mse(s2) + mse(s1)`); Adam(lr 1e-4, betas 0.9/0.999, eps 1e-8) with PyTorch's update rule (TorchAdam) — the original has one
  Adam per encoder/decoder, which is the same update as one Adam over all of them (Adam is per-variable);
  StepLR(step_size=1000 epochs, gamma 0.1): configs give it as `schedule: piecewise` with step boundaries
  = 1000 * steps_per_epoch (see the shipped config dmphn/gopro_1_2_4_8 for the GoPro arithmetic).
Data: `(blurred, sharp)` batches in [0, 1] from deblurkeras.data.make_dataset (value_range (0, 1)), shuffled
every epoch as the official DataLoader(shuffle=True); the trainer does the -0.5 shift, so previews and metrics
stay in [0, 1]. Metrics: loss, psnr (dB, output + 0.5 clipped to [0, 1] against sharp).
"""
import keras
import tensorflow as tf

from ...errors import BadInputError
from ...precision import to_loss_dtype
from ...training.contract import SingleModelHooks, unpack, watch_outputs
from ...training.optimizers import family_adam

from . import FAMILY, SHIFT


class DMPHNTrainer(SingleModelHooks, keras.Model):
    """Trains a DMPHN functional model (image - 0.5 -> deblurred - 0.5) on MSE of the final output; a model with
    several outputs (Stack-DMPHN: one per stack, the last is the image) on the sum of their MSEs."""

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.generator = network
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    @property
    def metrics(self):
        return [self.loss_tracker, self.psnr_tracker]

    def call(self, x, training=False):
        return self.generator(x, training=training)

    @staticmethod
    def _prepare(data):
        blurred, sharp = unpack(data)
        return to_loss_dtype(blurred) - SHIFT, to_loss_dtype(sharp) - SHIFT

    @staticmethod
    def _loss(outs, target):
        """Sum of the outputs' MSEs, the last output's first (SDNet4.py's order); a single output: its MSE."""
        losses = [tf.reduce_mean(tf.square(to_loss_dtype(o) - target)) for o in reversed(outs)]
        return tf.add_n(losses) if len(losses) > 1 else losses[0]

    def _outputs(self, x, training):
        outs = self.generator(x, training=training)
        return list(outs) if isinstance(outs, (list, tuple)) else [outs]

    def _update(self, loss, out, target):
        self.loss_tracker.update_state(loss)
        img = tf.clip_by_value(out + SHIFT, 0.0, 1.0)
        self.psnr_tracker.update_state(tf.image.psnr(img, target + SHIFT, max_val=1.0))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, target = self._prepare(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            outs = self._outputs(x, training=True)
            loss = self._loss(outs, target)
            scaled = self.optimizer.scale_loss(loss / replicas)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        outs = [to_loss_dtype(o) for o in outs]
        return watch_outputs(self._update(loss, outs[-1], target), *outs)

    def test_step(self, data):
        x, target = self._prepare(data)
        outs = self._outputs(x, training=False)
        return self._update(self._loss(outs, target), to_loss_dtype(outs[-1]), target)

    # --- the trainer contract (savable_models, optimizers, build_optimizers: SingleModelHooks) ---
    def preview(self, blurred):
        out = self._outputs(to_loss_dtype(blurred) - SHIFT, training=False)[-1]
        return tf.clip_by_value(to_loss_dtype(out) + SHIFT, 0.0, 1.0)


def build_trainer(cfg, precision=None):
    """Runner factory entry: the compiled DMPHNTrainer (Adam 1e-4, the configured step schedule)."""
    from ...registry import build_model

    model_cfg, t = cfg["model"], cfg["train"]
    name = model_cfg.get("name", "dmphn-1-2-4-8")
    lv2 = model_cfg.get("lv2_residual", "first")
    if name.startswith("stack-dmphn"):
        network = build_model(name, lv2_residual=lv2)
    elif lv2 != "first":
        raise BadInputError(f"config: model.lv2_residual={lv2!r} is a Stack-DMPHN option, not one of {name}")
    else:
        network = build_model(name)
    opt = family_adam(t, FAMILY.optimizer, precision)  # torch.optim.Adam's rule
    trainer = DMPHNTrainer(network)
    trainer.compile(optimizer=opt, jit_compile=bool(t.get("jit_compile", False)))
    return trainer
