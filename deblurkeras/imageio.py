"""The one image I/O module: extensions, decoding to 8-bit RGB, pairing of sharp/blurred files, saving.

Used by inference, eval, the HDF5 builder, the SR data, blur synthesis and the demo, so every tool sees the same
pixels. `decode`/`load_image` give 8-bit RGB or raise `ImageReadError` (a one-line BadInputError naming the file,
with a short `reason` the builder counts: empty file, unreadable, not an image, truncated, decompression bomb).

Conversions (one rule each, everywhere):
  - gray / bilevel (L, 1, LA) -> the gray value copied to R, G and B;
  - palette (P, PA) -> its RGB colours;
  - RGBA / RGBX / LA / PA -> alpha dropped (colour values kept as stored: compositing over a background would
    change the pixels a model must restore);
  - 16-bit (I;16*, and 32-bit I taken as the 16-bit range) -> round(v / 257), always: 0..65535 maps onto 0..255
    (the PNG rule for reducing sample depth). No data-dependent scaling: a dark 16-bit image stays dark.
    16-bit colour PNGs are reduced to 8 bits by Pillow's decoder itself;
  - float (F) -> taken as 0..255, rounded and clipped;
  - CMYK / YCbCr / LAB / HSV -> Pillow's conversion to RGB.
Limits: `max_pixels` (default DEFAULT_MAX_PIXELS, Pillow's bomb threshold) is checked on the size the header declares
(`declared_size`), before decoding; Pillow's own DecompressionBombWarning never reaches the user. A file of several
frames (animated GIF, multi-page TIFF) gives its first frame, and `note` says so. A float image holding NaN/Inf is
refused (it has no 8-bit value).
EXIF orientation: `apply_exif=True` (the default of `load_image`: deblur, upscale, eval) shows the picture the
right way up. The dataset builders read pixels as stored, like the original scripts (scipy.misc.imread /
PIL.Image.open ignore EXIF); `build-hdf5 --exif` turns it on there.

`save_image` writes atomically (a unique hidden temporary in the same folder, then rename: deblurkeras.utils);
JPEG at quality 95 with 4:4:4 chroma (no subsampling), so a deblurring tool does not blur its own output.
`to_uint8` clips to [0, 1], multiplies by 255 and truncates, exactly like the original `im2uint8`.
"""
import contextlib
import os
import sys
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import BadInputError, first_line, show
from .utils import atomic_path

# Every tool lists folders with this one tuple (lower-case; matched case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pnm")
# formats a copy may keep without losing anything more (lossless, or JPEG already); WebP and GIF may be lossy or
# palette-limited, so a tool that rewrites images writes those as PNG instead
KEPT_EXTENSIONS = tuple(e for e in IMAGE_EXTENSIONS if e not in (".webp", ".gif"))
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (Image.MAX_IMAGE_PIXELS)
JPEG_QUALITY = 95

# PIL mode -> the conversion name reported (and counted by the builder); RGB needs none.
CONVERSIONS = {"L": "grayscale", "LA": "grayscale", "La": "grayscale", "1": "grayscale", "P": "palette",
               "PA": "palette", "CMYK": "cmyk", "RGBA": "rgba", "RGBa": "rgba", "RGBX": "rgba", "YCbCr": "ycbcr",
               "LAB": "lab", "HSV": "hsv", "I;16": "16-bit", "I;16L": "16-bit", "I;16B": "16-bit",
               "I;16N": "16-bit", "I": "16-bit", "F": "float"}


class ImageReadError(BadInputError):
    """A file that cannot be read as an image; `reason` is a short category, the message names the file."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


# ----------------------------------------------------------------------------------------------- listing
def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def image_names(folder):
    """Sorted image file names (by extension, hidden files excluded, not recursive) of a folder."""
    return sorted(n for n in os.listdir(folder) if is_image_name(n))


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
            paths.extend(os.path.join(item, n) for n in image_names(item) if os.path.isfile(os.path.join(item, n)))
        else:
            paths.append(item)
    return paths


def pair_files(blur_dir, sharp_dir, prefix=""):
    """Pair two folders by file name -> (pairs, unpaired).

    pairs: sorted [(prefix + name, sharp_path, blurred_path)]; unpaired: [(path, missing_partner_path)] of the
    files present on one side only (a missing folder counts as empty)."""
    blur = set(image_names(blur_dir)) if os.path.isdir(blur_dir) else set()
    sharp = set(image_names(sharp_dir)) if os.path.isdir(sharp_dir) else set()
    pairs = [(prefix + n, os.path.join(sharp_dir, n), os.path.join(blur_dir, n)) for n in sorted(blur & sharp)]
    unpaired = [(os.path.join(blur_dir, n), os.path.join(sharp_dir, n)) for n in sorted(blur - sharp)]
    unpaired += [(os.path.join(sharp_dir, n), os.path.join(blur_dir, n)) for n in sorted(sharp - blur)]
    return pairs, unpaired


def unpaired_message(path, partner):
    return f"{path}: unpaired (no {partner})"


# ----------------------------------------------------------------------------------------------- reading
def to_rgb(img):
    """PIL image of any mode -> (8-bit RGB PIL image, conversion name or None). An RGB image is returned as is."""
    mode = img.mode
    if mode == "RGB":
        return img, None
    if mode not in CONVERSIONS:
        raise ValueError(f"unsupported pixel mode {mode}")
    kind = CONVERSIONS[mode]
    if kind in ("16-bit", "float"):
        a = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(a)):  # a float TIFF: NaN/Inf have no 8-bit value (the cast would be garbage)
            raise ValueError(f"float image holds {int(np.count_nonzero(~np.isfinite(a)))} NaN/Inf pixel values")
        a = a / 257.0 if kind == "16-bit" else a
        gray = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
        return gray.convert("RGB"), kind
    if mode in ("P", "PA", "La", "RGBa"):
        img = img.convert("RGBA")  # transparent palettes and premultiplied modes go through RGBA
    return img.convert("RGB"), kind


@contextlib.contextmanager
def _bomb_limits():
    """Pillow's own decompression-bomb check off (our `max_pixels` cap, checked on the declared size, decides, with
    our message), and any DecompressionBombWarning an error rather than a raw warning."""
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(path, max_pixels):
    """Image.open with bomb checks -> PIL image (not yet decoded: only the header is read)."""
    with _bomb_limits():
        img = Image.open(path)
    w, h = img.size
    if max_pixels and w * h > max_pixels:
        img.close()
        raise ImageReadError("decompression bomb", f"{show(path)}: decompression-bomb sized image "
                                                   f"({h}x{w} (HxW) > {max_pixels} pixels; --max-pixels to allow)")
    return img


def _open_checked(path, max_pixels):
    """_open with every failure as an ImageReadError naming the file."""
    try:
        if os.path.isdir(path):
            raise ImageReadError("not an image", f"{show(path)}: is a directory, not an image")
        if os.path.getsize(path) == 0:
            raise ImageReadError("empty file", f"{show(path)}: empty file (0 bytes)")
        return _open(path, max_pixels)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError("unreadable", f"{show(path)}: no such file") from None
    except PermissionError:
        raise ImageReadError("unreadable", f"{show(path)}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image", f"{show(path)}: not an image (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError("decompression bomb", f"{show(path)}: decompression-bomb sized image "
                                                   f"({first_line(e)}; --max-pixels to allow)") from None
    except OSError as e:
        if e.errno is not None:  # the system could not read the file
            raise ImageReadError("unreadable", f"{show(path)}: unreadable ({first_line(e)})") from None
        raise ImageReadError("truncated", f"{show(path)}: truncated or corrupt image data ({first_line(e)})") \
            from None
    except (ValueError, SyntaxError) as e:  # corrupt headers, as some decoders report them
        raise ImageReadError("truncated", f"{show(path)}: truncated or corrupt image data ({first_line(e)})") \
            from None


def declared_size(path, max_pixels=DEFAULT_MAX_PIXELS):
    """(width, height) the file's header declares, read without decoding the pixels (so a 140 kB PNG declaring
    12000x12000 can be refused before it takes gigabytes); ImageReadError as `decode`."""
    with _open_checked(os.fspath(path), max_pixels) as img:
        return img.size


def decode(path, apply_exif=False, max_pixels=DEFAULT_MAX_PIXELS, note=None):
    """Decode `path` -> (8-bit RGB PIL image, conversion name or None); ImageReadError naming the file.

    `max_pixels` None or 0: no pixel cap. A file of several frames (animated GIF, multi-page TIFF) gives its first;
    `note(message)` is told so."""
    path = os.fspath(path)
    img = _open_checked(path, max_pixels)
    with img:
        frames = getattr(img, "n_frames", 1)
        if frames > 1 and note is not None:
            note(f"{show(path)}: {frames} frames; only the first is used")
        try:
            with _bomb_limits():
                img.load()  # decode now: truncated files fail here, not later
        except Exception as e:  # noqa: BLE001 - decoders raise all kinds (OSError, ValueError, SyntaxError...)
            raise ImageReadError("truncated", f"{show(path)}: truncated or corrupt image data ({first_line(e)})") \
                from None
        if apply_exif:
            from PIL import ImageOps

            img = ImageOps.exif_transpose(img)
        try:
            rgb, conversion = to_rgb(img)
        except ValueError as e:
            raise ImageReadError("not an image", f"{show(path)}: {first_line(e)}") from None
    if rgb.size[0] == 0 or rgb.size[1] == 0:
        raise ImageReadError("not an image", f"{show(path)}: empty image ({rgb.size[0]}x{rgb.size[1]})")
    return rgb, conversion


def _stderr_note(message):
    print(f"deblurkeras: {message}", file=sys.stderr)


def load_image(path, apply_exif=True, max_pixels=DEFAULT_MAX_PIXELS, note=_stderr_note):
    """Read an image file as uint8 RGB (H, W, 3); ImageReadError (a BadInputError) naming the file.
    Pixel cap and frames: see `decode` (`note` is told when only the first of several frames is used)."""
    rgb, _ = decode(path, apply_exif=apply_exif, max_pixels=max_pixels, note=note)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


# ----------------------------------------------------------------------------------------------- writing
def save_image(path, image, quality=JPEG_QUALITY):
    """Write a uint8 (H, W, 3) or (H, W) array; the format follows the extension. Atomic.

    JPEG: `quality` (default 95) with 4:4:4 chroma, i.e. no subsampling (Pillow's default is 75 with 4:2:0)."""
    path = os.fspath(path)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise ValueError(f"save_image expects uint8 (H, W[, 1|3]), got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ext = os.path.splitext(path)[1].lower()
    if ext not in Image.registered_extensions():
        raise BadInputError(f"{path}: unknown image extension {ext!r}")
    fmt = Image.registered_extensions()[ext]
    options = {"quality": int(quality), "subsampling": 0} if fmt == "JPEG" else {}
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format=fmt, **options)
    except (OSError, ValueError) as e:
        raise BadInputError(f"{path}: cannot write ({first_line(e)})") from None


def to_uint8(x01, round=False):  # noqa: A002 - mirrors the CLI flag --round
    """[0, 1] float -> uint8: clip, *255, truncate (the original's im2uint8); `round=True` rounds instead."""
    x = np.clip(np.asarray(x01), 0.0, 1.0) * 255.0
    if round:
        x = np.round(x)
    return x.astype(np.uint8)
