"""One image, uint8 in: the test-time conventions of the originals (deblurkeras.inference's docstring) ->
[0, 1] floats (`predict_01`) or uint8 (`deblur_array`), and `run_image`, which chooses whole or tiled within a
memory budget. Every path that runs a model on an image (deblur, upscale, eval, video, the web page) goes here."""
import os

import numpy as np

from .. import memory
from ..errors import BadInputError, DeblurKerasError, first_line
from ..imageio import to_uint8
from .forward import normalize, run_padded
from .tiles import OVERLAP, _run_tiled


def predict_01(model, io, img_uint8, transpose=None, tile=0, overlap=OVERLAP, pad_to=None, progress=None):
    """uint8 RGB (H, W, 3) -> float32 (H*s, W*s, 3) in [0, 1] units, not clipped (deblurkeras.inference's docstring).

    `transpose` None: the model's convention (`io.transpose`); `tile` 0: whole image, N: tiles of N px;
    `progress`: a description (or True) to show a bar over the tiles.
    """
    img = np.asarray(img_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {img.dtype} {img.shape}")
    if tile and pad_to is not None:
        raise DeblurKerasError("--tile and --pad-to cannot be combined")
    transpose = io.transpose if transpose is None else transpose
    rot = transpose and img.shape[0] > img.shape[1]
    if rot:
        img = img.transpose(1, 0, 2)
    # the original fed uint8 / 255.0 (float64) into a float32 placeholder: same float32 values as this
    x = np.divide(img, np.float32(255.0), dtype=np.float32)
    x = normalize(x, io)
    y = _run_tiled(model, io, x, tile, overlap, progress) if tile else run_padded(model, io, x, pad_to)
    del x
    if io.out_offset:
        y -= np.float32(io.out_offset)
    if io.out_scale != 1:
        y /= np.float32(io.out_scale)
    return np.ascontiguousarray(y.transpose(1, 0, 2) if rot else y)


def deblur_array(model, io, img_uint8, transpose=None, round=False, tile=0, overlap=OVERLAP, pad_to=None,  # noqa: A002
                 progress=None):
    """uint8 RGB (H, W, 3) -> deblurred uint8 RGB (H*s, W*s, 3). `io` is `registry.model_io(name)`."""
    return to_uint8(predict_01(model, io, img_uint8, transpose, tile, overlap, pad_to, progress), round=round)


def run_image(model, name, io, img, label, budget, tile=None, overlap=OVERLAP, transpose=None,
              round=False, pad_to=None, note=None, as_01=False):  # noqa: A002 - mirrors --round
    """One image through `deblur_array` (`predict_01` with `as_01`) within `budget` bytes: whole, or in tiles (with a
    one-line `note` saying why and a progress bar over the tiles). Errors are BadInputError naming `label`."""
    import tensorflow as tf

    h, w = img.shape[:2]
    if pad_to is not None and tile is None:
        tile = 0
    try:
        p = memory.plan(name, io, h, w, budget, tile)
    except BadInputError as e:
        raise type(e)(f"{label}: {e}") from None
    if p.tile and tile is None and note is not None:
        note(f"{label}: {p.describe(h, w)}, overlap {overlap}")
    if p.tile and note is not None and io.tiling_caveat:
        note(f"{label}: {io.tiling_caveat}")
    try:
        progress = os.path.basename(label) if p.tile else None
        if as_01:
            return predict_01(model, io, img, transpose, p.tile, overlap, pad_to, progress)
        return deblur_array(model, io, img, transpose, round, p.tile, overlap, pad_to, progress=progress)
    except tf.errors.ResourceExhaustedError:
        raise BadInputError(f"{label}: out of memory at {h}x{w} (HxW); try a smaller --max-memory or --tile") from None
    except tf.errors.InvalidArgumentError as e:  # a size the model cannot take: this image fails, not the run
        raise BadInputError(f"{label}: the model cannot run on {h}x{w} (HxW) ({first_line(e.message)})") from None
