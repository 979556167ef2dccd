"""Reproduce the authors' own DMPHN and Stack-DMPHN test outputs from their released weights.

    python experiments/reproduce_dmphn.py CHECKOUT_DIR [--variants 1-2-4 1-2-4-8 SDNet4] [--limit N] [--json OUT]
    python experiments/reproduce_dmphn.py CHECKOUT_DIR --json OUT --show     # the table of a finished/partial run

CHECKOUT_DIR is a checkout of HongguangZhang/DMPHN-cvpr19-master. It ships, per variant V (1_2_4, 1_2_4_8):
  checkpoints/DMPHN_V/{encoder,decoder}_lv*.pkl    the trained weights (plain state_dicts),
  test_samples/*.png                               20 blurred GoPro test frames (1280x720),
  test_results/DMPHN_V_test_res/*.png              what the authors' DMPHN_V_test.py wrote for them;
and per stacked variant SDNetN (N = 2, 3, 4): checkpoints/SDNetN/{encoder,decoder}_s*_lv*.pkl and
test_results/SDNetN_test_res/*.png (SDNetN_test.py). SDNetN reads stacks s1..sN, as SDNetN_test.py does (the
SDNet3 folder's unused s4 set is named, not read).
Each variant's weights go through our importer (`import_dmphn` / `import_stack_dmphn`, torch.load
weights_only=True) into the Keras model, every sample is deblurred the way the official test script does it, and the
result is compared with the authors' PNG: mean |delta| in grey levels, % identical values, max |delta|, PSNR between
the two.

The official test script's conventions, followed here:
  - input: ToTensor() - 0.5, i.e. uint8 / 255 in float32, minus 0.5 (the family's ModelIO offset);
  - no padding or cropping (GoPro frames are 720x1280, multiples of 16 and 8), no portrait transposing;
  - output: torchvision.utils.save_image(out + 0.5). save_image converted to uint8 by truncation
    (`mul(255).clamp(0, 255).byte()`) in the torchvision of 2019; later releases round (`add_(0.5)` first). Both
    conversions are reported, so the table shows which one the authors ran.
Nothing from the checkout is copied into this repository. Files stored as Git LFS pointers are refused by name.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = ("1-2-4", "1-2-4-8", "SDNet2", "SDNet3", "SDNet4")
LFS_MAGIC = b"version https://git-lfs"


def _check_not_lfs(path):
    with open(path, "rb") as f:
        if f.read(len(LFS_MAGIC)) == LFS_MAGIC:
            raise SystemExit(f"{path}: a Git LFS pointer, not the file (run `git lfs pull` in the checkout)")


def stacks(variant):
    """N of a stacked variant SDNetN, else 0."""
    return int(variant[len("SDNet"):]) if variant.startswith("SDNet") else 0


def model_name(variant):
    return f"stack-dmphn-{stacks(variant)}" if stacks(variant) else "dmphn-" + variant


def variant_paths(checkout, variant):
    """(checkpoint dir, authors' result dir) of a variant, or None when the checkout does not ship it."""
    tag = variant if stacks(variant) else "DMPHN_" + variant.replace("-", "_")
    ckpt, res = os.path.join(checkout, "checkpoints", tag), os.path.join(checkout, "test_results", tag + "_test_res")
    return (ckpt, res) if os.path.isdir(ckpt) and os.path.isdir(res) else None


def compare(ours, theirs):
    """Agreement of two uint8 images: mean/max |delta| (grey levels), % identical values, PSNR (dB)."""
    d = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    mse = float(np.mean(d.astype(np.float64) ** 2))
    return {"mean_abs": float(d.mean()), "max_abs": int(d.max()), "identical_pct": float(100.0 * np.mean(d == 0)),
            "psnr": float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))}


def _load_png(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))  # what the official script reads: PIL .convert('RGB')


def _to_uint8(x01, round=False):  # noqa: A002 - as deblurkeras.imageio.to_uint8 (no deblurkeras import for torch)
    x = np.clip(np.asarray(x01), 0.0, 1.0) * 255.0
    return (np.round(x) if round else x).astype(np.uint8)


def keras_engine(ckpt, variant):
    """Our path: the importer (weights_only=True) -> Keras model -> predict_01 with the family's ModelIO."""
    from deblurkeras.families.dmphn.importer import import_dmphn, import_stack_dmphn
    from deblurkeras.families import model_io
    from deblurkeras.inference import predict_01

    if stacks(variant):
        model, note = import_stack_dmphn(ckpt, stacks=stacks(variant))
        print(f"  {variant}: {note}")
    else:
        model = import_dmphn(ckpt)
    io = model_io(model_name(variant))
    return lambda img: predict_01(model, io, img, transpose=False)


def torch_reference_engine(ckpt, variant, device="cpu"):
    """The official test-script forward in PyTorch (deblurkeras/families/dmphn/original.py, no TensorFlow): separates
    what our port does from what the released checkpoint and the released outputs disagree about."""
    import torch

    from deblurkeras.families.dmphn import original as ref

    n = stacks(variant)
    if n:   # SDNetN_test.py: files encoder_s<k>_lv<l>.pkl, the last stack's output
        enc, dec = ref.sdnet_modules(n, init=False)
        file_of = lambda part, key: f"{part}_s{key[0]}_lv{key[1]}.pkl"  # noqa: E731
        forward = lambda x: ref.sdnet_forward(enc, dec, x)[-1]          # noqa: E731
    else:
        levels = len(variant.split("-"))
        enc = {k: ref.Encoder() for k in range(1, levels + 1)}
        dec = {k: ref.Decoder() for k in range(1, levels + 1)}
        file_of = lambda part, key: f"{part}_lv{key}.pkl"                # noqa: E731
        forward = lambda x: ref.dmphn_forward(enc, dec, x)               # noqa: E731
    for part, mods in (("encoder", enc), ("decoder", dec)):
        for k, m in mods.items():
            sd = torch.load(os.path.join(ckpt, file_of(part, k)), map_location="cpu", weights_only=True)
            m.load_state_dict(sd, strict=True)
            m.to(device).eval()

    def run(img):
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float().div(255.0).sub(0.5)
        with torch.no_grad():
            y = forward(x.to(device)) + 0.5
        return y[0].permute(1, 2, 0).cpu().numpy()
    return run


def reproduce(checkout, variant, limit=None, on_row=None, engine="keras", device="cpu", start=0):
    ckpt, res_dir = variant_paths(checkout, variant)
    for p in sorted(glob.glob(os.path.join(ckpt, "*.pkl"))):
        _check_not_lfs(p)
    forward = keras_engine(ckpt, variant) if engine == "keras" else torch_reference_engine(ckpt, variant, device)
    samples = sorted(glob.glob(os.path.join(checkout, "test_samples", "*.png")))[start:]
    samples = samples[:limit] if limit is not None else samples
    rows = []
    for path in samples:
        theirs_path = os.path.join(res_dir, os.path.basename(path))
        for p in (path, theirs_path):
            _check_not_lfs(p)
        blurred, theirs = _load_png(path), _load_png(theirs_path)
        t0 = time.perf_counter()
        out01 = forward(blurred)
        seconds = time.perf_counter() - t0
        row = {"image": os.path.basename(path), "seconds": seconds}
        for conv, rnd in (("truncate", False), ("round", True)):
            row[conv] = compare(_to_uint8(out01, round=rnd), theirs)
        row["blurred_vs_theirs_psnr"] = compare(blurred, theirs)["psnr"]
        rows.append(row)
        if on_row:
            on_row(rows)
        print(f"  {variant} {row['image']}: truncate {row['truncate']['identical_pct']:.3f}% identical, "
              f"mean |d| {row['truncate']['mean_abs']:.4f} | round {row['round']['identical_pct']:.3f}%, "
              f"{row['round']['mean_abs']:.4f} ({seconds:.1f} s)", flush=True)
    return rows


def summarize(rows):
    out = {"n_images": len(rows)}
    for conv in ("truncate", "round"):
        vals = [r[conv] for r in rows]
        psnrs = [v["psnr"] for v in vals if np.isfinite(v["psnr"])]
        out[conv] = {"mean_abs": float(np.mean([v["mean_abs"] for v in vals])),
                     "max_abs": int(max(v["max_abs"] for v in vals)),
                     "identical_pct": float(np.mean([v["identical_pct"] for v in vals])),
                     "min_identical_pct": float(min(v["identical_pct"] for v in vals)),
                     "psnr_mean": float(np.mean(psnrs)) if psnrs else float("inf"),
                     "psnr_min": float(min(psnrs)) if psnrs else float("inf"),
                     "n_bit_identical_images": sum(1 for v in vals if v["max_abs"] == 0)}
    return out


def print_table(report):
    print("\nvariant  | uint8 conv | images | mean |d| | max |d| | identical % (min) | PSNR ours vs theirs (min)")
    for v, r in report.items():
        s = r["summary"]
        for conv in ("truncate", "round"):
            c = s[conv]
            print(f"{v:8s} | {conv:10s} | {s['n_images']:6d} | {c['mean_abs']:8.4f} | {c['max_abs']:7d} | "
                  f"{c['identical_pct']:7.3f} ({c['min_identical_pct']:.3f}) | "
                  f"{c['psnr_mean']:.2f} dB ({c['psnr_min']:.2f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", help="a checkout of HongguangZhang/DMPHN-cvpr19-master")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--limit", type=int, default=None, help="only the first N samples")
    ap.add_argument("--start", type=int, default=0, help="skip the first N samples (split a long run)")
    ap.add_argument("--json", default=None, help="write per-image rows and the summary here")
    ap.add_argument("--show", action="store_true", help="only print the table of an existing --json file")
    ap.add_argument("--engine", choices=("keras", "torch-reference"), default="keras",
                    help="keras: our importer + Keras model (the reproduction); torch-reference: the official "
                         "forward in PyTorch (deblurkeras/families/dmphn/original.py), to tell port from checkpoint "
                         "differences")
    ap.add_argument("--device", default="cpu", help="torch-reference only: cpu or cuda")
    args = ap.parse_args(argv)
    if args.show:
        with open(args.json, encoding="utf-8") as f:
            print_table(json.load(f))
        return 0
    if not os.path.isdir(os.path.join(args.checkout, "test_samples")):
        raise SystemExit(f"{args.checkout}: no test_samples/ folder (not a DMPHN-cvpr19-master checkout)")
    report = {}

    def save():  # after every image: an interrupted run keeps its figures
        if args.json:
            from deblurkeras.utils import atomic_path
            with atomic_path(args.json) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(report, f, indent=1)

    for v in args.variants:
        if variant_paths(args.checkout, v) is None:
            print(f"{v if stacks(v) else 'DMPHN ' + v}: not shipped in this checkout, skipped")
            continue

        def on_row(rows, v=v):
            report[v] = {"summary": summarize(rows), "images": rows}
            save()
        reproduce(args.checkout, v, args.limit, on_row, args.engine, args.device, args.start)
    print_table(report)
    return 0 if report else 1


if __name__ == "__main__":
    sys.exit(main())
