"""HDF5 -> tf.data training pipeline: lazy per-index reads, one shared random crop per pair, value range, gray.

Determinism and resuming: the stream is a pure function of `seed` and the global sample position k = 0, 1, 2, ...
Sample k belongs to epoch `k // N`, is pair `perm_epoch[k % N]` (perm_epoch seeded by (seed, epoch); identity
without shuffle) and its crop/flip come from a generator seeded by (seed, k). Batches are consecutive positions
(they run across epoch boundaries when `repeat`), so batch b holds positions [b*B, (b+1)*B). To resume a run that
had taken S batches, pass `start_step=S` (the same seed and batch size): the stream continues exactly where it was.
"""
import functools
import os

import numpy as np
import tensorflow as tf

from ..errors import BadInputError
from .hdf5 import blur_key, check_split, empty_split_fix, full_key, open_hdf5

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale, as in SRN's gray/lstm training


_OPEN = {}


def _file(path):
    """One read-only h5py handle per (path, mtime), kept open for the life of the process."""
    key = (path, os.path.getmtime(path))
    if key not in _OPEN:
        _OPEN[key] = open_hdf5(path)
    return _OPEN[key]


@functools.lru_cache(maxsize=4)
def _permutation(n, seed, epoch, shuffle):
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def sample_index(k, n, seed=0, shuffle=True):
    """Pair index of global position k (see module docstring)."""
    return int(_permutation(n, seed, k // n, shuffle)[k % n])


def load_sample(path, split, k, crop, flips, seed, shuffle):
    """Read position k as uint8 (blurred, sharp) arrays with the shared crop and flips applied (numpy side)."""
    f = _file(path)
    full, blur = f[full_key(split)], f[blur_key(split)]
    n, h, w = full.shape[:3]
    i = sample_index(k, n, seed, shuffle)
    rng = np.random.default_rng([seed, k, 0xC409])
    if crop:
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        region = np.s_[i, y:y + crop, x:x + crop, :]  # hyperslab read: only the crop (per chunk) is read
    else:
        region = np.s_[i]
    sharp, blurred = full[region], blur[region]
    if flips:
        if rng.random() < 0.5:
            sharp, blurred = sharp[:, ::-1], blurred[:, ::-1]
        if rng.random() < 0.5:
            sharp, blurred = sharp[::-1], blurred[::-1]
    return np.ascontiguousarray(blurred), np.ascontiguousarray(sharp)


def to_range(x_uint8, value_range=(0, 1), gray=False):
    """uint8 tensor -> float32 in `value_range`, optionally luminance (1 channel) first."""
    x = tf.cast(x_uint8, tf.float32) / 255.0
    if gray:
        x = tf.image.rgb_to_grayscale(x)  # weights GRAY_WEIGHTS
    lo, hi = value_range
    if (lo, hi) == (0, 1):
        return x
    if (lo, hi) == (-1, 1):
        return x * 2.0 - 1.0
    return lo + x * (hi - lo)


def make_dataset(path, split="train", batch_size=16, crop=256, value_range=(0, 1), flips=False, shuffle=True,
                 seed=0, repeat=True, gray=False, start_step=0, num_parallel_calls=2):
    """tf.data.Dataset of `(blurred, sharp)` float32 NHWC batches read lazily from a build_hdf5 file.

    crop: side of the one random crop shared by the pair (SRN: 256); None/0 keeps whole images.
    flips: random horizontal and vertical flips of the pair (a deviation: SRN uses none; off by default).
    value_range: (0, 1) (SRN, DMPHN) or (-1, 1) (dense-field GAN; x*2-1 of x/255).
    gray: luminance with weights 0.2989/0.5870/0.1140 -> 1 channel (SRN gray/lstm training).
    repeat: endless stream, batches of exactly `batch_size`; otherwise one epoch (last batch may be smaller).
    start_step: number of batches already consumed by a previous run with the same arguments (resume).
    Output order does not depend on `num_parallel_calls` (deterministic map).
    """
    path = os.fspath(path)
    with open_hdf5(path) as f:
        n, h, w, c = check_split(f, split, path)
    if n == 0:
        raise BadInputError(f"{path}: split {split!r} is empty: {empty_split_fix(split)}")
    if crop and (crop > h or crop > w):
        raise BadInputError(f"{path}: crop {crop} is larger than the {h}x{w} images of split {split!r}")
    start = int(start_step) * int(batch_size)
    stop = np.iinfo(np.int64).max if repeat else n
    if start >= stop:
        raise ValueError(f"start_step {start_step} is past the end of a one-epoch stream of {n} pairs")
    oh, ow = (crop, crop) if crop else (h, w)
    channels = 1 if gray else 3

    def load(k):
        return load_sample(path, split, int(k), crop, flips, seed, shuffle)

    def fetch(k):
        blurred, sharp = tf.numpy_function(load, [k], [tf.uint8, tf.uint8], stateful=False)
        blurred.set_shape((oh, ow, 3))
        sharp.set_shape((oh, ow, 3))
        return to_range(blurred, value_range, gray), to_range(sharp, value_range, gray)

    ds = tf.data.Dataset.range(start, stop)
    ds = ds.map(fetch, num_parallel_calls=num_parallel_calls, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    ds = ds.map(lambda b, s: (tf.ensure_shape(b, (None, oh, ow, channels)), tf.ensure_shape(s, (None, oh, ow, channels))))
    return ds.prefetch(2)
