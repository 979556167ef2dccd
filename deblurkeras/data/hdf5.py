"""The HDF5 dataset layout of the original dense-field DeblurGAN `build_hdf5`, written streaming and read lazily.

Layout (readable unchanged by the original loader):
    {split}_data_full   uint8 (N, H, W, 3)  sharp images, RGB, channels-last
    {split}_data_blur   uint8 (N, H, W, 3)  blurred images, pairs aligned by index with `_full`
    {split}_names       variable-length str (N,)  source file name of each pair (ours; absent in original files)
for split in ("train", "test"). File attributes (ours): source, size, resize_filter, layout, n_train, n_test,
tool, tool_version; a file still being written carries `complete = 0` (see data_tools/build_hdf5.py --resume).

The writer creates chunked, resizable datasets with one image per chunk row, so memory stays bounded whatever
the dataset size, and `flush()`es after every image so a killed build leaves a readable prefix.
"""
import os

import h5py
import numpy as np

from ..errors import BadInputError

SPLITS = ("train", "test")


def full_key(split):
    return f"{split}_data_full"


def blur_key(split):
    return f"{split}_data_blur"


def names_key(split):
    return f"{split}_names"


def open_hdf5(path):
    """Open a dataset file read-only; a one-line BadInputError naming the file when it is missing or not HDF5."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise BadInputError(f"{path}: not a readable HDF5 file ({e})") from None


def check_split(f, split, path="<hdf5>"):
    """Validate the pair of datasets of `split` in an open file; return (N, H, W, C)."""
    for key in (full_key(split), blur_key(split)):
        if key not in f:
            raise BadInputError(f"{path}: dataset {key!r} not found (has {sorted(f.keys())})")
    full, blur = f[full_key(split)], f[blur_key(split)]
    if full.shape != blur.shape or full.ndim != 4:
        raise BadInputError(f"{path}: {full_key(split)} {full.shape} and {blur_key(split)} {blur.shape} do not pair")
    return tuple(full.shape)


def split_names(f, split):
    """Stored source names of a split, or generated `split_000000` names for files without them."""
    n = f[full_key(split)].shape[0]
    if names_key(split) in f and f[names_key(split)].shape[0] >= n:
        return [s.decode() if isinstance(s, bytes) else str(s) for s in f[names_key(split)][:n]]
    return [f"{split}_{i:06d}" for i in range(n)]


def count(path, split="test"):
    """Number of (blurred, sharp) pairs of `split` in the file."""
    with open_hdf5(path) as f:
        return check_split(f, split, path)[0]


def read_pairs(path, split="test"):
    """Iterate `(blurred_uint8, sharp_uint8, name)` of a split, one pair at a time (never the whole file)."""
    with open_hdf5(path) as f:
        n = check_split(f, split, path)[0]
        names = split_names(f, split)
        full, blur = f[full_key(split)], f[blur_key(split)]
        for i in range(n):
            yield blur[i], full[i], names[i]


class Hdf5Writer:
    """Append (sharp, blurred, name) triples to a file in the layout above, one chunk row per image.

    `shape` is the (H, W) of every image; `compression` None | "gzip" | "lzf". Opening an existing file with
    `mode="a"` continues it (resume): `n(split)` says how many pairs are already there; datasets are trimmed to the
    shortest of full/blur/names so a pair cut in half by a kill is written again, never duplicated.
    """

    def __init__(self, path, shape, compression=None, mode="w", attrs=None):
        self.path, self.shape, self.compression = os.fspath(path), tuple(shape), compression
        self.f = h5py.File(self.path, mode)
        if attrs:
            for k, v in attrs.items():
                self.f.attrs[k] = v
        for split in SPLITS:
            self._ensure(split)

    def _ensure(self, split):
        h, w = self.shape
        for key in (full_key(split), blur_key(split)):
            if key not in self.f:
                self.f.create_dataset(key, shape=(0, h, w, 3), maxshape=(None, h, w, 3), dtype="uint8",
                                      chunks=(1, h, w, 3), compression=self.compression)
            elif self.f[key].shape[1:] != (h, w, 3):
                raise BadInputError(f"{self.path}: {key} has images of {self.f[key].shape[1:3]}, not {self.shape}")
        if names_key(split) not in self.f:
            self.f.create_dataset(names_key(split), shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
                                  chunks=(1024,))
        n = self.n(split)
        for key in (full_key(split), blur_key(split), names_key(split)):
            if self.f[key].shape[0] != n:
                self.f[key].resize(n, axis=0)

    def n(self, split):
        return min(self.f[k].shape[0] for k in (full_key(split), blur_key(split), names_key(split)))

    def names(self, split):
        return [s.decode() if isinstance(s, bytes) else str(s) for s in self.f[names_key(split)][: self.n(split)]]

    def append(self, split, sharp, blurred, name):
        """Write one pair; the name goes last, so a pair counts as written only once its name is there."""
        i = self.n(split)
        for key, img in ((full_key(split), sharp), (blur_key(split), blurred)):
            ds = self.f[key]
            ds.resize(i + 1, axis=0)
            ds[i] = img
        names = self.f[names_key(split)]
        names.resize(i + 1, axis=0)
        names[i] = name
        self.f.flush()

    def set_attrs(self, **attrs):
        for k, v in attrs.items():
            self.f.attrs[k] = v

    def close(self):
        if self.f.id.valid:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
