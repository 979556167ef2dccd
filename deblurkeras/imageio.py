"""Robust image reading and writing shared by inference and evaluation.

`load_image` always returns uint8 RGB (H, W, 3) or raises a one-line `BadInputError` naming the file
(missing, zero-byte, truncated, not an image, unreadable). Conversions, chosen so a deblurring model sees the
picture a person sees:
  - gray / bilevel -> the gray value copied to R, G and B;
  - palette -> its RGB colours;
  - RGBA / LA / PA -> alpha dropped (the colour values are kept as stored; compositing over a background
    would change the pixels the model must restore);
  - 16-bit (I;16*, I) -> round(v / 257), i.e. 0..65535 onto 0..255; float (F) images are taken as 0..255;
  - CMYK / YCbCr / LAB -> PIL's conversion to RGB;
  - EXIF orientation is applied (`apply_exif=True`), so outputs saved without EXIF show the right way up.
    The original script (scipy.misc.imread) ignored it; pass `apply_exif=False` for that.
`save_image` writes atomically (temporary name, then rename): no half-written files.
`to_uint8` clips to [0, 1], multiplies by 255 and truncates, exactly like the original `im2uint8`.
"""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadInputError, first_line
from .utils import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pnm")


def _to_rgb_array(img):
    """PIL image of any mode -> uint8 (H, W, 3)."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if mode == "F":
        a = np.clip(np.round(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # PIL warns when converting transparent palettes straight to RGB
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, 1, LA, RGBA (alpha dropped), P, CMYK, YCbCr, LAB
    return np.asarray(img, dtype=np.uint8)


def load_image(path, apply_exif=True):
    """Read an image file as uint8 RGB (H, W, 3); BadInputError naming the file if it cannot be read."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise BadInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise BadInputError(f"{path}: is a directory, not an image")
    try:
        if os.path.getsize(path) == 0:
            raise BadInputError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as img:
            img.load()  # decode now: truncated files fail here, not later
            if apply_exif:
                img = ImageOps.exif_transpose(img)
            arr = _to_rgb_array(img)
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image (unrecognised format)") from None
    except Image.DecompressionBombError as e:
        raise BadInputError(f"{path}: image too large ({first_line(e)})") from None
    except PermissionError:
        raise BadInputError(f"{path}: permission denied") from None
    except (OSError, ValueError, SyntaxError) as e:  # PIL reports truncated/corrupt data as OSError
        raise BadInputError(f"{path}: unreadable or corrupt image ({first_line(e)})") from None
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BadInputError(f"{path}: unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr)


def save_image(path, image):
    """Write a uint8 (H, W, 3) or (H, W) array; the format follows the extension. Atomic."""
    path = os.fspath(path)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise ValueError(f"save_image expects uint8 (H, W[, 1|3]), got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ext = os.path.splitext(path)[1].lower()
    if ext not in Image.registered_extensions():
        raise BadInputError(f"{path}: unknown image extension {ext!r}")
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format=Image.registered_extensions()[ext])
    except (OSError, ValueError) as e:
        raise BadInputError(f"{path}: cannot write ({first_line(e)})") from None


def to_uint8(x01, round=False):  # noqa: A002 - mirrors the CLI flag --round
    """[0, 1] float -> uint8: clip, *255, truncate (the original's im2uint8); `round=True` rounds instead."""
    x = np.clip(np.asarray(x01), 0.0, 1.0) * 255.0
    if round:
        x = np.round(x)
    return x.astype(np.uint8)


def list_images(inputs):
    """Expand files and directories into a list of image paths.

    Directories contribute their image files (by extension, sorted, not recursive); files named explicitly are
    kept whatever their extension, so a bad file is reported rather than skipped. Missing paths are kept too
    (they fail on reading, with their name).
    """
    paths = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if n.lower().endswith(IMAGE_EXTENSIONS))
            paths.extend(os.path.join(item, n) for n in names if os.path.isfile(os.path.join(item, n)))
        else:
            paths.append(item)
    return paths
