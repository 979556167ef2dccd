"""Checkpoints that resume exactly: weights + every optimizer variable + state.json, written atomically.

    ckpt/step_XXXXXXXX/   <model>.weights.h5, <model>.rng.npz (dropout seed states, which save_weights omits),
                          <optimizer>.npz (all optimizer variables incl. iterations, so the learning-rate schedule
                          position too), state.json (step, data position, best metric, good)
    ckpt/latest           name of the newest complete good checkpoint (written atomically after the directory)
A checkpoint directory is written under a temporary name and renamed into place, so a kill -9 at any moment leaves
the previous checkpoint intact. A checkpoint is *good* when every weight is finite and the last logged loss (and
validation loss) was finite; the runner writes only good ones, and rotation never deletes the newest good one.
"""
import json
import os
import shutil

import numpy as np

from ..errors import BadInputError
from .. import weights
from ..utils import atomic_path


def nonfinite_weights(trainer):
    """Paths of the first few savable variables holding NaN/Inf ([] when every weight is finite)."""
    bad = []
    for key, model in trainer.savable_models().items():
        for v in model.weights:
            if not np.all(np.isfinite(np.asarray(v.numpy()))):
                bad.append(f"{key}/{v.path}")
                if len(bad) >= 3:
                    return bad
    return bad


def rng_variables(model):
    """State a model keeps beside its weights: the SeedGenerator states of its dropout layers. Keras' save_weights
    leaves them out, so without them a resumed run would draw other dropout masks than an uninterrupted one."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


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
        weights.save(model, os.path.join(tmp, f"{key}.weights.h5"))
        rng = rng_variables(model)
        if rng:
            np.savez(os.path.join(tmp, f"{key}.rng.npz"),
                     **{f"{i:04d}:{v.path}": np.asarray(v.numpy()) for i, v in enumerate(rng)})
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


def load_checkpoint(trainer, directory):
    """Restore weights and optimizer variables written by save_checkpoint; return its state dict."""
    for key, model in trainer.savable_models().items():
        weights.load_into(model, os.path.join(directory, f"{key}.weights.h5"))  # strict: every tensor named
        _restore_rng(model, os.path.join(directory, f"{key}.rng.npz"))
    trainer.build_optimizers()
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
    return read_state(directory)


def _restore_rng(model, path):
    if not os.path.isfile(path):
        return  # a model without dropout (or a checkpoint written before RNG states were kept)
    rng = rng_variables(model)
    with np.load(path) as arrays:
        names = sorted(arrays.files)
        if len(names) != len(rng):
            raise BadInputError(f"{path}: {len(names)} random-generator states, the model has {len(rng)}")
        for name, var in zip(names, rng):
            var.assign(arrays[name])


def read_state(directory):
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


def is_good(directory):
    """A checkpoint written before `good` was recorded counts as good (the runner never wrote NaN weights on
    purpose); one marked good: false does not."""
    try:
        return bool(read_state(directory).get("good", True))
    except (OSError, ValueError):
        return False


def prune(ckpt_dir, keep_last):
    """Delete all but the newest `keep_last` step_* checkpoints, never the newest good one."""
    steps = sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_"))
    good = [d for d in steps if is_good(os.path.join(ckpt_dir, d))]
    protect = good[-1] if good else None
    for d in steps[:-max(1, int(keep_last))]:
        if d != protect:
            shutil.rmtree(os.path.join(ckpt_dir, d), ignore_errors=True)


def write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
