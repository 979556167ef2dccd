"""The `deblurkeras deblur` verb: arguments, the outputs planned before TensorFlow loads, and the loop over images
(videos go to deblurkeras.video, frame by frame through the same `run_image`)."""
import os
import sys

from .. import engines, memory, outputs, precision, video
from ..errors import BadInputError, DeblurKerasError, first_line, one_line, show
from ..imageio import list_images, load_image, save_image
from ..utils import clean_stale_temps
from .checks import _size, add_memory_arguments, check_declared_size, check_pad_to, check_tile_args
from .loading import load_model
from .predict import run_image


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
    from ..registry import model_names
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


def announce(line):
    print(f"deblurkeras: {line}", file=sys.stderr)


def _output_name(src, ext):
    base = os.path.basename(src)
    return os.path.splitext(base)[0] + "." + ext.lstrip(".") if ext else base


def refuse_upscaler(name, weights):
    """`deblur` of a super-resolution model would upscale and call the result deblurred: refused, naming the verb
    that upscales."""
    from ..registry import model_io

    scale = model_io(name).scale
    if scale != 1:
        raise BadInputError(f"{weights}: holds {name}, a x{scale} super-resolution model: `deblur` does not "
                            f"upscale; use `deblurkeras upscale --weights {weights} ...`")


def planned_outputs(args):
    """The files `deblur` will write (deblurkeras/outputs.py checks them before TensorFlow loads); bad tile options
    and a `--model` that upscales are refused here too, as cheaply."""
    from ..video import planned_outputs as video_outputs, split_inputs
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
    from ..registry import model_io
    model, name = engines.load(args.engine, args.weights, args.model, args.precision,
                               lambda: load_model(args.model, args.weights), announce)
    io = model_io(name)
    if not io.image:
        raise BadInputError(f"{args.weights}: holds {name}, which does not produce images")
    refuse_upscaler(name, args.weights)
    check_pad_to(args.pad_to, io, name)
    return model, name, io


def run(args):
    """Videos among the inputs go to deblurkeras.video (frame by frame through `run_image`), images below."""
    from ..video import dispatch
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
