"""The HDF5 dataset layout of the original dense-field DeblurGAN `build_hdf5`, written streaming and read lazily.

Layout (readable unchanged by the original loader):
    {split}_data_full   uint8 (N, H, W, 3)  sharp images, RGB, channels-last
    {split}_data_blur   uint8 (N, H, W, 3)  blurred images, pairs aligned by index with `_full`
    {split}_names       bytes (N,), UTF-8   source file name of each pair (ours; absent in original files)
for split in ("train", "test"). File attributes (ours): source, size, resize_filter, layout, n_train, n_test,
tool, tool_version, {split}_count; a file still being written carries `complete = 0` (build_hdf5 --resume).

The writer creates chunked, resizable datasets with one image per chunk row (each image written straight to its
chunk), so memory stays bounded whatever the dataset size; `commit()` flushes a consistent state that a killed
build can be resumed from.
"""
import os
import zlib

import h5py
import numpy as np

from ..errors import BadInputError

SPLITS = ("train", "test")
GZIP_LEVEL = 4  # h5py's default deflate level
NAME_BYTES = 512  # stored source names: UTF-8, at most this many bytes


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
    from ..h5safe import open_checked
    try:
        return open_checked(path)  # no external storage / links / virtual datasets (issue 31)
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


def empty_split_fix(split):
    """How to get on when `split` of a file has no pairs (`split 'test' is empty` after building from a folder
    without test/): the config keys that choose the split, and the rebuild."""
    if split == "test":
        return ("validate on training pairs with --set data.val_split=train, skip validation with --set "
                "data.val_split=null, or put pairs in FOLDER/test/ and rebuild")
    return f"rebuild the file from a folder with {split}/ pairs, or choose another split (data.split, data.val_split)"


def split_names(f, split):
    """Stored source names of a split, or generated `split_000000` names for files without them."""
    n = f[full_key(split)].shape[0]
    if names_key(split) in f and f[names_key(split)].shape[0] >= n:
        return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in f[names_key(split)][:n]]
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

    `shape` is the (H, W) of every image; `compression` None | "gzip" | "lzf". Speed: `reserve(split, n)` sizes
    the datasets once (unwritten chunks take no space) and `append` only writes; `commit()` records the counts
    (attributes `{split}_count`) and flushes — the file on disk is consistent as of the last commit. `close()`
    commits and trims the datasets to the counts. Opening an existing file with `mode="a"` continues it
    (resume): the counts of its last commit say where; anything written after that is overwritten.
    """

    def __init__(self, path, shape, compression=None, mode="w", attrs=None):
        self.path, self.shape, self.compression = os.fspath(path), tuple(shape), compression
        self.f = h5py.File(self.path, mode)
        if attrs:
            for k, v in attrs.items():
                self.f.attrs[k] = v
        self.count, self.capacity, self.pending, self.ds = {}, {}, {}, {}
        for split in SPLITS:
            self._ensure(split)
        self.compression = self.f[full_key("train")].compression  # a resumed file keeps its own

    def _ensure(self, split):
        h, w = self.shape
        for key in (full_key(split), blur_key(split)):
            if key not in self.f:
                self.f.create_dataset(key, shape=(0, h, w, 3), maxshape=(None, h, w, 3), dtype="uint8",
                                      chunks=(1, h, w, 3), compression=self.compression,
                                      compression_opts=GZIP_LEVEL if self.compression == "gzip" else None)
            elif self.f[key].shape[1:] != (h, w, 3):
                raise BadInputError(f"{self.path}: {key} has images of {self.f[key].shape[1:3]}, not {self.shape}")
        if names_key(split) not in self.f:
            # Fixed-length bytes, not variable-length strings: those live in a global heap that a killed
            # writer can leave inconsistent ("bad heap index" on resume). Padding compresses away.
            self.f.create_dataset(names_key(split), shape=(0,), maxshape=(None,), dtype=f"S{NAME_BYTES}",
                                  chunks=(256,), compression="gzip")
        stored = min(self.f[k].shape[0] for k in (full_key(split), blur_key(split), names_key(split)))
        self.count[split] = min(stored, int(self.f.attrs.get(f"{split}_count", stored)))
        self.capacity[split] = stored

    def n(self, split):
        return self.count[split]

    def names(self, split):
        self._flush_names()
        return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in self.f[names_key(split)][: self.n(split)]]

    def reserve(self, split, n):
        """Make room for `n` more pairs without resizing per image."""
        for key in (full_key(split), blur_key(split), names_key(split)):
            if self.f[key].shape[0] < self.count[split] + n:
                self.f[key].resize(self.count[split] + n, axis=0)
        self.capacity[split] = min(self.f[k].shape[0] for k in (full_key(split), blur_key(split), names_key(split)))

    def append(self, split, sharp, blurred, name):
        i = self.count[split]
        if self.capacity[split] <= i:
            self.reserve(split, max(64, i // 4))  # grow geometrically when the caller did not reserve
        for key, img in ((full_key(split), sharp), (blur_key(split), blurred)):
            if key not in self.ds:
                self.ds[key] = self.f[key]  # h5py's group lookup costs more than a chunk write
            self._write_row(self.ds[key], i, img)
        self.pending.setdefault(split, []).append(name.encode("utf-8")[:NAME_BYTES])  # longer: truncated
        self.count[split] = i + 1

    def _write_row(self, ds, i, img):
        """One image = one chunk: write it straight to the file, past h5py's per-call and chunk-cache overhead.

        Uncompressed and gzip chunks are encoded here (gzip = a zlib stream, what HDF5's deflate filter reads);
        lzf goes through the filter pipeline."""
        img = np.ascontiguousarray(img, dtype=np.uint8)
        if img.shape != (*self.shape, 3):  # (h5py's Dataset.shape costs a library call each time)
            raise ValueError(f"{self.path}: image {img.shape} does not fit {ds.name} {ds.shape[1:]}")
        if self.compression is None:
            ds.id.write_direct_chunk((i, 0, 0, 0), img)  # the array's own buffer: no copy
        elif self.compression == "gzip":
            ds.id.write_direct_chunk((i, 0, 0, 0), zlib.compress(img.tobytes(), GZIP_LEVEL))
        else:
            ds[i] = img

    def _flush_names(self):
        for split, names in self.pending.items():
            if names:
                n = self.count[split]
                self.f[names_key(split)][n - len(names): n] = np.array(names, dtype=f"S{NAME_BYTES}")
        self.pending = {}

    def commit(self, **attrs):
        """Record counts (and `attrs`) and flush: a killed process leaves the file as of here."""
        self._flush_names()
        for split in SPLITS:
            self.f.attrs[f"{split}_count"] = self.count[split]
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.f.flush()

    def set_attrs(self, **attrs):
        for k, v in attrs.items():
            self.f.attrs[k] = v

    def close(self):
        """Commit, trim the datasets to the pairs written, close."""
        if not self.f.id.valid:
            return
        if self.f.mode != "r":
            for split in SPLITS:
                for key in (full_key(split), blur_key(split), names_key(split)):
                    if self.f[key].shape[0] != self.count[split]:
                        self.f[key].resize(self.count[split], axis=0)
            self.commit()
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
