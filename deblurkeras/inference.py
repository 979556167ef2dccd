"""`deblurkeras deblur`: run a registered model on image files, any size, with the original test-time conventions.

Per image (defaults follow the official SRN test script):
  1. read as uint8 RGB (`deblurkeras.imageio.load_image`: gray / RGBA / 16-bit / palette handled), /255.0;
  2. portrait images (h > w) are transposed, run, and transposed back when the model's ModelIO says so
     (`io.transpose`: SRN only, as its official script did to fit its fixed landscape placeholder; the kernels are
     not transpose-symmetric, so it changes the numbers a little). `--transpose` / `--no-transpose` override it;
  3. the registry's value range is applied (`model_io(name)`), H and W are edge-padded bottom/right to the model's
     `multiples` (16 for SRN; 16 x 8 for DMPHN 1-2-4-8) and the output is cropped back. The original padded to its
     placeholder size instead; `--pad-to 720x1280` reproduces that exactly;
  4. models with one channel (SRN gray / lstm) run an RGB image channel by channel, the 3 channels as a batch of 3;
  5. the output (`output_index`, the finest SRN scale) is clipped to [0, 1], *255 and truncated to uint8 like the
     original `im2uint8`; `--round` rounds instead.
Deviation from the official script, by design: images larger than 720x1280 are NOT bicubically shrunk and
enlarged back; they run at full resolution. Memory (deblurkeras.memory): each image's peak memory is estimated
from the model and its size; when it exceeds `--max-memory` (default half the available memory) or a tensor would
pass 2^31 elements, the image runs in tiles on its own (one line says so; a bar counts the tiles), overlapping by
`--overlap` (default OVERLAP; the seam error table is in deblurkeras/docs/inference.md) and blended with linear ramps. `--tile N`
forces tiles of N px, `--tile 0` never tiles. An image that fits one tile takes exactly the untiled path.

Files that cannot be read, written or fitted in memory get a one-line error naming them; the others are still
processed; the exit status is non-zero at the end if any failed. Two inputs that would write the same output
(x.png and x.jpg with `--ext png`) are both refused, by name, rather than one silently replacing the other.
Outputs are written atomically (a unique hidden temporary, renamed; deblurkeras.utils): no partial files, and
stale temporaries of a killed run are removed from --out on the next run.
"""
import math
import os
import re
import sys
import weakref

import numpy as np

from . import engines, memory, outputs, precision, video
from .errors import BadInputError, DeblurKerasError, WeightsMismatchError, first_line, one_line, show
from .imageio import DEFAULT_MAX_PIXELS, declared_size, list_images, load_image, save_image, to_uint8
from .utils import clean_stale_temps


# ------------------------------------------------------------------------------------------------ loading
def load_model(name, weights):
    """(The registered model `name` with the weights of `weights`): a `.weights.h5`, a `.keras` file (safe_mode) or
    an original checkpoint its family's importer reads. The file must hold that model: our files say which model they
    hold, every other tensor layout is compared tensor by tensor. `name` None: the model the file says."""
    from . import registry
    from .weights import load

    model, name = load(weights, name)
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w.numpy(), dtype=np.float32)))]
    if bad:  # every output would be NaN: a black image and exit 0 otherwise
        raise BadInputError(f"{show(weights)}: {len(bad)} of {len(model.weights)} weight tensors hold NaN/Inf "
                            f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); the file is unusable")
    channels = model.inputs[0].shape[-1]
    if channels is not None and channels != registry.model_io(name).channels:
        raise WeightsMismatchError(weights, mismatched=[("input channels", channels, registry.model_io(name).channels)])
    return model


# ------------------------------------------------------------------------------------------------ one array
_FORWARD = weakref.WeakKeyDictionary()
OVERLAP = 32  # default tile overlap (px); experiments/seam_error.py found no overlap <= 128 at 50 dB (random weights)


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
    """In place: the buffer of x01 becomes the model input (no second full-size float copy)."""
    x01 *= np.asarray(io.in_scale, dtype=np.float32)
    x01 += np.asarray(io.in_offset, dtype=np.float32)
    return x01


def _run_padded(model, io, x, pad_to=None):
    """Normalized (H, W, 3) -> model output for it as (H*s, W*s, 3) in the model's value range."""
    h, w, _ = x.shape
    if pad_to is not None:
        ph, pw = pad_to
        if h > ph or w > pw:
            raise BadInputError(f"image {h}x{w} does not fit --pad-to {ph}x{pw}")
    else:
        mh, mw = io.multiples
        ph, pw = math.ceil(h / mh) * mh, math.ceil(w / mw) * mw
    if (ph, pw) != (h, w):
        x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    batch = x.transpose(2, 0, 1)[..., None] if io.channels == 1 else x[None]  # gray: channels -> batch
    if hasattr(model, "predict_nhwc"):  # an ONNX engine (deblurkeras.engines)
        y = model.predict_nhwc(batch)
    else:
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


def tile_grid(h, w, tile, overlap):
    """[(y0, x0)] of the tiles covering an (h, w) image."""
    return [(y0, x0) for y0 in _starts(h, tile, overlap) for x0 in _starts(w, tile, overlap)]


def _run_tiled(model, io, x, tile, overlap, progress=None):
    from .memory import tile_side
    h, w, _ = x.shape
    tile = tile_side(tile, io)
    if overlap < 0 or overlap >= tile:
        raise DeblurKerasError(f"--overlap must be in [0, tile) (tile {tile} after rounding to the model's multiple "
                               f"{'x'.join(map(str, io.multiples))})")
    if h <= tile and w <= tile:
        return _run_padded(model, io, x)  # exactly the untiled computation
    s = io.scale
    acc = np.zeros((h * s, w * s, 3), np.float32)
    norm = np.zeros((h * s, w * s, 1), np.float32)
    grid = tile_grid(h, w, tile, overlap)
    bar = _tile_bar(len(grid), progress)
    for y0, x0 in grid:
        th, tw = min(tile, h - y0), min(tile, w - x0)
        out = _run_padded(model, io, x[y0:y0 + th, x0:x0 + tw])
        wy = _ramp(th * s, y0, th, h, overlap * s)
        wx = _ramp(tw * s, x0, tw, w, overlap * s)
        weight = (wy[:, None] * wx[None, :])[..., None]
        acc[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += out * weight
        norm[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += weight
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    acc /= norm
    return acc


def _tile_bar(n, progress):
    """A progress bar over the tiles of one image (below the images bar); `progress` is its description."""
    if not progress or n < 2:
        return None
    from tqdm import tqdm
    return tqdm(total=n, unit="tile", desc=progress if isinstance(progress, str) else "tiles", leave=False,
                file=sys.stderr, position=1, dynamic_ncols=True)


def predict_01(model, io, img_uint8, transpose=None, tile=0, overlap=OVERLAP, pad_to=None, progress=None):
    """uint8 RGB (H, W, 3) -> float32 (H*s, W*s, 3) in [0, 1] units, not clipped (see the module docstring).

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
    x = _normalize(x, io)
    y = _run_tiled(model, io, x, tile, overlap, progress) if tile else _run_padded(model, io, x, pad_to)
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


# ------------------------------------------------------------------------------------------------ CLI verb
def _size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2))


def add_memory_arguments(parser):
    """--tile / --overlap / --max-memory, shared by deblur, eval and upscale."""
    g = parser.add_argument_group("size and memory")
    g.add_argument("--tile", type=int, default=None,
                   help="tile side in px (default: automatic, only for images that would exceed --max-memory or "
                        "hold a tensor over 2^31 elements; 0: never tile)")
    g.add_argument("--overlap", type=int, default=OVERLAP,
                   help=f"tile overlap in px, blended with linear ramps (default {OVERLAP}; seam error table: deblurkeras/docs/inference.md)")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="memory budget for one image: 3G, 800M, or a percentage of the available memory "
                        f"(default {int(100 * memory.DEFAULT_FRACTION)}%%)")
    g.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images declaring more pixels, before decoding them (default {DEFAULT_MAX_PIXELS}, "
                        "Pillow's decompression-bomb limit; 0: no cap, the memory budget still applies)")


def check_tile_args(args):
    """--tile / --overlap / --max-pixels values that cannot mean anything: BadInputError before the model loads."""
    if args.tile is not None and args.tile < 0:
        raise BadInputError(f"--tile {args.tile}: expected a tile side in px (> 0), or 0 to never tile")
    if args.overlap < 0:
        raise BadInputError(f"--overlap {args.overlap}: expected >= 0 px")
    if getattr(args, "max_pixels", 0) < 0:
        raise BadInputError(f"--max-pixels {args.max_pixels}: expected >= 0 (0: no cap)")


def check_pad_to(pad_to, io, name):
    """--pad-to must be a size the model takes: positive multiples of its `multiples` (16 for SRN)."""
    if pad_to is None:
        return
    (ph, pw), (mh, mw) = pad_to, io.multiples
    if ph <= 0 or pw <= 0 or ph % mh or pw % mw:
        raise BadInputError(f"--pad-to {ph}x{pw}: {name} needs a height multiple of {mh} and a width multiple of "
                            f"{mw} (e.g. {max(mh, -(-ph // mh) * mh)}x{max(mw, -(-pw // mw) * mw)})")


def check_declared_size(path, name, io, budget, tile=None, max_pixels=DEFAULT_MAX_PIXELS, pad_to=None, shrink=1):
    """Refuse an image from the size its header declares, before decoding it: over `max_pixels`, or (its LR size
    `shrink` times smaller) not runnable within `budget` even in tiles. BadInputError naming the file."""
    w, h = declared_size(path, max_pixels)
    if pad_to is not None and tile is None:
        tile = 0
    try:
        memory.plan(name, io, max(1, h // shrink), max(1, w // shrink), budget, tile)
    except BadInputError as e:
        raise type(e)(f"{show(path)}: {e}") from None


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


def output_plan(paths, out_dir, name_of, overwrite=False):
    """[(src, dst, error)]: `name_of(src)` is the output file name. Inputs whose outputs would clash (x.png and
    x.jpg -> x.png) are all refused, and so is an output that would overwrite its own input: no silent loss. An
    existing output is replaced only with `overwrite` (deblurkeras/outputs.py: the rule of every verb)."""
    dsts = [os.path.join(out_dir, name_of(src)) for src in paths]
    owners = {}
    for src, dst in zip(paths, dsts):
        owners.setdefault(os.path.normcase(os.path.abspath(dst)), []).append(src)
    plan = []
    for src, dst in zip(paths, dsts):
        others = [o for o in owners[os.path.normcase(os.path.abspath(dst))] if o != src]
        err = None
        if others:
            err = f"{src}: output {dst} would also be written for {', '.join(others)}; rename one or run them apart"
        elif outputs.same_file(src, dst):
            err = f"{src}: output would overwrite the input; choose another --out"
        else:
            err = outputs.refusal(dst, overwrite)
        plan.append((src, dst, err))
    return plan


def add_arguments(parser):
    from .registry import model_names
    parser.add_argument("inputs", nargs="+", metavar="IMAGE|VIDEO|DIR",
                        help="image files, video files and/or folders of them")
    parser.add_argument("--model", default=None, choices=model_names(image_only=True),
                        help="registered model (default: the one the weights file names; needed for plain files)")
    parser.add_argument("--weights", required=True,
                        help=".weights.h5, .keras (loaded with safe_mode), an original TF1 checkpoint prefix (SRN), "
                             "or a release name (stack-dmphn-4:gopro: `deblurkeras weights list`)")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--ext", default=None, help="output format by extension, e.g. png (default: the input's)")
    parser.add_argument("--round", action="store_true",
                        help="round to uint8 instead of truncating (the original truncates)")
    parser.add_argument("--transpose", dest="transpose", action="store_true", default=None,
                        help="run portrait images transposed (the default for SRN, as its official test script)")
    parser.add_argument("--no-transpose", dest="transpose", action="store_false",
                        help="run portrait images as they are (the default for the other models)")
    parser.add_argument("--pad-to", type=_size, default=None, metavar="HxW",
                        help="pad to this size instead of the next multiple (720x1280 = the official script)")
    precision.add_argument(parser)
    engines.add_argument(parser)
    add_memory_arguments(parser)
    outputs.add_argument(parser)
    video.add_arguments(parser)


def _announce(line):
    print(f"deblurkeras: {line}", file=sys.stderr)


def _output_name(src, ext):
    base = os.path.basename(src)
    return os.path.splitext(base)[0] + "." + ext.lstrip(".") if ext else base


def refuse_upscaler(name, weights):
    """`deblur` of a super-resolution model would upscale and call the result deblurred: refused, naming the verb
    that upscales."""
    from .registry import model_io

    scale = model_io(name).scale
    if scale != 1:
        raise BadInputError(f"{weights}: holds {name}, a x{scale} super-resolution model: `deblur` does not "
                            f"upscale; use `deblurkeras upscale --weights {weights} ...`")


def planned_outputs(args):
    """The files `deblur` will write (deblurkeras/outputs.py checks them before TensorFlow loads); bad tile options
    and a `--model` that upscales are refused here too, as cheaply."""
    from .video import planned_outputs as video_outputs, split_inputs
    check_tile_args(args)
    if args.model:
        refuse_upscaler(args.model, args.weights)
    paths, videos = split_inputs(args.inputs)
    files = [os.path.join(args.out, _output_name(p, args.ext)) for p in paths] + video_outputs(args, videos, _stem)
    return outputs.not_inputs(files, paths + videos)


def _stem(src):
    return os.path.splitext(os.path.basename(src))[0]


def load_for_run(args):
    """(model, name, io) for `deblur`: the weights through the chosen engine, checked to produce images."""
    from .registry import model_io
    model, name = engines.load(args.engine, args.weights, args.model, args.precision,
                               lambda: load_model(args.model, args.weights), _announce)
    io = model_io(name)
    if not io.image:
        raise BadInputError(f"{args.weights}: holds {name}, which does not produce images")
    refuse_upscaler(name, args.weights)
    check_pad_to(args.pad_to, io, name)
    return model, name, io


def run(args):
    """Videos among the inputs go to deblurkeras.video (frame by frame through `run_image`), images below."""
    from .video import dispatch
    return dispatch(args, "deblur", run_images, load_for_run, _stem)


def image_inputs(args):
    """What `deblur` and `upscale` check of their image inputs before a model loads: the tile options, at least one
    image, the memory budget -> (image paths, budget in bytes)."""
    check_tile_args(args)
    paths = list_images(args.inputs)
    if not paths:
        raise BadInputError(f"{', '.join(args.inputs)}: no images found")
    return paths, memory.parse_budget(args.max_memory)


def run_images(args):
    from PIL import Image
    from tqdm import tqdm

    paths, budget = image_inputs(args)
    if args.ext and "." + args.ext.lstrip(".").lower() not in Image.registered_extensions():
        raise BadInputError(f"--ext {args.ext}: unknown image format")
    model, name, io = load_for_run(args)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise BadInputError(f"{args.out}: cannot create output folder ({first_line(e)})") from None
    clean_stale_temps(args.out)  # temporaries a killed run left (ours only)
    failed = []
    bar = tqdm(output_plan(paths, args.out, lambda src: _output_name(src, args.ext), args.overwrite), unit="img",
               desc="deblur",
               file=sys.stderr, position=0, dynamic_ncols=True)
    for src, dst, err in bar:
        try:
            if err:
                raise BadInputError(err)
            check_declared_size(src, name, io, budget, args.tile, args.max_pixels, args.pad_to)
            img = load_image(src, max_pixels=args.max_pixels,
                             note=lambda m: tqdm.write(f"deblurkeras deblur: {m}", file=sys.stderr))
            result = run_image(model, name, io, img, src, budget, args.tile, args.overlap, args.transpose,
                               args.round, args.pad_to, note=lambda m: tqdm.write(f"deblurkeras deblur: {m}",
                                                                                  file=sys.stderr))
            save_image(dst, result)
        except DeblurKerasError as e:
            msg = str(e) if show(src) in str(e) or show(dst) in str(e) else f"{show(src)}: {e}"
            tqdm.write(f"deblurkeras deblur: error: {one_line(msg)}", file=sys.stderr)
            failed.append(src)
    bar.close()
    print(f"{len(paths) - len(failed)} of {len(paths)} images deblurred -> {args.out}"
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
