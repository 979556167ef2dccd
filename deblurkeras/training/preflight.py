"""What `train` checks before TensorFlow loads and before it writes anything into the run folder.

The cheap mistakes - a run folder that already holds a run, a data file that is not there, a split without pairs -
are refused in well under a second, in one line naming the key and the fix. The run (deblurkeras.training.loop)
calls `check` first, so the library entry point refuses as early as the CLI does. Nothing here imports
TensorFlow; h5py reads only the split sizes.
"""
import os

from ..errors import BadInputError, first_line
from . import checkpoints as ckpt
from . import config as config_mod

# config keys holding a file or folder the run reads (`data.val_path`: only families that have it)
DATA_KEYS = ("data.path", "data.val_path")


def already_holds_a_run(run_dir):
    return (f"{run_dir}: already holds a run (pass --resume to continue it, or set run.dir to a new folder; "
            f"nothing was written)")


def check(cfg, resume=False):
    """Refuse, before any work, a config the run would fail on. Returns the checkpoint a resume continues (or
    None)."""
    run_dir = cfg["run"]["dir"]
    latest = ckpt.latest_checkpoint(run_dir)
    if latest and not resume:
        raise BadInputError(already_holds_a_run(run_dir))
    if latest:
        try:
            ckpt.read_state(latest)
        except (OSError, ValueError) as e:
            raise BadInputError(f"{latest}/state.json: unreadable ({first_line(e)}); the run cannot resume from "
                                f"this checkpoint (nothing was written)") from None
    fam = config_mod.family_spec(cfg)
    keys = DATA_KEYS + (() if latest else ("model.init_weights",))  # a resume restores its checkpoint instead
    for key in keys:
        _check_exists(cfg, key, fam.data_sources if key in DATA_KEYS else ())
    _check_splits(cfg)
    return latest


def _value(cfg, key):
    section, name = key.split(".")
    return cfg.get(section, {}).get(name)


def _check_exists(cfg, key, words):
    path = _value(cfg, key)
    if not isinstance(path, str) or path in words:
        return
    if not (os.path.exists(path) or os.path.exists(path + ".index")):  # a TF1 checkpoint is named by its prefix
        raise BadInputError(f"{key}={path!r}: no such file or folder (nothing was written)")


def _check_splits(cfg):
    """The splits the run reads from an HDF5 `data.path` exist and hold pairs."""
    path = _value(cfg, "data.path")
    if not isinstance(path, str) or not os.path.isfile(path):
        return
    import h5py

    from ..data.hdf5 import empty_split_fix, full_key

    if not h5py.is_hdf5(path):
        return  # another kind of file: the family's reader says what it expected
    d = cfg["data"]
    wanted = [("data.split", d.get("split"))]
    if d.get("val_split") and int(d.get("val_batches") or 0) > 0 and not d.get("val_path"):
        wanted.append(("data.val_split", d["val_split"]))
    with h5py.File(path, "r") as f:
        for key, split in wanted:
            if split is None:
                continue
            if full_key(split) not in f:
                have = sorted(k[:-len("_data_full")] for k in f.keys() if k.endswith("_data_full"))
                raise BadInputError(f"{path}: no split {split!r} ({key}); the file has {', '.join(have) or 'none'}")
            if f[full_key(split)].shape[0] == 0:
                raise BadInputError(f"{path}: split {split!r} ({key}) is empty: {empty_split_fix(split)}")
