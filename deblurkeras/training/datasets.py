"""The default training data: (blurred, sharp) pairs from a build-hdf5 file, seeded and resumable by batch position."""
from ..errors import BadInputError


def hdf5_datasets(cfg, start_step, value_range=(0, 1)):
    """(train, val or None) from `data.path`: shared random crops; `data.shuffle` false walks the file in order
    (the dense-field GAN's original). Rebuilt at `start_step` on resume, it continues exactly."""
    from ..data import make_dataset

    d = cfg["data"]
    if not d.get("path"):
        raise BadInputError("data.path is not set (an HDF5 file from `deblurkeras build-hdf5`)")
    seed = int(cfg["train"]["seed"])
    train = make_dataset(d["path"], split=d["split"], batch_size=int(d["batch_size"]), crop=d["crop"],
                         value_range=value_range, flips=bool(d["flips"]), shuffle=bool(d["shuffle"]), seed=seed,
                         repeat=True, start_step=start_step, num_parallel_calls=int(d["num_parallel_calls"]))
    val = None
    if d.get("val_split") and int(d.get("val_batches") or 0) > 0:
        val = make_dataset(d["path"], split=d["val_split"], batch_size=int(d["val_batch_size"]),
                           crop=d["val_crop"], value_range=value_range, flips=False, shuffle=False, seed=seed,
                           repeat=False)
        val = val.take(int(d["val_batches"]))
    return train, val
