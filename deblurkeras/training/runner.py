"""Run machinery shared by every trainer: config, strategy, checkpoints that resume exactly, logs, previews.

A trainer family is a module (FAMILIES, keyed by config `model.family`) providing
    build_trainer(cfg, mixed_precision=False) -> compiled keras.Model with custom train_step/test_step and
        (mixed_precision = dynamic loss scaling: run.precision float16 only)
        savable_models() -> {name: keras model}     weights a checkpoint holds
        optimizers()     -> {name: optimizer}       optimizer state a checkpoint holds
        preview(blurred) -> output images in [0, 1] for the image grids
        build_optimizers() (optional)               create optimizer slots before a restore
    data_options(cfg) (optional) -> extra keyword arguments for deblurkeras.data.make_dataset
    make_datasets(cfg, start_step) (optional) -> (train_ds, val_ds) replacing the default HDF5 pair pipeline

Run directory (`run.dir`):
    config.yaml           the resolved config
    ckpt/step_XXXXXXXX/   <model>.weights.h5, <optimizer>.npz (all optimizer variables incl. iterations, so the
                          learning-rate schedule position too), state.json (step, data position, best PSNR)
    ckpt/latest           name of the newest complete checkpoint (written atomically after the directory)
    best/                 same content, the best validation PSNR so far
    <model>.weights.h5    final weights (what `deblurkeras eval --weights` reads)
    log.csv, tb/, previews/step_XXXXXXXX.png (blurred | output | sharp)
A checkpoint directory is written under a temporary name and renamed into place, so a kill -9 at any moment leaves
the previous checkpoint intact. An "epoch" of the Keras fit loop is `train.ckpt_every` steps: validation,
previews and checkpoints happen at its end. The data stream is a pure function of (seed, batch position), so
resuming rebuilds it at the checkpoint's step (deblurkeras.data.make_dataset(start_step=...)).
"""
import contextlib
import copy
import csv
import importlib
import json
import math
import os
import shutil
import time

import numpy as np
import yaml

from ..errors import BadInputError, DeblurKerasError, first_line
from ..utils import atomic_path

STRATEGIES = ("default", "mirrored", "multiworker")

# Defaults of every config section; a config file only needs what differs.
DEFAULTS = {
    "model": {"name": "srn-color", "family": None, "resize_mode": "tf1_legacy"},
    "data": {"path": None, "split": "train", "val_split": "test", "batch_size": 16, "crop": 256, "flips": False,
             "val_batch_size": 4, "val_crop": 256, "val_batches": 2, "num_parallel_calls": 2},
    "train": {"total_steps": 524000, "lr": 1e-4, "end_lr": 0.0, "power": 0.3, "schedule": "polynomial",
              "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "clip_lstm_norm": None, "seed": 0,
              "warmup_steps": 0, "global_clipnorm": None,
              "ckpt_every": 1000, "keep_last": 2, "log_every": 100, "n_preview": 4, "jit_compile": False},
    "run": {"dir": "runs/default", "strategy": "default", "precision": "float32", "progress": True,
            "time_budget_s": None, "mixed_precision": None},  # mixed_precision: deprecated, true = float16
}


class TrainingDivergedError(DeblurKerasError):
    """The loss became NaN/Inf; the run stopped and the last good checkpoint is kept."""


# ----------------------------------------------------------------------------------------------- config
def _merge(base, override):
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply_override(cfg, item):
    """Apply one `section.key=value` (value parsed as YAML: numbers, booleans, null, lists)."""
    if "=" not in item:
        raise BadInputError(f"--set {item!r}: expected key=value (e.g. train.total_steps=1000)")
    key, value = item.split("=", 1)
    *parents, leaf = key.strip().split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise BadInputError(f"--set {item!r}: {p!r} is not a section")
    node[leaf] = _parse_value(value)
    return cfg


def _parse_value(text):
    """YAML scalar, but `3e-4` is a float (YAML 1.1 would keep it a string)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def load_config(path=None, overrides=(), base=None):
    """DEFAULTS <- YAML file (or `base` dict) <- `--set` overrides. Returns a plain dict."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        from ..families import config_path
        path = config_path(path)
        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise BadInputError(f"{path}: not valid YAML ({first_line(e)})") from None
        if not isinstance(loaded, dict):
            raise BadInputError(f"{path}: a config must be a mapping of sections (model, data, train, run)")
        cfg = _merge(cfg, loaded)
    cfg = _merge(cfg, base)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def family_module(cfg):
    """The trainer module of the config's `model.family` (default: the family of `model.name`)."""
    from .. import families

    name = cfg["model"].get("family")
    try:
        fam = families.family(name) if name else families.family_of(cfg["model"]["name"])
    except ValueError as e:
        raise BadInputError(str(e)) from None
    if not fam.trainer:
        raise BadInputError(f"model family {fam.name!r} has no trainer")
    return importlib.import_module(fam.trainer)


# ----------------------------------------------------------------------------------------------- strategy
def make_strategy(name):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()  # cluster from the TF_CONFIG environment variable
    raise BadInputError(f"--strategy {name!r}: expected one of {STRATEGIES}")


def fix_multiworker_build(trainer, strategy):
    """Two Keras 3 gaps under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388), closed on this trainer:
    - `fit()` learns the input shapes by reducing the first batch with `strategy.reduce("MEAN", batch)`, which
      cannot reduce a nested batch ("Attempt to convert a value (PerReplica...)"): one local replica's batch has the
      same shapes, so the model is built from it;
    - the logs of each step are reduced with `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars
      ("Invalid reduction dimension 0 for input with 0 dimensions"): train/test steps return them as shape [1],
      whose mean over axis 0 across the replicas is the scalar a single process logs (equal local batches)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def local(v):
        return strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v

    def build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:  # as keras' _maybe_symbolic_build; fit() resets the iterator afterwards
                data_batch = tf.nest.map_structure(local, next(it))
                break
        with strategy.scope():
            trainer._symbolic_build(data_batch=data_batch)

    trainer._maybe_symbolic_build = build

    def rank1(step):
        def wrapped(data):
            logs = step(data)
            return {k: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v for k, v in logs.items()}
        return wrapped

    trainer.train_step = rank1(trainer.train_step)
    trainer.test_step = rank1(trainer.test_step)


def is_chief(strategy):
    """Only one worker writes files under multi-worker training (the chief, or worker 0 without a chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def run_precision(run_cfg):
    """The resolved `run.precision` (float32 | bfloat16 | float16 | auto; the deprecated `run.mixed_precision:
    true` means float16)."""
    from .. import precision

    try:
        return precision.resolve(precision.from_run_config(run_cfg))
    except ValueError as e:
        raise BadInputError(f"run.precision: {e}") from None


@contextlib.contextmanager
def precision_policy(precision="float32"):
    """The Keras dtype policy of `precision` for the duration of the run (restored afterwards, so tests do not leak
    it). A bool is the old `mixed_precision` flag: True = float16."""
    from .. import precision as prec

    if isinstance(precision, bool) or precision is None:
        precision = "float16" if precision else "float32"
    with prec.scope(precision) as p:
        yield p


# ----------------------------------------------------------------------------------------------- checkpoints
def _optimizer_arrays(opt):
    return {f"{i:04d}:{v.path}": np.asarray(v.numpy()) for i, v in enumerate(opt.variables)}


def save_checkpoint(trainer, directory, state):
    """Write weights, optimizer variables and state.json into `directory` atomically (temp dir + rename)."""
    parent, name = os.path.split(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for key, model in trainer.savable_models().items():
        model.save_weights(os.path.join(tmp, f"{key}.weights.h5"))
    for key, opt in trainer.optimizers().items():
        np.savez(os.path.join(tmp, f"{key}.npz"), **_optimizer_arrays(opt))
    with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    old = None
    if os.path.exists(directory):  # replacing (best/): move the old one aside first, drop it after the rename
        old = os.path.join(parent, f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def build_optimizers(trainer):
    """Create optimizer slot variables so a restore has somewhere to go."""
    if hasattr(trainer, "build_optimizers"):
        trainer.build_optimizers()
        return
    for opt in trainer.optimizers().values():
        if not opt.built:
            opt.build(trainer.trainable_variables)


def load_checkpoint(trainer, directory):
    """Restore weights and optimizer variables written by save_checkpoint; return its state dict."""
    for key, model in trainer.savable_models().items():
        model.load_weights(os.path.join(directory, f"{key}.weights.h5"))
    build_optimizers(trainer)
    for key, opt in trainer.optimizers().items():
        with np.load(os.path.join(directory, f"{key}.npz")) as arrays:
            names = sorted(arrays.files)
            if len(names) != len(opt.variables):
                raise BadInputError(f"{directory}/{key}.npz: {len(names)} optimizer variables, "
                                    f"the optimizer has {len(opt.variables)}")
            for name, var in zip(names, opt.variables):
                if tuple(arrays[name].shape) != tuple(var.shape):
                    raise BadInputError(f"{directory}/{key}.npz: {name} has shape {arrays[name].shape}, "
                                        f"expected {tuple(var.shape)}")
                var.assign(arrays[name])
    with open(os.path.join(directory, "state.json"), encoding="utf-8") as f:
        return json.load(f)


def latest_checkpoint(run_dir):
    """Path of the newest complete checkpoint of a run, or None."""
    pointer = os.path.join(run_dir, "ckpt", "latest")
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        path = os.path.join(run_dir, "ckpt", f.read().strip())
    return path if os.path.isdir(path) else None


def _write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


# ----------------------------------------------------------------------------------------------- data
def default_datasets(cfg, module, start_step):
    """(train, val) from the HDF5 file `data.path`: shared random crops, seeded, resumable by batch position."""
    from ..data import make_dataset

    d = cfg["data"]
    if not d.get("path"):
        raise BadInputError("data.path is not set (an HDF5 file from `deblurkeras build-hdf5`)")
    extra = module.data_options(cfg) if hasattr(module, "data_options") else {}
    seed = int(cfg["train"]["seed"])
    train = make_dataset(d["path"], split=d["split"], batch_size=int(d["batch_size"]), crop=d["crop"],
                         flips=bool(d["flips"]), shuffle=True, seed=seed, repeat=True, start_step=start_step,
                         num_parallel_calls=int(d["num_parallel_calls"]), **extra)
    val = None
    if d.get("val_split") and int(d.get("val_batches") or 0) > 0:
        val = make_dataset(d["path"], split=d["val_split"], batch_size=int(d["val_batch_size"]),
                           crop=d["val_crop"], flips=False, shuffle=False, seed=seed, repeat=False, **extra)
        val = val.take(int(d["val_batches"]))
    return train, val


# ----------------------------------------------------------------------------------------------- logging
def image_grid(blurred, output, sharp, value_range=(0, 1)):
    """(N, H, 3W, 3) float [0, 1]: blurred | output | sharp side by side, gray images shown as RGB.

    `blurred` and `sharp` come from the data pipeline in `value_range` (e.g. [-1, 1] for the dense-field GAN);
    `output` is the trainer's preview, already in [0, 1]."""
    import tensorflow as tf

    lo, hi = (float(v) for v in value_range)
    to01 = [lambda t: (t - lo) / (hi - lo), lambda t: t, lambda t: (t - lo) / (hi - lo)]
    parts = [tf.clip_by_value(f(tf.cast(t, tf.float32)), 0.0, 1.0) for f, t in zip(to01, (blurred, output, sharp))]
    channels = max(int(p.shape[-1]) for p in parts)
    parts = [tf.image.grayscale_to_rgb(p) if p.shape[-1] == 1 and channels == 3 else p for p in parts]
    return tf.concat(parts, axis=2)


def save_grid_png(grid, path):
    """Stack an (N, H, W, C) [0, 1] grid vertically and write it as a PNG (atomically)."""
    from PIL import Image

    arr = np.concatenate(list(np.asarray(grid)), axis=0)
    arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(tmp)


class _CsvLog:
    """Appends rows to log.csv; on resume drops rows past the restored step (they are redone identically)."""

    def __init__(self, path, start_step):
        self.path, self.fields = path, None
        if os.path.isfile(path) and start_step > 0:
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
            if rows:
                self.fields = list(rows[0].keys())
            with atomic_path(path) as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    if self.fields:
                        w = csv.DictWriter(f, self.fields)
                        w.writeheader()
                        w.writerows(rows)
        elif os.path.isfile(path):
            os.remove(path)

    def write(self, row):
        new = not os.path.isfile(self.path) or self.fields is None
        if self.fields is None:
            self.fields = list(row.keys())
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def _summary_metadata(plugin, data_class):
    from tensorflow.core.framework import summary_pb2

    md = summary_pb2.SummaryMetadata()
    md.plugin_data.plugin_name = plugin
    md.data_class = data_class
    return md.SerializeToString()


def tb_scalar(tag, value, step):
    """A TensorBoard scalar written with core TF only (tf.summary.scalar needs the tensorboard package)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step,
                     metadata=_summary_metadata("scalars", summary_pb2.DATA_CLASS_SCALAR))


def tb_images(tag, images, step):
    """TensorBoard images ([width, height, png...] string tensor, the images plugin's format), core TF only."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    u8 = tf.image.convert_image_dtype(tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 1.0), tf.uint8)
    pngs = [tf.io.encode_png(u8[i]) for i in range(u8.shape[0])]
    h, w = int(u8.shape[1]), int(u8.shape[2])
    tensor = tf.stack([tf.constant(str(w)), tf.constant(str(h))] + pngs)
    tf.summary.write(tag, tensor, step=step, metadata=_summary_metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE))


def _make_callback(runner):
    import keras

    class RunnerCallback(keras.callbacks.Callback):
        """Steps, NaN guard, CSV/TensorBoard scalars, progress bar; checkpoints + previews at epoch end."""

        def on_train_batch_end(self, batch, logs=None):
            runner.on_step(logs or {})

        def on_epoch_end(self, epoch, logs=None):
            runner.on_epoch_end(logs or {})

    return RunnerCallback()


# ----------------------------------------------------------------------------------------------- the run
class Run:
    """One training run of a config. `Run(cfg).train(resume=...)` -> summary dict."""

    def __init__(self, cfg, log=print):
        self.cfg = cfg
        self.log = log
        self.run_dir = os.path.abspath(cfg["run"]["dir"])
        t = cfg["train"]
        self.total = int(t["total_steps"])
        self.ckpt_every = max(1, int(t["ckpt_every"]))
        self.log_every = max(1, int(t["log_every"]))
        self.step = 0
        self.best_psnr = -math.inf
        self.diverged = None
        self.stopped_early = None
        self.last_ckpt = None
        budget = cfg["run"].get("time_budget_s")
        self.budget = float(budget) if budget else None

    # --- setup
    def _state(self):
        d = self.cfg["data"]
        return {"step": self.step, "best_val_psnr": None if math.isinf(self.best_psnr) else self.best_psnr,
                "lr": self._lr(), "data": {"seed": int(self.cfg["train"]["seed"]), "batches_consumed": self.step,
                                           "batch_size": int(d["batch_size"]), "path": d.get("path")},
                "optimizer_iterations": {k: int(o.iterations.numpy()) for k, o in self.trainer.optimizers().items()},
                "total_steps": self.total, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def _lr(self):
        from .schedules import current_lr

        opt = next(iter(self.trainer.optimizers().values()))
        return current_lr(opt)

    def _restore(self):
        path = latest_checkpoint(self.run_dir)
        if path is None:
            self.log(f"resume: no checkpoint in {self.run_dir}/ckpt, starting from step 0")
            return
        state = load_checkpoint(self.trainer, path)
        self.step = int(state["step"])
        self.best_psnr = -math.inf if state.get("best_val_psnr") is None else float(state["best_val_psnr"])
        self.last_ckpt = path
        self.log(f"resumed from {path}: step {self.step}, lr {self._lr():.6g}")

    def train(self, resume=False):
        import keras
        import tensorflow as tf

        cfg = self.cfg
        prec = run_precision(cfg["run"])  # a bad value fails before anything is written
        self.strategy = make_strategy(cfg["run"]["strategy"])
        self.chief = is_chief(self.strategy)
        module = family_module(cfg)
        os.makedirs(self.run_dir, exist_ok=True)
        if not resume and latest_checkpoint(self.run_dir):
            raise BadInputError(f"{self.run_dir}: already holds a run (pass --resume to continue it, "
                                f"or set run.dir to a new folder)")
        if self.chief:
            _write_text(os.path.join(self.run_dir, "config.yaml"), yaml.safe_dump(cfg, sort_keys=False))
        keras.utils.set_random_seed(int(cfg["train"]["seed"]))
        self.log(prec.reason)
        with precision_policy(prec):
            with self.strategy.scope():
                # loss scaling only for float16: bfloat16 has float32's exponent range
                self.trainer = module.build_trainer(cfg, mixed_precision=prec.name == "float16")
                if resume:
                    self._restore()
            if self.step >= self.total:
                self.log(f"run already complete at step {self.step}")
                return self._finish(module)
            if hasattr(module, "make_datasets"):
                train_ds, val_ds = module.make_datasets(cfg, self.step)
            else:
                train_ds, val_ds = default_datasets(cfg, module, self.step)
            n_preview = int(cfg["train"]["n_preview"])
            blurred, sharp = next(iter(val_ds if val_ds is not None else train_ds))
            self.preview_batch, self.preview_sharp = blurred[:n_preview], sharp[:n_preview]
            options = module.data_options(cfg) if hasattr(module, "data_options") else {}
            self.value_range = tuple(options.get("value_range", (0, 1)))
            self.csv = _CsvLog(os.path.join(self.run_dir, "log.csv"), self.step) if self.chief else None
            self.tb = tf.summary.create_file_writer(os.path.join(self.run_dir, "tb")) if self.chief else None
            self._bar = self._progress()
            self._time_schedules = self._find_time_schedules()
            self.t0 = time.time()
            fix_multiworker_build(self.trainer, self.strategy)
            epochs = math.ceil(self.total / self.ckpt_every)
            try:
                self.trainer.fit(train_ds, epochs=epochs, initial_epoch=self.step // self.ckpt_every,
                                 steps_per_epoch=self.ckpt_every, validation_data=val_ds,
                                 callbacks=[_make_callback(self)], verbose=0, shuffle=False)
            finally:
                if self._bar is not None:
                    self._bar.close()
            if self.diverged:
                raise TrainingDivergedError(self.diverged)
            if self.last_ckpt is None or not self.last_ckpt.endswith(f"step_{self.step:08d}"):
                self._checkpoint({})
            return self._finish(module)

    def _find_time_schedules(self):
        from .schedules import time_progress_schedule

        found = [time_progress_schedule(o) for o in self.trainer.optimizers().values()]
        found = [s for s in found if s is not None]
        if found and not self.budget:
            raise BadInputError("train.schedule time_polynomial needs run.time_budget_s (seconds)")
        return found

    def _progress(self):
        if not self.cfg["run"].get("progress", True) or not self.chief:
            return None
        from tqdm import tqdm

        return tqdm(total=self.total, initial=self.step, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0)

    # --- callbacks
    def on_step(self, logs):
        self.step += 1
        loss = float(logs.get("loss", 0.0))
        if not math.isfinite(loss):
            kept = self.last_ckpt or "none (no checkpoint was written yet)"
            self.diverged = (f"loss became {loss} at step {self.step}; training stopped. Last good checkpoint: "
                             f"{kept}. Lower train.lr (or enable clipping) and rerun with --resume")
            self.trainer.stop_training = True
            return
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4g}", psnr=f"{float(logs.get('psnr', 0)):.2f}", refresh=False)
            self._bar.update(1)
        if self.step % self.log_every == 0 or self.step == self.total:
            self._log_scalars(logs, "train")
        for sched in self._time_schedules:
            sched.set_progress((time.time() - self.t0) / self.budget)
        if self.step >= self.total:
            self.trainer.stop_training = True
        elif self.budget is not None and time.time() - self.t0 > self.budget:
            # a wall-clock guard (the demo's 10 minutes): stop cleanly; the final checkpoint is written as usual
            self.stopped_early = f"time budget of {self.budget:.0f} s reached at step {self.step}/{self.total}"
            if self._time_schedules:
                self.stopped_early += " (the end of the time-based schedule, as planned)"
            self.log(self.stopped_early)
            self.trainer.stop_training = True

    def on_epoch_end(self, logs):
        if self.diverged:
            return  # the weights hold NaNs: write nothing
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self._log_scalars(val, "val")
        self._preview()
        self._checkpoint(val)

    def _log_scalars(self, logs, prefix):
        values = {k: float(v) for k, v in logs.items() if np.ndim(v) == 0}
        row = {"step": self.step, "split": prefix, "lr": self._lr(), "elapsed_s": round(time.time() - self.t0, 2),
               **values}
        if self.csv is not None:
            self.csv.write(row)
        if self.tb is not None:
            with self.tb.as_default():
                for k, v in values.items():
                    tb_scalar(f"{prefix}/{k}", v, self.step)
                if prefix == "train":
                    tb_scalar("lr", row["lr"], self.step)

    def _preview(self):
        if not self.chief:
            return
        grid = image_grid(self.preview_batch, self.trainer.preview(self.preview_batch), self.preview_sharp,
                          self.value_range)
        with self.tb.as_default():
            tb_images("blurred|output|sharp", grid, self.step)
        save_grid_png(grid, os.path.join(self.run_dir, "previews", f"step_{self.step:08d}.png"))

    def _checkpoint(self, val):
        if not self.chief:
            return
        ckpt_dir = os.path.join(self.run_dir, "ckpt")
        path = os.path.join(ckpt_dir, f"step_{self.step:08d}")
        psnr = val.get("psnr")
        improved = psnr is not None and float(psnr) > self.best_psnr
        if improved:
            self.best_psnr = float(psnr)
        state = self._state()
        save_checkpoint(self.trainer, path, state)
        _write_text(os.path.join(ckpt_dir, "latest"), os.path.basename(path))
        self.last_ckpt = path
        if improved:
            save_checkpoint(self.trainer, os.path.join(self.run_dir, "best"), state)
        self._prune(ckpt_dir)

    def _prune(self, ckpt_dir):
        keep = max(1, int(self.cfg["train"]["keep_last"]))
        steps = sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_"))
        for d in steps[:-keep]:
            shutil.rmtree(os.path.join(ckpt_dir, d), ignore_errors=True)

    def _finish(self, module):
        """Final weights next to the run (atomically) and a summary."""
        out = {}
        if self.chief:
            for key, model in self.trainer.savable_models().items():
                path = os.path.join(self.run_dir, f"{key}.weights.h5")
                with atomic_path(path) as tmp:
                    model.save_weights(tmp)
                out[key] = path
        return {"step": self.step, "best_val_psnr": None if math.isinf(self.best_psnr) else self.best_psnr,
                "weights": out, "run_dir": self.run_dir, "last_checkpoint": self.last_ckpt,
                "stopped_early": self.stopped_early}


def train(cfg, resume=False, log=print):
    """Train a config dict (see DEFAULTS); returns the summary of Run.train."""
    return Run(cfg, log=log).train(resume=resume)
