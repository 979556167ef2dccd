"""The trainer contract: what the runner (deblurkeras.training.loop) needs from every family's trainer.

A family's trainer module (FamilySpec.trainer) provides `build_trainer(cfg, precision=None)` (a
deblurkeras.precision.Precision; float16 wraps the optimizers for dynamic loss scaling, family_adam) returning a
compiled `keras.Model` with custom `train_step` / `test_step` that also derives from `Trainer` below and fills in
its abstract parts. The runner uses nothing else: no duck typing.

Data: `train_step` / `test_step` take Keras' standard data, `(x, y)` or `(x, y, sample_weight)`, so `fit` and
`train_on_batch` on arrays work too (`unpack`). The original losses are unweighted: a non-None sample_weight is
refused with a one-line error rather than silently ignored.
"""
import math

#: Logged by every trainer's train_step (`watch_outputs`): how many values of the generator's output(s) were NaN or
#: Inf in the step. The NaN guard stops on it: a loss can stay finite over a NaN output (on AVX512 CPUs
#: tf.nn.max_pool2d maps NaN to -3.4e38, so SRGAN's VGG content loss of a NaN image is finite).
OUTPUT_KEY = "nonfinite_outputs"


class Trainer:
    """Mixin declaring the runner's view of a trainer. Class attributes:

    loss_key: the main logged loss (the NaN guard watches it and every other logged loss, see `guarded_keys`);
    metric_keys: logged values that are measurements, not losses (PSNR is +Inf for a perfect match): not guarded;
    val_key, val_higher_is_better: the validation metric (logged `val_<val_key>`) that selects `best/`;
    value_range: the range of the (blurred, sharp) batches this trainer takes ((0, 1), or (-1, 1)).
    """
    loss_key = "loss"
    metric_keys = ("psnr",)
    val_key = "psnr"
    val_higher_is_better = True
    value_range = (0, 1)

    def guarded_keys(self, logs):
        """The logged losses the NaN guard checks: every logged scalar but the metrics and the output count."""
        return [k for k in logs if k not in self.metric_keys and k != OUTPUT_KEY]

    # --- what a checkpoint holds
    def savable_models(self):
        """name -> keras model whose weights a checkpoint holds."""
        raise NotImplementedError

    def optimizers(self):
        """name -> optimizer whose variables a checkpoint holds (all of them, incl. iterations)."""
        raise NotImplementedError

    def build_optimizers(self):
        """Create every optimizer's slot variables (each on its own model's variables) before a restore."""
        raise NotImplementedError

    def init_target(self):
        """The model `model.init_weights` loads into (fine-tuning): the generator."""
        return self.savable_models()["generator"]

    # --- images and data
    def preview(self, blurred):
        """Outputs in [0, 1] for the preview grids, from a batch of the data's first element."""
        raise NotImplementedError

    def make_datasets(self, cfg, start_step):
        """(train, val or None) tf.data streams; `start_step` = batches already consumed (resume).
        Default: the HDF5 pair pipeline in this trainer's value_range."""
        from .datasets import hdf5_datasets

        return hdf5_datasets(cfg, start_step, self.value_range)


def unpack(data):
    """(x, y) of a Keras data tuple: (x, y) or (x, y, sample_weight) with sample_weight None."""
    import keras

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported: the original losses weight every sample equally")
    if y is None:
        raise ValueError("expected (blurred, sharp) pairs: got inputs without targets")
    return x, y


def check(trainer):
    """Raise TypeError naming what a trainer lacks of the contract (the runner calls it once per run)."""
    if not isinstance(trainer, Trainer):
        raise TypeError(f"{type(trainer).__name__} does not derive from deblurkeras.training.contract.Trainer")
    missing = [m for m in ("savable_models", "optimizers", "build_optimizers", "preview")
               if getattr(type(trainer), m) is getattr(Trainer, m)]
    if missing:
        raise TypeError(f"{type(trainer).__name__} does not implement {', '.join(missing)}")
    return trainer


def watch_outputs(logs, *outputs):
    """`logs` plus OUTPUT_KEY: the number of NaN/Inf values in `outputs` (tf.math.is_finite: no kernel's NaN
    handling in between)."""
    import tensorflow as tf

    counts = [tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(t)), tf.float32)) for t in outputs]
    return {**logs, OUTPUT_KEY: tf.add_n(counts)}


def is_finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class SingleModelHooks(Trainer):
    """The contract for trainers holding one model in `self.generator` and one optimizer in `self.optimizer`
    (SRN, DMPHN, SRResNet)."""

    def savable_models(self):
        return {"generator": self.generator}

    def optimizers(self):
        return {"optimizer": self.optimizer}

    def build_optimizers(self):
        if not self.optimizer.built:
            self.optimizer.build(self.generator.trainable_variables)
