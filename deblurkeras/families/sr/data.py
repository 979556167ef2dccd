"""LR/HR pairs for SRResNet / SRGAN, following the tutorial's recipe (sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution,
datasets.py `SRDataset` and utils.py `ImageTransforms`).

Training: a random `crop` x `crop` HR patch (96 by default) of a random image; LR = PIL bicubic downscale by
`scale` of that uint8 patch (the tutorial's `hr_img.resize(..., Image.BICUBIC)`). Evaluation: the largest centred
crop whose sides are multiples of `scale`, LR made the same way.
Sources: an HDF5 file from `build-hdf5` (its sharp images, `{split}_data_full`), a folder of photos (recursive;
extensions and conversions of deblurkeras.imageio, EXIF ignored like the tutorial), or the word "skimage" (photos
bundled with scikit-image, offline).

Batches are a pure function of (seed, batch index), so a resumed run continues the same stream. Values are [0, 1]
floats. `layout="repeat"` (the default for training runs) hands the LR image over repeated `scale` times
(nearest) so it lines up with HR in batches and preview grids; the trainers take every `scale`-th pixel, which
gives back the LR image exactly. `layout="lr"` yields the LR image itself.
"""
import os

import numpy as np

from ...errors import BadInputError

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
LAYOUTS = ("repeat", "lr")


def bicubic_down(hr, scale):
    """uint8 (H, W, 3) -> uint8 (H//scale, W//scale, 3) with PIL's bicubic filter (the tutorial's LR)."""
    from PIL import Image

    h, w = hr.shape[:2]
    return np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))


def bicubic_up(lr, scale):
    """uint8 LR -> uint8 upscaled with PIL bicubic (the baseline SR is compared against)."""
    from PIL import Image

    h, w = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.BICUBIC))


def center_crop_multiple(img, scale):
    """The tutorial's test crop: the largest centred crop whose sides are multiples of `scale`."""
    h, w = img.shape[:2]
    top, left = (h % scale) // 2, (w % scale) // 2
    return img[top: top + h - h % scale, left: left + w - w % scale]


def _read_image(path):
    from ...imageio import load_image

    return load_image(path, apply_exif=False)  # pixels as stored, like the tutorial's PIL.Image.open


class ImageSource:
    """Indexable uint8 RGB images from an HDF5 file's sharp images, a folder, or the bundled skimage photos."""

    def __init__(self, source, split="train", min_size=0):
        self.source, self.split = os.fspath(source), split
        self._h5 = None
        if self.source == "skimage":
            import skimage.data

            imgs = [getattr(skimage.data, n)() for n in SKIMAGE_PHOTOS]
            self._images = [np.ascontiguousarray(i[..., :3]) for i in imgs if i.ndim == 3]
            self.names = [n for n, i in zip(SKIMAGE_PHOTOS, imgs) if i.ndim == 3]
        elif os.path.isdir(self.source):
            from ...imageio import is_image_name

            paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(self.source) for f in fs if is_image_name(f))
            self._images = [_read_image(p) for p in paths]
            self.names = [os.path.relpath(p, self.source) for p in paths]
        elif os.path.isfile(self.source):
            from ...data.hdf5 import check_split, full_key, open_hdf5, split_names

            with open_hdf5(self.source) as f:
                check_split(f, split, self.source)
                self.names = split_names(f, split)
                shape = f[full_key(split)].shape
            self._images = None
            self._shape = shape
        else:
            raise BadInputError(f"{self.source}: not an HDF5 file, an image folder or 'skimage'")
        keep = [i for i in range(len(self.names)) if min(self._size(i)) >= min_size]
        if not keep:
            raise BadInputError(f"{self.source}: no image of at least {min_size}x{min_size} pixels")
        self.index = keep

    def _size(self, i):
        return self._shape[1:3] if self._images is None else self._images[i].shape[:2]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        i = self.index[k]
        if self._images is not None:
            return self._images[i]
        if self._h5 is None:
            from ...data.hdf5 import full_key, open_hdf5

            self._h5 = open_hdf5(self.source)[full_key(self.split)]  # checked: holds its own data
        return np.asarray(self._h5[i])

    def name(self, k):
        return self.names[self.index[k]]


def random_batch(source, batch_index, batch_size=16, crop=96, scale=4, seed=0, layout="repeat"):
    """(lr, hr) float32 [0, 1] for batch number `batch_index` (deterministic in seed and batch_index)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown LR layout {layout!r}; expected one of {LAYOUTS}")
    rng = np.random.default_rng([int(seed), int(batch_index)])
    lrs, hrs = [], []
    for _ in range(batch_size):
        img = source[int(rng.integers(len(source)))]
        top = int(rng.integers(img.shape[0] - crop + 1))
        left = int(rng.integers(img.shape[1] - crop + 1))
        hr = np.ascontiguousarray(img[top: top + crop, left: left + crop])
        lr = bicubic_down(hr, scale)
        if layout == "repeat":
            lr = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
        lrs.append(lr)
        hrs.append(hr)
    return np.stack(lrs).astype(np.float32) / 255.0, np.stack(hrs).astype(np.float32) / 255.0


def make_sr_dataset(source, batch_size=16, crop=96, scale=4, seed=0, start_step=0, repeat=True, n_batches=None,
                    layout="repeat", split="train"):
    """tf.data of (lr, hr) batches (see module docstring); `start_step` skips to that batch position."""
    import tensorflow as tf

    if crop % scale:
        raise BadInputError(f"HR crop {crop} is not a multiple of the scale {scale}")
    src = source if isinstance(source, ImageSource) else ImageSource(source, split, min_size=crop)
    lr_size = crop if layout == "repeat" else crop // scale

    def gen():
        step = int(start_step)
        while repeat or step < int(start_step) + int(n_batches or 1):
            yield random_batch(src, step, batch_size, crop, scale, seed, layout)
            step += 1

    sig = (tf.TensorSpec((batch_size, lr_size, lr_size, 3), tf.float32),
           tf.TensorSpec((batch_size, crop, crop, 3), tf.float32))
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    if not repeat:
        # A known length: Keras' graph-mode evaluate mis-averages metrics over an unknown-length stream that ends
        # (measured: exactly half the values with one batch).
        ds = ds.apply(tf.data.experimental.assert_cardinality(int(n_batches or 1)))
    return ds.prefetch(2)


def eval_pairs(source, scale=4, split="test"):
    """Iterate (lr_uint8, hr_uint8, name): HR = centred crop to multiples of `scale`, LR = bicubic / scale."""
    src = source if isinstance(source, ImageSource) else ImageSource(source, split)
    for k in range(len(src)):
        hr = center_crop_multiple(src[k], scale)
        yield bicubic_down(hr, scale), hr, src.name(k)
