"""Inference engines side by side: Keras float32 / bfloat16, the PyTorch twin, ONNX Runtime, OpenVINO f32 / bf16.

    .venv/bin/python experiments/bench_engines.py [--size 720x1280] [--threads 2] [--repeats 2] [--json out.json]

One run, same weights (seeded random, BN statistics randomised) and the same input for every engine: SRN colour,
DMPHN 1-2-4-8 and SRResNet x4 at --size (SR: the input is --size / 4, e.g. 180x320 -> 720x1280). The ONNX file is
written by `export_onnx` (the per-layer parity check at small sizes included) and run by onnxruntime and OpenVINO
through `deblurkeras.engines.OnnxEngine`, the code `--engine` uses. Prints seconds per image (median of --repeats
after one warm-up run), the ratio to Keras float32, and the PSNR of each output against Keras float32 (in [0, 1]
units, peak 1). Every engine gets --threads intra-op threads. The CPU model and load average are printed: on a
shared machine the times are noisy, the PSNR column is not.
"""
import argparse
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODELS = ("srn-color", "dmphn-1-2-4-8", "srresnet-x4")


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="720x1280", help="HxW of the deblurring input / of the SR output")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--engines", default="keras-f32,keras-bf16,torch,onnxruntime,openvino-f32,openvino-bf16")
    p.add_argument("--json", help="also write the rows here")
    return p.parse_args()


def timed(fn, repeats):
    out = fn()  # warm-up: tracing, graph compilation, allocator
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def psnr01(a, b):
    import numpy as np
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def bench_model(name, size, args, engines, tmp):
    import keras
    import numpy as np
    import torch
    from deblurkeras import precision, registry
    from deblurkeras.convert import export
    from deblurkeras.convert.onnx_export import export_onnx
    from deblurkeras.convert.parity import output_to_image_range, randomize_batchnorm
    from deblurkeras.convert.pipeline import parity_input
    from deblurkeras.engines import OnnxEngine
    from deblurkeras.inference import forward_fn

    io = registry.model_io(name)
    mh, mw = io.multiples  # padded up to the model's multiples, as deblur does (720x1280 already is)
    h, w = -(-size[0] // io.scale // mh) * mh, -(-size[1] // io.scale // mw) * mw
    keras.utils.set_random_seed(0)
    model = randomize_batchnorm(registry.build_model(name))
    output_to_image_range(model, parity_input(name, (64, 64), seed=2), io.output_index)  # trained-like output scale
    x = parity_input(name, (h, w), seed=1)
    to01 = lambda y: (np.asarray(y, np.float32) - io.out_offset) / io.out_scale  # noqa: E731
    f = forward_fn(model, io)
    runs = {"keras-f32": lambda: f(x).numpy()}  # always: the reference of every ratio and PSNR
    if "keras-bf16" in engines:
        fb = forward_fn(precision.apply(model, "bfloat16"), io)
        runs["keras-bf16"] = lambda: fb(x).numpy()
    if "torch" in engines:
        twin = export.build_twin(name)
        twin.load_state_dict(export.keras_to_torch_state(model, twin))
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

        def run_torch():
            with torch.no_grad():
                y = twin(xt)
            y = y[io.output_index] if isinstance(y, (list, tuple)) else y
            return y.numpy().transpose(0, 2, 3, 1)
        runs["torch"] = run_torch
    if any(e.startswith(("onnx", "openvino")) for e in engines):
        path = os.path.join(tmp, f"{name}.onnx")
        t = time.perf_counter()
        ok, results, _, _ = export_onnx(name, path, keras_model=model)
        print(f"  export-onnx {name}: {'PASS' if ok else 'FAIL'} in {time.perf_counter() - t:.1f} s, "
              f"max abs at the check sizes {max(r['max_abs_output'] for r in results):.2g}", flush=True)
        for e in engines if ok else []:  # no file is written when parity fails
            if e == "onnxruntime":
                runs[e] = OnnxEngine(path, "onnxruntime", threads=args.threads).predict_nhwc
            elif e.startswith("openvino"):
                runs[e] = OnnxEngine(path, "openvino", "bfloat16" if e.endswith("bf16") else "float32",
                                     threads=args.threads).predict_nhwc
        for e in [e for e in runs if e in ("onnxruntime",) or e.startswith("openvino")]:
            fn = runs[e]
            runs[e] = lambda fn=fn: fn(x)
    rows, ref, base = [], None, None
    for e in ["keras-f32"] + [e for e in engines if e != "keras-f32" and e in runs]:
        sec, y = timed(runs[e], args.repeats)
        y = to01(y)
        if e == "keras-f32":
            ref, base = y, sec
        rows.append({"model": name, "input": f"{h}x{w}", "engine": e, "seconds": sec, "ratio": sec / base,
                     "psnr_vs_keras_f32": psnr01(ref, y)})
        r = rows[-1]
        print(f"  {name:14s} {e:14s} {sec:8.3f} s  x{r['ratio']:.2f}  PSNR {r['psnr_vs_keras_f32']:.1f} dB", flush=True)
    return rows


def main():
    args = parse()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import torch
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores), {args.threads} threads; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows += bench_model(name, size, args, engines, tmp)
    print(f"\nload average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print("| model | input | engine | s / image | ratio to Keras f32 | PSNR vs Keras f32 (dB) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['input']} | {r['engine']} | {r['seconds']:.3f} | {r['ratio']:.2f} | "
              f"{r['psnr_vs_keras_f32']:.1f} |")
    if args.json:
        import json
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"cpu": cpu_name(), "threads": args.threads, "size": args.size, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
