"""`deblurkeras eval`: PSNR/SSIM of a model on held-out pairs, against the blurred-input baseline.

    deblurkeras eval --model srn-color --weights run/generator.weights.h5 --data dataset.h5 --out eval/

Data: an HDF5 file of the build_hdf5 layout (split `--split`, default test) or a folder holding either
`blur/` + `sharp/` subfolders (paired by file name) or side-by-side images (left half sharp | right half blurred).
Each blurred image runs through `deblurkeras.inference.deblur_array` (pad to the model's multiple, value range of
`registry.model_io`, gray models per channel, output truncated to uint8 like the original). Metrics: see
deblurkeras.metrics (the convention is written into the summary JSON).
Outputs (atomic): per_image.csv (name, psnr/ssim of output and of the blurred input, seconds) and summary.json
(means, gains, time per image, convention, model, weights, data); `--save-images` adds the deblurred PNGs.
"""
import csv
import os
import sys
import time

import numpy as np

from .errors import BadInputError, DeblurKerasError, one_line, show
from .imageio import DEFAULT_MAX_PIXELS
from .metrics import CONVENTION, psnr, ssim
from .precision import add_argument as add_precision_argument
from .engines import add_argument as add_engine_argument
from .utils import atomic_path, clean_stale_temps, dumps_json

FIELDS = ("name", "psnr_out", "ssim_out", "psnr_in", "ssim_in", "seconds")
MIN_SIDE = 7  # SSIM's 7x7 window (skimage, gaussian_weights with sigma 1.5)


# ----------------------------------------------------------------------------------------------- inputs
def _folder_pairs(folder, max_pixels):
    """(blurred, sharp, name) per pair; a pair that cannot be read yields (BadInputError, None, name) instead, so
    the evaluation reports it and carries on."""
    from .imageio import list_images, load_image, pair_files

    blur_dir, sharp_dir = os.path.join(folder, "blur"), os.path.join(folder, "sharp")
    if os.path.isdir(blur_dir) and os.path.isdir(sharp_dir):
        pairs, unpaired = pair_files(blur_dir, sharp_dir)
        for path, partner in unpaired:
            if os.path.dirname(path) == blur_dir:  # a blurred image without its sharp one cannot be scored
                yield (BadInputError(f"{path}: no sharp image of the same name in {sharp_dir}"), None,
                       os.path.basename(path))
        for name, sharp, blurred in pairs:
            try:
                item = load_image(blurred, max_pixels=max_pixels), load_image(sharp, max_pixels=max_pixels), name
            except BadInputError as e:
                item = e, None, name
            yield item
        return
    files = list_images([folder])
    if not files:
        raise BadInputError(f"{folder}: no images (expected a pair folder: side-by-side pairs or blur/ + sharp/; "
                            f"or a dataset folder holding the --split folder, e.g. test/)")
    for p in files:
        try:
            img = load_image(p, max_pixels=max_pixels)
            half = img.shape[1] // 2
            if half == 0:
                raise BadInputError(f"{p}: too narrow to be a side-by-side pair")
        except BadInputError as e:
            yield e, None, os.path.basename(p)
            continue
        # left half sharp, right half blurred (odd widths: the middle column is dropped, as build_hdf5 does)
        yield img[:, -half:], img[:, :half], os.path.basename(p)


def _pair_folder(data, split):
    """A dataset folder (train/ + test/, build-hdf5's input) reads as its `split`; a pair folder as itself."""
    sub = os.path.join(data, split)
    return sub if os.path.isdir(sub) and not os.path.isdir(os.path.join(data, "blur")) else data


def iter_pairs(data, split="test", max_pixels=DEFAULT_MAX_PIXELS):
    """(blurred_uint8, sharp_uint8, name) of an HDF5 file split, a pair folder, or a dataset folder's split (images
    over `max_pixels` refused before decoding)."""
    data = os.fspath(data)
    if os.path.isdir(data):
        return _folder_pairs(_pair_folder(data, split), max_pixels)
    if not os.path.exists(data):
        raise BadInputError(f"{data}: no such dataset file or folder")
    from .data.hdf5 import read_pairs
    return read_pairs(data, split)


def count_pairs(data, split="test"):
    if os.path.isdir(data):
        return None
    from .data.hdf5 import count
    return count(data, split)


# ----------------------------------------------------------------------------------------------- evaluation
def _check_size(blurred, sharp, name):
    if sharp.shape != blurred.shape:
        raise BadInputError(f"{name}: blurred {blurred.shape} and sharp {sharp.shape} images differ in size")
    h, w = sharp.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise BadInputError(f"{name}: {h}x{w} (HxW) is smaller than the {MIN_SIDE}x{MIN_SIDE} SSIM window")


def evaluate_pairs(model, io, pairs, image_dir=None, limit=None, total=None, failed=None, run=None, **deblur_kwargs):
    """Per-image rows (dicts of FIELDS) for (blurred, sharp, name) pairs; writes PNGs into image_dir if given.

    A pair that fails (unreadable, sizes differ, too small, too large for the memory budget) is reported on one line
    and appended to `failed` as {"name", "error"}; the others are still evaluated. `run(blurred, name)` deblurs one
    image (default: `deblur_array` with `deblur_kwargs`)."""
    from tqdm import tqdm

    from .imageio import save_image
    from .inference import deblur_array

    if run is None:
        def run(img, name):
            return deblur_array(model, io, img, **deblur_kwargs)
    failed = [] if failed is None else failed
    rows = []
    if image_dir:
        os.makedirs(image_dir, exist_ok=True)
    total = min(total, limit) if (total and limit) else (limit or total)
    bar = tqdm(pairs, total=total, desc="eval", unit="img", disable=None, position=0)
    for i, (blurred, sharp, name) in enumerate(bar):
        if limit is not None and i >= limit:
            break
        try:
            if isinstance(blurred, Exception):
                raise blurred
            _check_size(blurred, sharp, name)
            t0 = time.perf_counter()
            out = run(blurred, name)
            dt = time.perf_counter() - t0
            if out.shape != sharp.shape:
                raise BadInputError(f"{name}: output {out.shape} and sharp image {sharp.shape} differ")
        except DeblurKerasError as e:
            msg = one_line(str(e) if show(name) in str(e) else f"{show(name)}: {e}")
            tqdm.write(f"deblurkeras eval: error: {msg}", file=sys.stderr)
            failed.append({"name": str(name), "error": msg})
            continue
        rows.append({"name": name, "psnr_out": psnr(out, sharp), "ssim_out": ssim(out, sharp),
                     "psnr_in": psnr(blurred, sharp), "ssim_in": ssim(blurred, sharp), "seconds": dt})
        if image_dir:
            stem = os.path.splitext(str(name).replace("/", "_"))[0]
            save_image(os.path.join(image_dir, f"{stem}.png"), out)
    bar.close()
    if not rows:
        why = f" ({len(failed)} failed, see above)" if failed else ""
        raise BadInputError(f"no image pairs to evaluate{why}")
    return rows


def summarize(rows):
    """Means over images, gains of the output over the blurred input, time per image."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in FIELDS[1:]}
    secs = [r["seconds"] for r in rows]
    return {
        "n_images": len(rows),
        "psnr_out": mean["psnr_out"], "ssim_out": mean["ssim_out"],
        "psnr_in": mean["psnr_in"], "ssim_in": mean["ssim_in"],
        "psnr_gain": mean["psnr_out"] - mean["psnr_in"], "ssim_gain": mean["ssim_out"] - mean["ssim_in"],
        "seconds_per_image_mean": mean["seconds"],
        # the first image also pays for tracing the model: reported apart
        "seconds_per_image_median": float(np.median(secs)), "seconds_first_image": secs[0],
    }


def write_reports(rows, summary, out_dir):
    """per_image.csv and summary.json in out_dir, each written atomically."""
    os.makedirs(out_dir, exist_ok=True)
    clean_stale_temps(out_dir)
    with atomic_path(os.path.join(out_dir, "per_image.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
    with atomic_path(os.path.join(out_dir, "summary.json")) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(dumps_json(summary, indent=1))  # an infinite PSNR (identical images) is null


def evaluate(model_name, weights, data, out_dir, split="test", limit=None, save_images=False, model=None,
             precision="float32", max_memory=None, tile=None, overlap=None, max_pixels=DEFAULT_MAX_PIXELS,
             engine="keras", **deblur_kwargs):
    """Evaluate a registered model (weights file, or an already loaded `model`) and write the reports.
    `precision`: float32 | bfloat16 | auto, the dtype policy the model is built in (deblurkeras.precision).

    Images too large for `max_memory` (bytes; default half the available memory) run in tiles, as `deblur` does.
    Pairs that fail are listed in summary.json under "failed" (and the CLI exits 1)."""
    from . import engines, memory
    from . import precision as prec
    from .registry import model_identity, model_io
    from .inference import OVERLAP, announce, load_model, run_image

    pairs = iter_pairs(data, split, max_pixels)  # checks the data before the (slow) model load
    if model is None:
        model, model_name = engines.load(engine, weights, model_name, precision,
                                         lambda: load_model(model_name, weights), announce)
    model_name = model_name or model_identity(model)["model"]
    io = model_io(model_name)
    if not io.image:
        raise BadInputError(f"{weights}: holds {model_name}, which does not produce images")
    budget = memory.parse_budget(max_memory) if not isinstance(max_memory, int) else max_memory
    overlap = OVERLAP if overlap is None else overlap

    def run(img, name):
        from tqdm import tqdm
        return run_image(model, model_name, io, img, str(name), budget, tile, overlap, note=lambda m: tqdm.write(
            f"deblurkeras eval: {m}", file=sys.stderr), **deblur_kwargs)

    failed = []
    rows = evaluate_pairs(model, io, pairs, os.path.join(out_dir, "images") if save_images else None,
                          limit=limit, total=count_pairs(data, split), failed=failed, run=run)
    summary = {**summarize(rows), "model": model_name, "weights": None if weights is None else os.fspath(weights),
               "data": os.fspath(data), "split": split if not os.path.isdir(data) or _pair_folder(data, split) != data else None,
               "dtype_policy": getattr(model, "dtype_policy_name", None) or prec.model_policy(model),
               "convention": CONVENTION, "failed": failed}
    write_reports(rows, summary, out_dir)
    return rows, summary


# ----------------------------------------------------------------------------------------------- CLI verb
def add_arguments(p):
    from .registry import model_names
    from .inference import add_memory_arguments

    p.add_argument("--model", default=None, choices=model_names(image_only=True),
                   help="registered model (default: the one the weights file names)")
    p.add_argument("--weights", required=True, help=".weights.h5, .keras, (SRN) a TF1 checkpoint, or a release name "
                                                    "(stack-dmphn-4:gopro)")
    p.add_argument("--data", required=True, help="HDF5 dataset file, or a folder of pairs")
    p.add_argument("--out", required=True, help="output folder for per_image.csv and summary.json")
    p.add_argument("--split", default="test", help="HDF5 split (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--save-images", action="store_true", help="also write the deblurred images as PNGs")
    from . import outputs
    outputs.add_argument(p)
    add_precision_argument(p)
    add_engine_argument(p)
    add_memory_arguments(p)


def planned_outputs(args):
    """The reports `eval` writes (checked by deblurkeras/outputs.py before TensorFlow loads)."""
    return [os.path.join(args.out, "per_image.csv"), os.path.join(args.out, "summary.json")]


def run(args):
    from .inference import check_tile_args

    check_tile_args(args)
    _, summary = evaluate(args.model, args.weights, args.data, args.out, split=args.split, limit=args.limit,
                          save_images=args.save_images, precision=args.precision, max_memory=args.max_memory,
                          tile=args.tile, overlap=args.overlap, max_pixels=args.max_pixels,
                          engine=args.engine)
    print(f"{summary['n_images']} images: PSNR {summary['psnr_out']:.2f} dB (blurred input "
          f"{summary['psnr_in']:.2f}, gain {summary['psnr_gain']:+.2f}), SSIM {summary['ssim_out']:.4f} "
          f"(blurred input {summary['ssim_in']:.4f}); {summary['seconds_per_image_median']:.3f} s/image (median)")
    print(f"wrote {os.path.join(args.out, 'per_image.csv')} and {os.path.join(args.out, 'summary.json')}")
    if summary["failed"]:
        print(f"{len(summary['failed'])} pairs failed (listed in summary.json)")
        return 1
    return 0
