"""The training run: strategy, trainer, optional start weights, the Keras fit loop with the runner's callback
(NaN guard, logs, previews, checkpoints), resume.

Run directory (`run.dir`):
    config.yaml           the resolved config
    ckpt/                 checkpoints (deblurkeras.training.checkpoints); step_00000000 holds model.init_weights
    best/                 the checkpoint with the best validation metric so far (the trainer's val_key)
    <model>.weights.h5    final weights (what `deblurkeras eval --weights` reads)
    log.csv, tb/, previews/step_XXXXXXXX.png (blurred | output | sharp)
    .lock                 flock'ed by the run using the folder: a second run on it refuses (one line, exit 2)
An "epoch" of the Keras fit loop is `train.ckpt_every` steps: validation, previews and checkpoints happen at its
end. The data stream is a pure function of (seed, batch position), so resuming rebuilds it at the checkpoint's step.
"""
import contextlib
import math
import os
import time

import numpy as np
import yaml

from ..errors import BadInputError, DeblurKerasError
from . import checkpoints as ckpt
from . import config as config_mod
from . import contract
from . import preflight
from .logs import CsvLog, image_grid, save_grid_png, tb_images, tb_scalar
from ..utils import DirLock, clean_stale_temps

STRATEGIES = ("default", "mirrored", "multiworker")


class TrainingDivergedError(DeblurKerasError):
    """The loss (or the weights) became NaN/Inf; the run stopped and the last good checkpoint is kept."""


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
def op_determinism(on):
    """TensorFlow's op determinism for the duration of the run when `on` (run.deterministic): with the seeds the run
    sets, the same steps give the same weights bit for bit on the same hardware, however busy it is. Restored
    afterwards (TensorFlow's disable is not public API; without it the setting stays for the process)."""
    if not on:
        yield
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was and hasattr(tf_config, "disable_op_determinism"):
            tf_config.disable_op_determinism()


def _make_callback(run):
    import keras

    class RunnerCallback(keras.callbacks.Callback):
        """Steps, NaN guard, CSV/TensorBoard scalars, progress bar; checkpoints + previews at epoch end."""

        def on_train_batch_end(self, batch, logs=None):
            run.on_step(logs or {})

        def on_epoch_end(self, epoch, logs=None):
            run.on_epoch_end(logs or {})

    return RunnerCallback()


def build_datasets(trainer, cfg, start_step):
    """(train, val) of the trainer's data hook (a module-level seam: tests inject bad batches here)."""
    return trainer.make_datasets(cfg, start_step)


class Run:
    """One training run of a config. `Run(cfg).train(resume=...)` -> summary dict."""

    def __init__(self, cfg, log=print):
        self.cfg = cfg = config_mod.validate(cfg)
        self.log = log
        self.run_dir = os.path.abspath(cfg["run"]["dir"])
        t = cfg["train"]
        self.total = int(t["total_steps"])
        self.ckpt_every = max(1, int(t["ckpt_every"]))
        self.log_every = max(1, int(t["log_every"]))
        self.step = 0
        self.best = None
        self.diverged = None
        self.stopped_early = None
        self.last_ckpt = None
        self.last_loss = None
        budget = cfg["run"].get("time_budget_s")
        self.budget = float(budget) if budget else None

    # --- setup
    def _state(self, good=True):
        d = self.cfg["data"]
        return {"step": self.step, "best_val": self.best, "val_key": self.trainer.val_key,
                "best_val_psnr": self.best if self.trainer.val_key == "psnr" else None,
                "good": good, "last_loss": self.last_loss,
                "lr": self._lr(), "data": {"seed": int(self.cfg["train"]["seed"]), "batches_consumed": self.step,
                                           "batch_size": int(d["batch_size"]), "path": d.get("path")},
                "optimizer_iterations": {k: int(o.iterations.numpy()) for k, o in self.trainer.optimizers().items()},
                "total_steps": self.total, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def _lr(self):
        from .schedules import current_lr

        opt = next(iter(self.trainer.optimizers().values()))
        return current_lr(opt)

    def _restore(self):
        path = ckpt.latest_checkpoint(self.run_dir)
        if path is None:
            self.log(f"resume: no checkpoint in {self.run_dir}/ckpt, starting from step 0")
            return False
        state = ckpt.load_checkpoint(self.trainer, path)
        self.step = int(state["step"])
        best = state.get("best_val", state.get("best_val_psnr"))
        self.best = None if best is None else float(best)
        self.last_ckpt = path
        self.log(f"resumed from {path}: step {self.step}, lr {self._lr():.6g}")
        return True

    def _init_weights(self):
        """model.init_weights into the trainer's init target (the run writes its step-0 checkpoint once everything
        is checked)."""
        from ..weights import load_into

        path = self.cfg["model"]["init_weights"]
        load_into(self.trainer.init_target(), path, self.cfg["model"]["name"])
        self.log(f"initial weights: {path}")

    def train(self, resume=False):
        cfg = self.cfg
        preflight.check(cfg, resume)  # the cheap refusals: before TensorFlow loads and before anything is written
        prec = run_precision(cfg["run"])
        self.strategy = make_strategy(cfg["run"]["strategy"])
        self.chief = is_chief(self.strategy)
        module = config_mod.family_module(cfg)
        os.makedirs(self.run_dir, exist_ok=True)
        lock = DirLock(self.run_dir) if self.chief else None
        if lock is not None and not lock.acquire():  # two runs on one folder would mix log.csv and checkpoints
            raise BadInputError(f"{self.run_dir}: another training run is using this folder (it holds "
                                f"{lock.path}); wait for it to end or set run.dir to another folder")
        try:
            return self._train(cfg, resume, prec, module)
        finally:
            if lock is not None:
                lock.release()

    def _train(self, cfg, resume, prec, module):
        import keras
        import tensorflow as tf

        # Everything that can fail is done before the first write (the trainer, the checkpoint to resume, the start
        # weights, the data streams and their first batch): a failed start or resume leaves the run folder as it was.
        if not resume and ckpt.latest_checkpoint(self.run_dir):  # appeared since preflight (a run started beside)
            raise BadInputError(preflight.already_holds_a_run(self.run_dir))
        keras.utils.set_random_seed(int(cfg["train"]["seed"]))
        self.log(prec.reason)
        from .. import precision

        # the Keras dtype policy of the run, restored afterwards (so tests do not leak it)
        with precision.scope(prec), op_determinism(cfg["run"]["deterministic"]):
            with self.strategy.scope():
                self.trainer = contract.check(module.build_trainer(cfg, precision=prec))
                self.trainer.build_optimizers()
                restored = self._restore() if resume else False
                start_weights = not restored and cfg["model"]["init_weights"]
                if start_weights:
                    self._init_weights()
            if self.step >= self.total:
                self.log(f"run already complete at step {self.step}")
                return self._finish()
            train_ds, val_ds = build_datasets(self.trainer, cfg, self.step)
            n_preview = int(cfg["train"]["n_preview"])
            blurred, sharp = next(iter(val_ds if val_ds is not None else train_ds))
            self.preview_batch, self.preview_sharp = blurred[:n_preview], sharp[:n_preview]
            # checked: from here on the run writes
            if self.chief:
                clean_stale_temps(self.run_dir)
                ckpt.write_text(os.path.join(self.run_dir, "config.yaml"), yaml.safe_dump(cfg, sort_keys=False))
            if start_weights:
                with self.strategy.scope():
                    self._checkpoint({})  # step 0 holds exactly the start weights
            self.csv = CsvLog(os.path.join(self.run_dir, "log.csv"), self.step) if self.chief else None
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
            if not self.diverged and (self.last_ckpt is None or not self.last_ckpt.endswith(f"step_{self.step:08d}")):
                self._checkpoint({})
            if self.diverged:
                raise TrainingDivergedError(self.diverged)
            return self._finish()

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

        if self.budget:  # the wall clock ends the run (the demo): count its seconds, so the time left is true
            return tqdm(total=round(self.budget), desc="train", unit="s", dynamic_ncols=True, mininterval=1.0,
                        bar_format="{l_bar}{bar}| {n:.0f}/{total} s of the time budget{postfix}")
        return tqdm(total=self.total, initial=self.step, desc="train", unit="step", dynamic_ncols=True, mininterval=1.0)

    # --- the NaN guard
    def _diverge(self, what):
        if self.last_ckpt:
            advice = (f"Last good checkpoint: {self.last_ckpt}. Lower train.lr (or enable clipping) and rerun "
                      f"with --resume")
        else:  # nothing to resume from: --resume would start from step 0 anyway
            advice = ("No checkpoint was written yet. Lower train.lr (or enable clipping) and start again "
                      "(without --resume)")
        self.diverged = f"{what} at step {self.step}; training stopped. {advice}"
        self.trainer.stop_training = True

    def _guard(self, logs):
        """Stop on what actually diverges: any logged loss, or the generator output (the trainers log its NaN/Inf
        count); never on one kernel's NaN handling downstream of it. True when the run stopped."""
        for k in [self.trainer.loss_key] + [k for k in self.trainer.guarded_keys(logs) if k != self.trainer.loss_key]:
            if np.ndim(logs[k]) == 0 and not math.isfinite(float(logs[k])):
                self._diverge(f"loss became {float(logs[k])}" if k == "loss" else f"loss ({k}) became {float(logs[k])}")
                return True
        if contract.OUTPUT_KEY not in logs:
            raise KeyError(f"{type(self.trainer).__name__} logs no {contract.OUTPUT_KEY!r} (its train_step must "
                           f"return contract.watch_outputs(logs, generator_output)); logged: {sorted(logs)}")
        bad = float(logs[contract.OUTPUT_KEY])
        if bad:
            self._diverge(f"generator output became NaN/Inf ({bad:.0f} values; every logged loss finite)")
            return True
        return False

    # --- callbacks
    def on_step(self, logs):
        self.step += 1
        key = self.trainer.loss_key
        if key not in logs:
            raise KeyError(f"{type(self.trainer).__name__} logs no {key!r} (its loss_key); logged: {sorted(logs)}")
        loss = float(logs[key])
        if self._guard(logs):
            return
        self.last_loss = loss
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4g}", psnr=f"{float(logs.get('psnr', 0)):.2f}",
                                  **({"step": f"{self.step}/{self.total}"} if self.budget else {}), refresh=False)
            self._bar.update(min(time.time() - self.t0, self.budget) - self._bar.n if self.budget else 1)
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
        self._checkpoint(val)
        if not self.diverged:  # no preview of NaN weights
            self._preview()

    def _log_scalars(self, logs, prefix):
        values = {k: float(v) for k, v in logs.items() if np.ndim(v) == 0 and k != contract.OUTPUT_KEY}
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
                          self.trainer.value_range)
        with self.tb.as_default():
            tb_images("blurred|output|sharp", grid, self.step)
        save_grid_png(grid, os.path.join(self.run_dir, "previews", f"step_{self.step:08d}.png"))

    def _checkpoint(self, val):
        """Write a checkpoint if it is good (finite weights, finite validation loss); else stop as diverged."""
        bad = ckpt.nonfinite_weights(self.trainer)
        val_loss = val.get(self.trainer.loss_key)
        if bad:
            return self._diverge(f"weights became NaN/Inf ({', '.join(bad)})")
        if val_loss is not None and not contract.is_finite(val_loss):
            return self._diverge(f"validation loss ({self.trainer.loss_key}) became {float(val_loss)}")
        if not self.chief:
            return
        ckpt_dir = os.path.join(self.run_dir, "ckpt")
        path = os.path.join(ckpt_dir, f"step_{self.step:08d}")
        metric = val.get(self.trainer.val_key)
        improved = self._improves(metric)
        if improved:
            self.best = float(metric)
        state = self._state(good=True)
        ckpt.save_checkpoint(self.trainer, path, state)
        ckpt.write_text(os.path.join(ckpt_dir, "latest"), os.path.basename(path))
        self.last_ckpt = path
        if improved:
            ckpt.save_checkpoint(self.trainer, os.path.join(self.run_dir, "best"), state)
        ckpt.prune(ckpt_dir, self.cfg["train"]["keep_last"])

    def _improves(self, metric):
        if metric is None or not contract.is_finite(metric):
            return False
        if self.best is None:
            return True
        return float(metric) > self.best if self.trainer.val_higher_is_better else float(metric) < self.best

    def _finish(self):
        """Final weights next to the run (atomically) and a summary."""
        from .. import weights

        out = {}
        if self.chief:
            for key, model in self.trainer.savable_models().items():
                # atomic, and the file says which registered model it holds (`--model` optional downstream)
                out[key] = weights.save(model, os.path.join(self.run_dir, f"{key}.weights.h5"))
        return {"step": self.step, "best_val": self.best, "val_key": self.trainer.val_key,
                "best_val_psnr": self.best if self.trainer.val_key == "psnr" else None,
                "weights": out, "run_dir": self.run_dir, "last_checkpoint": self.last_ckpt,
                "stopped_early": self.stopped_early}


def train(cfg, resume=False, log=print):
    """Train a config dict (see deblurkeras.training.config); returns the summary of Run.train."""
    return Run(cfg, log=log).train(resume=resume)
