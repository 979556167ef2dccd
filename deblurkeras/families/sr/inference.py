"""`deblurkeras upscale IMAGE... --model srresnet-x4|srgan-x4 --weights W --out DIR [--evaluate]`.

Super-resolves each image x`scale` with the registry's conventions (LR ImageNet-normalised in, [-1, 1] out), writes
`DIR/<name>_x<scale>.png` (clip to [0, 1], *255, truncate like the tutorial's `to_pil_image`; `--round` rounds).
Weights: a Keras `.weights.h5` (strict) or `.keras` file (safe_mode), or the tutorial's checkpoint `.pth`
(plain state_dicts, through `import-torch`'s loader).

Large inputs run in tiles on their own when they would exceed `--max-memory` (see deblurkeras.inference; tile
sizes in LR pixels). Two inputs with the same stem (x.png, x.jpg -> x_x4.png) are both refused by name.

`--evaluate` treats every input as a HIGH-resolution ground truth (Set5 / Set14 / BSD100 style) and follows the
tutorial's eval.py: HR = largest centred crop with sides multiple of `scale`, LR = PIL bicubic / scale,
SR = model(LR) as floats (not the truncated uint8 of the saved PNG); both go to the Y channel of the tutorial's
`convert_image(..., 'y-channel')`, which crops 4 pixels per border; PSNR and SSIM are scikit-image's
`peak_signal_noise_ratio` / `structural_similarity` with `data_range=255` and otherwise default arguments (7x7 uniform
window, sample covariance). Per image and averaged, for SR and for the bicubic upscale baseline, written to
`DIR/metrics.json` with the convention spelled out.
An image too small for that (the border crop plus SSIM's 7x7 window) gets a one-line error; the others are
still scored.
"""
import os
import sys

import numpy as np

from ... import engines, outputs, precision, video
from ...errors import BadInputError, DeblurKerasError
from ...imageio import load_image, save_image, to_uint8
from ...utils import atomic_path, clean_stale_temps, dumps_json

def sr_models():
    """The registered image models that upscale (ModelIO.scale > 1)."""
    from ...registry import model_io, model_names
    return tuple(n for n in model_names(image_only=True) if model_io(n).scale > 1)
Y_WEIGHTS = (65.481, 128.553, 24.966)
BORDER = 4  # the tutorial's y-channel conversion crops [4:-4, 4:-4] whatever the scale (= the scale for x4)
SSIM_KWARGS = dict(data_range=255)  # scikit-image defaults otherwise: win_size 7, uniform, sample covariance
MIN_SSIM_SIDE = 7  # skimage's default SSIM window


def convention(scale):
    return {
        "source": "sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution eval.py",
        "channel": "Y of YCbCr (ITU-R BT.601): Y = 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1], float",
        "border_crop": f"{BORDER} pixels on every side (the tutorial's y-channel conversion)",
        "hr": f"largest centred crop with sides multiple of {scale}; LR = PIL bicubic downscale by {scale}",
        "sr_image": "model output as floats ([-1, 1] -> [0, 1], not clipped, not quantised); the saved PNG is "
                    "clipped, *255, truncated to uint8 (rounded with --round)",
        "psnr": "skimage.metrics.peak_signal_noise_ratio(hr_y, sr_y, data_range=255)",
        "ssim": "skimage.metrics.structural_similarity(hr_y, sr_y, data_range=255): 7x7 uniform window, "
                "sample covariance (scikit-image defaults)",
        "null": "a PSNR of null is infinite (identical to HR on Y: standard JSON has no Infinity); the means "
                "leave such images out",
    }


def y_channel(img):
    """RGB (H, W, 3), uint8 or floats in [0, 1] -> float64 Y in [16, 235]."""
    img = np.asarray(img)
    x01 = img / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    return 16.0 + x01 @ np.asarray(Y_WEIGHTS)


def sr_metrics(sr, hr_uint8, border=BORDER):
    """(psnr, ssim) on Y with a `border`-pixel crop, as the tutorial's eval.py. `sr`: uint8, or floats in [0, 1]."""
    from skimage.metrics import structural_similarity

    if np.shape(sr) != np.shape(hr_uint8):
        raise ValueError(f"SR {np.shape(sr)} and HR {np.shape(hr_uint8)} differ")
    a, b = (y_channel(x)[border:-border, border:-border] for x in (sr, hr_uint8))
    mse = np.mean((a - b) ** 2)
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
    return psnr, float(structural_similarity(b, a, **SSIM_KWARGS))


def load_sr_model(name, weights):
    """The registered SR model with weights from .weights.h5 / .keras (deblurkeras.inference) or a tutorial .pth."""
    from ...registry import model_identity
    from ...inference import load_model

    if name is not None and name not in sr_models():
        raise BadInputError(f"--model {name!r}: expected one of {sr_models()}")
    model = load_model(name, weights)
    got = model_identity(model)["model"]
    if got not in sr_models():
        raise BadInputError(f"{weights}: holds {got}, not a super-resolution model ({', '.join(sr_models())})")
    return model


def upscale_01(model, io, lr_uint8):
    """uint8 RGB LR -> float32 SR (scale x larger) in [0, 1] units, not clipped."""
    from ...inference import predict_01

    return predict_01(model, io, lr_uint8, transpose=False)


def upscale_array(model, io, lr_uint8, round=False):  # noqa: A002 - mirrors --round
    """uint8 RGB LR -> uint8 RGB SR (scale x larger)."""
    return to_uint8(upscale_01(model, io, lr_uint8), round=round)


def add_arguments(parser):
    from ...inference import add_memory_arguments

    parser.add_argument("inputs", nargs="+", help="image files, video files or folders")
    parser.add_argument("--model", choices=sr_models(), default=None,
                        help="default: the model the weights file names (a tutorial .pth: srgan-x4 if it holds a "
                             "generator, else srresnet-x4)")
    parser.add_argument("--weights", required=True, help=".weights.h5, .keras or the tutorial's .pth")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--evaluate", action="store_true",
                        help="inputs are HR ground truth: downscale, super-resolve, PSNR/SSIM on Y -> metrics.json")
    parser.add_argument("--round", action="store_true", help="round to uint8 instead of truncating")
    precision.add_argument(parser)
    outputs.add_argument(parser)
    engines.add_argument(parser)
    add_memory_arguments(parser)  # --tile / --overlap / --max-memory, in LR pixels
    video.add_arguments(parser)  # video inputs: --codec, --crf, --frames, --resume, ...


def _mean(rows, key):
    vals = [r[key] for r in rows if np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else None


def _hr_lr(img, path, scale):
    """--evaluate: the HR crop and its LR; BadInputError when too small for the border crop + the SSIM window."""
    from .data import bicubic_down, center_crop_multiple

    hr = center_crop_multiple(img, scale)
    need = 2 * BORDER + MIN_SSIM_SIDE
    if min(hr.shape[:2]) < need:
        raise BadInputError(f"{path}: {img.shape[1]}x{img.shape[0]} is too small to evaluate at x{scale} "
                            f"(needs {need}x{need}: a {BORDER}-px border crop plus the 7x7 SSIM window)")
    return hr, bicubic_down(hr, scale)


def output_name(path, scale=None):
    """photo.jpg -> photo_x4.png. `scale` None: the scale every registered SR model shares (before a model loads)."""
    if scale is None:
        from ...registry import model_io
        scale, = {model_io(n).scale for n in sr_models()}
    return f"{os.path.splitext(os.path.basename(path))[0]}_x{scale}.png"


def planned_outputs(args):
    """The files `upscale` will write (checked by deblurkeras/outputs.py before TensorFlow loads)."""
    from ...inference import check_tile_args

    from ...video import planned_outputs as video_outputs, split_inputs

    check_tile_args(args)
    paths, videos = split_inputs(args.inputs)
    files = outputs.not_inputs([os.path.join(args.out, output_name(p)) for p in paths]
                               + video_outputs(args, videos, _stem), paths + videos)
    return files + ([os.path.join(args.out, "metrics.json")] if args.evaluate else [])


def _stem(src):
    """clip.mp4 -> clip_x4 (the output of a video: the image rule's name, the container's extension)."""
    return os.path.splitext(output_name(src))[0]


def load_for_run(args):
    """(model, name, io) for `upscale`: an SR model through the chosen engine."""
    from ...inference import announce
    from ...registry import model_io

    model, args.model = engines.load(args.engine, args.weights, args.model, args.precision,
                                     lambda: load_sr_model(args.model, args.weights), announce, allowed=sr_models())
    return model, args.model, model_io(args.model)


def run(args):
    """Videos among the inputs go to deblurkeras.video (frame by frame through `run_image`), images below."""
    from ...video import dispatch
    return dispatch(args, "upscale", run_images, load_for_run, _stem)


def run_images(args):
    from tqdm import tqdm

    from .data import bicubic_up
    from ...errors import one_line, show
    from ...inference import check_declared_size, image_inputs, output_plan, run_image

    paths, budget = image_inputs(args)
    model, args.model, io = load_for_run(args)
    scale = io.scale
    os.makedirs(args.out, exist_ok=True)
    clean_stale_temps(args.out)  # temporaries a killed run left (ours only)
    rows, failed = [], 0
    bar = tqdm(output_plan(paths, args.out, lambda p: output_name(p, scale), overwrite=args.overwrite),
               desc="upscale", unit="img", file=sys.stderr, position=0, dynamic_ncols=True)
    for path, dst, err in bar:
        try:
            if err:
                raise BadInputError(err)
            check_declared_size(path, args.model, io, budget, args.tile, args.max_pixels,
                                shrink=scale if args.evaluate else 1)
            img = load_image(path, max_pixels=args.max_pixels,
                             note=lambda m: tqdm.write(f"deblurkeras upscale: {m}", file=sys.stderr))
            hr, lr = _hr_lr(img, path, scale) if args.evaluate else (None, img)
            sr01 = run_image(model, args.model, io, lr, path, budget, args.tile, args.overlap, as_01=True,
                             note=lambda m: tqdm.write(f"deblurkeras upscale: {m}", file=sys.stderr))
            save_image(dst, to_uint8(sr01, round=args.round))
            if args.evaluate:
                p, s = sr_metrics(sr01, hr)
                bp, bs = sr_metrics(bicubic_up(lr, scale), hr)
                rows.append({"image": path, "psnr": p, "ssim": s, "bicubic_psnr": bp, "bicubic_ssim": bs})
        except DeblurKerasError as e:
            msg = str(e) if show(path) in str(e) else f"{show(path)}: {e}"
            tqdm.write(f"deblurkeras upscale: error: {one_line(msg)}", file=sys.stderr)
            failed += 1
    bar.close()
    if args.evaluate and rows:
        report = {"model": args.model, "weights": os.fspath(args.weights), "scale": scale,
                  "convention": convention(scale), "n_images": len(rows), "n_failed": failed,
                  "mean": {k: _mean(rows, k) for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")},
                  "images": rows}
        with atomic_path(os.path.join(args.out, "metrics.json")) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(dumps_json(report, indent=1))  # an infinite PSNR (identical images) is null
        m = {k: "n/a" if v is None else f"{v:.{4 if 'ssim' in k else 2}f}" for k, v in report["mean"].items()}
        print(f"{args.model} x{scale} on {len(rows)} images (Y, {BORDER}-px border crop): PSNR {m['psnr']} dB, "
              f"SSIM {m['ssim']} | bicubic {m['bicubic_psnr']} dB, {m['bicubic_ssim']}")
    print(f"{len(paths) - failed} of {len(paths)} images upscaled x{scale} -> {args.out}"
          + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0
