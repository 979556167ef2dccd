"""float32 vs bfloat16 on this CPU: time, speed-up, and how far the bf16 output is from the float32 one.

    python experiments/bench_precision.py                            # SRN weights: demo_out/run/generator.weights.h5
    python experiments/bench_precision.py --srn-weights W.weights.h5 --size 256 --reps 3 --json out.json

Data: real photos bundled with scikit-image, centre-cropped to --size, blurred with our random camera-shake kernels
(deblurkeras.data.blur_kernels, seed 0, up to 20 px long); SRResNet gets the sharp crop bicubic-downscaled x4.
Every model runs through the CLI's path (deblurkeras.inference.predict_01 / deblur_array, built with
deblurkeras.precision.build), once per precision with the same float32 weights:
  SRN colour      the given weights (`make demo` trains them; identity-initialised if there are none: said so)
  DMPHN 1-2-4-8, SRResNet x4, dense-GAN: Glorot-random weights (no original weights offline): their rows show the
                  speed; their output differences are of untrained networks, not of trained ones
  DMPHN PyTorch twin (the original framework) with the same weights: float32 and torch.autocast(bfloat16)
Columns: median seconds per image over --reps (timed after the outputs were computed: warm), float32 / bfloat16
speed-up, PSNR of the bf16 uint8 output against the float32 uint8 output, the largest uint8 level difference, PSNR of each against the sharp photo.
Also prints the CPU model and its bf16-relevant flags, and what `--precision auto` picks here.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
FLAGS_SHOWN = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2", "fma")


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def photos(names, size, seed=0):
    """(sharp, blurred) uint8 crops of scikit-image photos, blurred with one random kernel each."""
    import skimage.data

    from deblurkeras.data.blur_kernels import blur_image, random_kernel

    rng = np.random.default_rng(seed)
    pairs = []
    for name in names:
        img = getattr(skimage.data, name)()
        img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
        h, w = img.shape[:2]
        s = min(size, h, w)
        sharp = np.ascontiguousarray(img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        kernel = random_kernel(rng, canvas=32, max_len=20.0, exposures=(1.0,))
        pairs.append((sharp, blur_image(sharp, kernel)))
    return pairs


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _median_time(fn, reps):
    """Median seconds of `reps` calls (the callers have already run fn's model once: traced and warm)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def keras_weights(name, srn_weights):
    """(float32 weights, what they are) for a registered model."""
    import keras

    from deblurkeras.families import build_model

    keras.utils.set_random_seed(0)
    model = build_model(name)
    if name == "srn-color":
        if srn_weights and os.path.isfile(srn_weights):
            from deblurkeras.weights import load_into
            load_into(model, srn_weights, "srn-color")
            return model.get_weights(), f"trained ({srn_weights})"
        from deblurkeras.families.srn.model import identity_init
        identity_init(model)
        return model.get_weights(), "identity-initialised (no trained weights given)"
    return model.get_weights(), "Glorot-random (untrained)"


def bench_keras(name, pairs, reps, srn_weights):
    from deblurkeras import precision
    from deblurkeras.families import build_model, model_io
    from deblurkeras.inference import deblur_array

    io = model_io(name)
    weights, what = keras_weights(name, srn_weights)
    inputs = pairs
    if io.scale > 1:  # super-resolution: the LR image is the sharp crop bicubic-downscaled
        from deblurkeras.families.sr.data import bicubic_down
        inputs = [(sharp, bicubic_down(sharp, io.scale)) for sharp, _ in pairs]
    res = {}
    for p in ("float32", "bfloat16"):
        model = precision.build(lambda: build_model(name), p)
        model.set_weights(weights)
        outs = [deblur_array(model, io, x, transpose=False) for _, x in inputs]
        sec = _median_time(lambda: deblur_array(model, io, inputs[0][1], transpose=False), reps)
        res[p] = (sec, outs)
    return _row(name, what, inputs, res)


def bench_torch_twin(pairs, reps):
    """The DMPHN twin (PyTorch) with the Keras model's weights: float32 vs torch.autocast('cpu', bfloat16)."""
    import torch

    from deblurkeras.convert.export import build_twin, keras_to_torch_state
    from deblurkeras.families import build_model

    weights, what = keras_weights("dmphn-1-2-4-8", None)
    model = build_model("dmphn-1-2-4-8")
    model.set_weights(weights)
    twin = build_twin("dmphn-1-2-4-8")
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in keras_to_torch_state(model, twin).items()})
    twin.eval()

    def run(img, bf16):
        h, w = img.shape[:2]
        ph, pw = -h % 16, -w % 8
        x = np.pad(img / 255.0, ((0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float32) - 0.5
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = twin(torch.from_numpy(x.transpose(2, 0, 1)[None].copy())).float()
        y = y[0].numpy().transpose(1, 2, 0)[:h, :w] + 0.5
        return (np.clip(y, 0, 1) * 255).astype(np.uint8)  # truncation, like the Keras path

    res = {}
    for p in ("float32", "bfloat16"):
        outs = [run(x, p == "bfloat16") for _, x in pairs]
        res[p] = (_median_time(lambda: run(pairs[0][1], p == "bfloat16"), reps), outs)
    return _row("dmphn-1-2-4-8 (PyTorch twin)", what, pairs, res)


def _row(name, what, inputs, res):
    (t32, o32), (t16, o16) = res["float32"], res["bfloat16"]
    return {
        "model": name, "weights": what, "input": f"{inputs[0][1].shape[0]}x{inputs[0][1].shape[1]}",
        "float32_s": round(t32, 3), "bfloat16_s": round(t16, 3), "speedup": round(t32 / t16, 2),
        "psnr_bf16_vs_f32": round(min(psnr(a, b) for a, b in zip(o16, o32)), 2),
        "max_level_diff": int(max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(o16, o32))),
        "psnr_vs_sharp_f32": round(float(np.mean([psnr(o, s) for o, (s, _) in zip(o32, inputs)])), 2),
        "psnr_vs_sharp_bf16": round(float(np.mean([psnr(o, s) for o, (s, _) in zip(o16, inputs)])), 2),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--srn-weights", default=os.path.join(REPO, "demo_out", "run", "generator.weights.h5"))
    ap.add_argument("--size", type=int, default=256, help="square crop of each photo (default 256)")
    ap.add_argument("--photos", default=",".join(PHOTOS), help="scikit-image photo names")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per precision (median; default 3)")
    ap.add_argument("--models", default="srn-color,dmphn-1-2-4-8,srresnet-x4,dense-gan,twin")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for TF and torch (default 2)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)

    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(args.threads)
    from deblurkeras import precision

    flags = precision.cpu_flags()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores, {args.threads} threads; flags: "
          + " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in FLAGS_SHOWN))
    print(precision.resolve("auto").reason)
    pairs = photos(args.photos.split(","), args.size)
    rows = []
    for name in args.models.split(","):
        t0 = time.time()
        row = bench_torch_twin(pairs, args.reps) if name == "twin" else bench_keras(name, pairs, args.reps,
                                                                                   args.srn_weights)
        rows.append(row)
        print("ROW " + json.dumps(row) + f"  ({time.time() - t0:.0f} s)", flush=True)
    print()
    print("| model | weights | input | float32 s | bfloat16 s | speed-up | PSNR bf16 vs f32 (dB) | max level diff "
          "| PSNR vs sharp f32 / bf16 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['weights']} | {r['input']} | {r['float32_s']:.3f} | {r['bfloat16_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['psnr_bf16_vs_f32']:.1f} | {r['max_level_diff']} | "
              f"{r['psnr_vs_sharp_f32']:.2f} / {r['psnr_vs_sharp_bf16']:.2f} |")
    if args.json:
        from deblurkeras.utils import atomic_path
        with atomic_path(args.json) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"cpu": cpu_model(), "flags": sorted(set(FLAGS_SHOWN) & flags),
                           "auto": precision.resolve("auto").reason, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
