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
import json
import os
import time

import numpy as np

from .errors import BadInputError
from .metrics import CONVENTION, psnr, ssim
from .precision import add_argument as add_precision_argument
from .utils import atomic_path

FIELDS = ("name", "psnr_out", "ssim_out", "psnr_in", "ssim_in", "seconds")


# ----------------------------------------------------------------------------------------------- inputs
def _folder_pairs(folder):
    from .imageio import list_images, load_image, pair_files

    blur_dir, sharp_dir = os.path.join(folder, "blur"), os.path.join(folder, "sharp")
    if os.path.isdir(blur_dir) and os.path.isdir(sharp_dir):
        pairs, unpaired = pair_files(blur_dir, sharp_dir)
        for path, partner in unpaired:
            if os.path.dirname(path) == blur_dir:  # a blurred image without its sharp one cannot be scored
                raise BadInputError(f"{path}: no sharp image of the same name in {sharp_dir}")
        for name, sharp, blurred in pairs:
            yield load_image(blurred), load_image(sharp), name
        return
    files = list_images([folder])
    if not files:
        raise BadInputError(f"{folder}: no images (expected side-by-side pairs or blur/ + sharp/ folders)")
    for p in files:
        img = load_image(p)
        half = img.shape[1] // 2
        if half == 0:
            raise BadInputError(f"{p}: too narrow to be a side-by-side pair")
        # left half sharp, right half blurred (odd widths: the middle column is dropped, as build_hdf5 does)
        yield img[:, -half:], img[:, :half], os.path.basename(p)


def iter_pairs(data, split="test"):
    """(blurred_uint8, sharp_uint8, name) of an HDF5 file split or a folder of pairs."""
    data = os.fspath(data)
    if os.path.isdir(data):
        return _folder_pairs(data)
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
def evaluate_pairs(model, io, pairs, image_dir=None, limit=None, total=None, **deblur_kwargs):
    """Per-image rows (dicts of FIELDS) for (blurred, sharp, name) pairs; writes PNGs into image_dir if given."""
    from tqdm import tqdm

    from .imageio import save_image
    from .inference import deblur_array

    rows = []
    if image_dir:
        os.makedirs(image_dir, exist_ok=True)
    total = min(total, limit) if (total and limit) else (limit or total)
    for i, (blurred, sharp, name) in enumerate(tqdm(pairs, total=total, desc="eval", unit="img", disable=None)):
        if limit is not None and i >= limit:
            break
        t0 = time.perf_counter()
        out = deblur_array(model, io, blurred, **deblur_kwargs)
        dt = time.perf_counter() - t0
        if out.shape != sharp.shape:
            raise BadInputError(f"{name}: output {out.shape} and sharp image {sharp.shape} differ")
        rows.append({"name": name, "psnr_out": psnr(out, sharp), "ssim_out": ssim(out, sharp),
                     "psnr_in": psnr(blurred, sharp), "ssim_in": ssim(blurred, sharp), "seconds": dt})
        if image_dir:
            stem = os.path.splitext(str(name).replace("/", "_"))[0]
            save_image(os.path.join(image_dir, f"{stem}.png"), out)
    if not rows:
        raise BadInputError("no image pairs to evaluate")
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
    with atomic_path(os.path.join(out_dir, "per_image.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
    with atomic_path(os.path.join(out_dir, "summary.json")) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)


def evaluate(model_name, weights, data, out_dir, split="test", limit=None, save_images=False, model=None,
             precision="float32", **deblur_kwargs):
    """Evaluate a registered model (weights file, or an already loaded `model`) and write the reports.
    `precision`: float32 | bfloat16 | auto, the dtype policy the model is built in (deblurkeras.precision)."""
    from . import precision as prec
    from .inference import _announce, load_model
    from .families import model_identity, model_io

    pairs = iter_pairs(data, split)  # checks the data before the (slow) model load
    if model is None:
        model = prec.build(lambda: load_model(model_name, weights), precision, _announce)
    model_name = model_name or model_identity(model)["model"]
    io = model_io(model_name)
    if not io.image:
        raise BadInputError(f"{weights}: holds {model_name}, which does not produce images")
    rows = evaluate_pairs(model, io, pairs, os.path.join(out_dir, "images") if save_images else None,
                          limit=limit, total=count_pairs(data, split), **deblur_kwargs)
    summary = {**summarize(rows), "model": model_name, "weights": None if weights is None else os.fspath(weights),
               "data": os.fspath(data), "split": split if not os.path.isdir(data) else None,
               "dtype_policy": prec.model_policy(model),
               "convention": CONVENTION}
    write_reports(rows, summary, out_dir)
    return rows, summary


# ----------------------------------------------------------------------------------------------- CLI verb
def add_arguments(p):
    from .families import model_names

    p.add_argument("--model", default=None, choices=model_names(image_only=True),
                   help="registered model (default: the one the weights file names)")
    p.add_argument("--weights", required=True, help=".weights.h5, .keras or (SRN) a TF1 checkpoint")
    p.add_argument("--data", required=True, help="HDF5 dataset file, or a folder of pairs")
    p.add_argument("--out", required=True, help="output folder for per_image.csv and summary.json")
    p.add_argument("--split", default="test", help="HDF5 split (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--save-images", action="store_true", help="also write the deblurred images as PNGs")
    add_precision_argument(p)


def run(args):
    _, summary = evaluate(args.model, args.weights, args.data, args.out, split=args.split, limit=args.limit,
                          save_images=args.save_images, precision=args.precision)
    print(f"{summary['n_images']} images: PSNR {summary['psnr_out']:.2f} dB (blurred input "
          f"{summary['psnr_in']:.2f}, gain {summary['psnr_gain']:+.2f}), SSIM {summary['ssim_out']:.4f} "
          f"(blurred input {summary['ssim_in']:.4f}); {summary['seconds_per_image_median']:.3f} s/image (median)")
    print(f"wrote {os.path.join(args.out, 'per_image.csv')} and {os.path.join(args.out, 'summary.json')}")
    return 0
