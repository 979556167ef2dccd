"""`deblurkeras deblur`: run a registered model on image files, any size, with the original test-time conventions.

Per image (defaults follow the official SRN test script):
  1. read as uint8 RGB (`deblurkeras.imageio.load_image`: gray / RGBA / 16-bit / palette handled), /255.0;
  2. portrait images (h > w) are transposed, run, and transposed back. The official script did this so every
     image fits its fixed landscape placeholder (720x1280). A fully convolutional model needs no such thing, and
     it buys nothing else; it does change the numbers a little (the kernels are not transpose-symmetric), so it
     stays the default to match the original outputs. `--no-transpose` runs portrait images as they are;
  3. the registry's value range is applied (`model_io(name)`), H and W are edge-padded bottom/right to the model's
     `multiple` (16 for SRN) and the output is cropped back. The original padded to its placeholder size instead;
     `--pad-to 720x1280` reproduces that exactly (the padded area reaches the border pixels through the
     receptive field and the multi-scale resizing, so it matters at the bottom/right edges);
  4. models with one channel (SRN gray / lstm) run an RGB image channel by channel, the 3 channels as a batch of 3;
  5. the output (`output_index`, the finest SRN scale) is clipped to [0, 1], *255 and truncated to uint8 like the
     original `im2uint8`; `--round` rounds instead.
Deviation from the official script, by design: images larger than 720x1280 are NOT bicubically shrunk and
enlarged back; they run at full resolution. `--tile N --overlap M` bounds memory for large images: tiles of N
pixels (rounded down to the model's multiple) overlapping by M, blended with linear ramps. An image that fits in
one tile takes exactly the untiled path (identical output).

Files that cannot be read or written get a one-line error naming them; the others are still processed; the exit
status is non-zero at the end if any failed. Outputs are written atomically (no partial files).
"""
import math
import os
import re
import sys
import weakref

import numpy as np

from . import precision
from .errors import BadInputError, DeblurKerasError, WeightsMismatchError, first_line
from .imageio import list_images, load_image, save_image, to_uint8


# ------------------------------------------------------------------------------------------------ loading
def load_model(name, weights):
    """(The registered model `name` with the weights of `weights`): a `.weights.h5`, a `.keras` file (safe_mode) or
    an original checkpoint its family's importer reads. The file must hold that model: our files say which model they
    hold, every other tensor layout is compared tensor by tensor. `name` None: the model the file says."""
    from . import families
    from .weights import load

    model, name = load(weights, name)
    channels = model.inputs[0].shape[-1]
    if channels is not None and channels != families.model_io(name).channels:
        raise WeightsMismatchError(weights, mismatched=[("input channels", channels, families.model_io(name).channels)])
    return model


# ------------------------------------------------------------------------------------------------ one array
_FORWARD = weakref.WeakKeyDictionary()


def _forward_fn(model, io):
    """The model's image output as one tf.function over any batch / size (traced once per model).

    Graph mode frees each activation after its last use; an eager Keras call keeps far more alive (measured on a
    368x640 SRN colour run: +125 MB peak RSS in graph mode vs +710 MB eager).
    """
    import tensorflow as tf
    key = (io.output_index,)
    fns = _FORWARD.setdefault(model, {})
    if key not in fns:
        spec = tf.TensorSpec((None, None, None, model.inputs[0].shape[-1]), tf.float32)

        def forward(x):
            y = model(x, training=False)
            y = y[io.output_index] if isinstance(y, (list, tuple)) else y
            return tf.cast(y, tf.float32)  # bfloat16 models: float32 before clipping / rounding (no-op in float32)
        fns[key] = tf.function(forward, input_signature=[spec])
    return fns[key]


def _normalize(x01, io):
    scale = np.asarray(io.in_scale, dtype=np.float32)
    offset = np.asarray(io.in_offset, dtype=np.float32)
    return (x01 * scale + offset).astype(np.float32)


def _run_padded(model, io, x, pad_to=None):
    """Normalized (H, W, 3) -> model output for it as (H*s, W*s, 3) in the model's value range."""
    h, w, _ = x.shape
    if pad_to is not None:
        ph, pw = pad_to
        if h > ph or w > pw:
            raise BadInputError(f"image {h}x{w} does not fit --pad-to {ph}x{pw}")
    else:
        mh, mw = io.multiples  # DMPHN 1-2-4-8: (16, 8)
        ph, pw = math.ceil(h / mh) * mh, math.ceil(w / mw) * mw
    x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    batch = x.transpose(2, 0, 1)[..., None] if io.channels == 1 else x[None]  # gray: channels -> batch
    y = _forward_fn(model, io)(batch).numpy()
    y = y[..., 0].transpose(1, 2, 0) if io.channels == 1 else y[0]
    s = io.scale
    return y[: h * s, : w * s]


def _starts(length, tile, overlap):
    """Tile origins along one axis: stride tile-overlap, the last tile flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    return sorted(set(starts))


def _ramp(n, start, length, total, overlap):
    """Blend weights of a tile along one axis: linear ramps over `overlap` on sides shared with another tile."""
    w = np.ones(n, np.float32)
    r = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
    if overlap:
        if start > 0:
            w[:overlap] = np.minimum(w[:overlap], r)
        if start + length < total:
            w[n - overlap:] = np.minimum(w[n - overlap:], r[::-1])
    return w


def _run_tiled(model, io, x, tile, overlap):
    h, w, _ = x.shape
    m = math.lcm(*io.multiples)
    tile = max(m, tile // m * m)
    if overlap < 0 or overlap >= tile:
        raise DeblurKerasError(f"--overlap must be in [0, tile) (tile {tile} after rounding to a multiple of {m})")
    if h <= tile and w <= tile:
        return _run_padded(model, io, x)  # exactly the untiled computation
    s = io.scale
    acc = np.zeros((h * s, w * s, 3), np.float32)
    norm = np.zeros((h * s, w * s, 1), np.float32)
    for y0 in _starts(h, tile, overlap):
        for x0 in _starts(w, tile, overlap):
            th, tw = min(tile, h - y0), min(tile, w - x0)
            out = _run_padded(model, io, x[y0:y0 + th, x0:x0 + tw])
            wy = _ramp(th * s, y0, th, h, overlap * s)
            wx = _ramp(tw * s, x0, tw, w, overlap * s)
            weight = (wy[:, None] * wx[None, :])[..., None]
            acc[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += out * weight
            norm[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += weight
    return (acc / norm).astype(np.float32)


def predict_01(model, io, img_uint8, transpose=True, tile=0, overlap=32, pad_to=None):
    """uint8 RGB (H, W, 3) -> float32 (H*s, W*s, 3) in [0, 1] units, not clipped (see the module docstring)."""
    img = np.asarray(img_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {img.dtype} {img.shape}")
    if tile and pad_to is not None:
        raise DeblurKerasError("--tile and --pad-to cannot be combined")
    x01 = (img / 255.0).astype(np.float32)  # the original fed uint8 / 255.0 (float64) into a float32 placeholder
    rot = transpose and img.shape[0] > img.shape[1]
    if rot:
        x01 = x01.transpose(1, 0, 2)
    x = _normalize(x01, io)
    y = _run_tiled(model, io, x, tile, overlap) if tile else _run_padded(model, io, x, pad_to)
    y = (y - io.out_offset) / io.out_scale
    return np.ascontiguousarray(y.transpose(1, 0, 2) if rot else y)


def deblur_array(model, io, img_uint8, transpose=True, round=False, tile=0, overlap=32, pad_to=None):  # noqa: A002
    """uint8 RGB (H, W, 3) -> deblurred uint8 RGB (H*s, W*s, 3). `io` is `registry.model_io(name)`."""
    return to_uint8(predict_01(model, io, img_uint8, transpose, tile, overlap, pad_to), round=round)


# ------------------------------------------------------------------------------------------------ CLI verb
def _size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2))


def add_arguments(parser):
    from .families import model_names
    parser.add_argument("inputs", nargs="+", metavar="IMAGE|DIR", help="image files and/or folders of images")
    names = [n for n in model_names() if not n.endswith("-d")]  # discriminators produce no image
    parser.add_argument("--model", default=None, choices=names,
                        help="registered model (default: the one the weights file names; needed for plain files)")
    parser.add_argument("--weights", required=True,
                        help=".weights.h5, .keras (loaded with safe_mode) or an original TF1 checkpoint prefix (SRN)")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--ext", default=None, help="output format by extension, e.g. png (default: the input's)")
    parser.add_argument("--round", action="store_true",
                        help="round to uint8 instead of truncating (the original truncates)")
    parser.add_argument("--no-transpose", dest="transpose", action="store_false",
                        help="run portrait images as they are (the original transposes them)")
    parser.add_argument("--tile", type=int, default=0, help="tile size in pixels to bound memory (0: whole image)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels, blended (default 32)")
    parser.add_argument("--pad-to", type=_size, default=None, metavar="HxW",
                        help="pad to this size instead of the next multiple (720x1280 = the official script)")
    precision.add_argument(parser)


def _announce(line):
    print(f"deblurkeras: {line}", file=sys.stderr)


def _output_path(out_dir, src, ext):
    base = os.path.basename(src)
    if ext:
        base = os.path.splitext(base)[0] + "." + ext.lstrip(".")
    return os.path.join(out_dir, base)


def run(args):
    import tensorflow as tf
    from PIL import Image
    from tqdm import tqdm
    from .families import model_io

    paths = list_images(args.inputs)
    if not paths:
        raise BadInputError(f"{', '.join(args.inputs)}: no images found")
    if args.ext and "." + args.ext.lstrip(".").lower() not in Image.registered_extensions():
        raise BadInputError(f"--ext {args.ext}: unknown image format")
    from .families import model_identity
    model = precision.build(lambda: load_model(args.model, args.weights), args.precision, _announce)
    name = args.model or model_identity(model)["model"]
    io = model_io(name)
    if not io.image:
        raise BadInputError(f"{args.weights}: holds {name}, which does not produce images")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise BadInputError(f"{args.out}: cannot create output folder ({first_line(e)})") from None
    failed, written = [], {}
    for src in tqdm(paths, unit="img", desc="deblur", file=sys.stderr):
        dst = _output_path(args.out, src, args.ext)
        try:
            if dst in written:
                raise BadInputError(f"{src}: output {dst} already written for {written[dst]} (same file name)")
            if os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst):
                raise BadInputError(f"{src}: output would overwrite the input; choose another --out")
            img = load_image(src)
            try:
                result = deblur_array(model, io, img, args.transpose, args.round, args.tile, args.overlap, args.pad_to)
            except tf.errors.ResourceExhaustedError:
                raise BadInputError(f"{src}: out of memory at {img.shape[1]}x{img.shape[0]}; try --tile 512") from None
            save_image(dst, result)
            written[dst] = src
        except DeblurKerasError as e:
            msg = str(e) if src in str(e) or dst in str(e) else f"{src}: {e}"
            tqdm.write(f"deblurkeras deblur: error: {msg}", file=sys.stderr)
            failed.append(src)
    print(f"{len(paths) - len(failed)} of {len(paths)} images deblurred -> {args.out}"
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
