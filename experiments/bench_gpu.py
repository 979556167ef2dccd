"""GPU figures for the precision options: SRN colour training step rate and 720p inference, float32 vs float16 vs bfloat16.

    python experiments/bench_gpu.py                       # the device run: batch 16, 256 crops, 720x1280
    python experiments/bench_gpu.py --tiny                # a CPU check of the script itself (tiny sizes)

Keras 3 runs on whichever backend is there: TensorFlow where it is installed, else JAX (the lent H200 image has JAX
and PyTorch with CUDA, but no TensorFlow; set KERAS_BACKEND to choose). Our models use one TensorFlow op, the TF1
legacy bilinear resize (deblurkeras.layers.resize); on another backend that module's `tf` is replaced by a few
keras.ops with the same arithmetic (TF's compute_interpolation_weights / compute_lerp), checked against TF with
`--check-resize` where TF is installed. Everything else is the project's own model code.

Training: the SRN multi-scale loss (sum over scales of the MSE against the sharp image resized with the model's own
op) with Adam, as `model.compile(loss=[mse]*3)` + `train_on_batch` (the project's SRNTrainer uses tf.GradientTape,
TensorFlow only); mixed_float16 gets Keras' dynamic loss scaling, bfloat16 none. Inference: one 720x1280 image,
the compiled predict (`predict_on_batch`, the output copied back to the host), median of --reps after a warm-up.
float32 on NVIDIA GPUs means TF32 tensor-core convolutions: the default of TF, JAX and PyTorch (cuDNN) alike.
Also the DMPHN PyTorch twin (same weights) in float32 and torch.autocast(bfloat16), as the original framework.
Prints one table; `--json PATH` writes the figures (each row as soon as it is measured).
"""
import argparse
import json
import os
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX and torch share the GPU in this process
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "KERAS_BACKEND" not in os.environ:
    import importlib.util
    os.environ["KERAS_BACKEND"] = "tensorflow" if importlib.util.find_spec("tensorflow") else "jax"

import numpy as np  # noqa: E402

POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


# ------------------------------------------------------------------------------------------- resize off TF
def _tf_shim():
    """The handful of `tf.*` names deblurkeras/layers/resize.py uses, as keras.ops (static shapes: JAX / torch)."""
    from keras import ops

    def cast(x, dtype):
        if isinstance(x, (int, float, np.integer, np.floating)):
            return int(x) if dtype == "int32" else float(x)
        return ops.cast(x, dtype)

    def resize_bilinear(images, size, align_corners=False, half_pixel_centers=False):
        assert not align_corners
        x = ops.cast(images, "float32")
        n_in = x.shape[1], x.shape[2]
        lo_hi_lerp = [_interpolation(i, int(o), half_pixel_centers) for i, o in zip(n_in, size)]
        (ylo, yhi, ylerp), (xlo, xhi, xlerp) = lo_hi_lerp
        top, bottom = ops.take(x, ylo, axis=1), ops.take(x, yhi, axis=1)
        xl = ops.reshape(xlerp, (1, 1, -1, 1))
        top = ops.take(top, xlo, axis=2) + (ops.take(top, xhi, axis=2) - ops.take(top, xlo, axis=2)) * xl
        bottom = ops.take(bottom, xlo, axis=2) + (ops.take(bottom, xhi, axis=2) - ops.take(bottom, xlo, axis=2)) * xl
        return top + (bottom - top) * ops.reshape(ylerp, (1, -1, 1, 1))

    return types.SimpleNamespace(
        int32="int32", float64="float64", cast=cast, stack=tuple, shape=ops.shape,
        round=lambda v: float(np.round(v)),  # half to even, like tf.round
        raw_ops=types.SimpleNamespace(ResizeBilinear=resize_bilinear))


def _interpolation(n_in, n_out, half_pixel):
    """TF's compute_interpolation_weights in float32: lower / upper source index and lerp per output index."""
    scale = np.float32(n_in) / np.float32(n_out)
    o = np.arange(n_out, dtype=np.float32)
    src = (o + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel else o * scale
    src_f = np.floor(src)
    lower = np.maximum(src_f, 0).astype(np.int32)
    upper = np.minimum(np.ceil(src), n_in - 1).astype(np.int32)
    return lower, upper, (src - src_f).astype(np.float32)


def install_resize():
    """Off TensorFlow: load deblurkeras.layers.resize with the keras.ops shim as its `tf` (before the models)."""
    import importlib.util

    if os.environ["KERAS_BACKEND"] == "tensorflow":
        return "TensorFlow ops"
    path = os.path.join(ROOT, "deblurkeras", "layers", "resize.py")
    spec = importlib.util.spec_from_file_location("deblurkeras.layers.resize", path)
    module = importlib.util.module_from_spec(spec)
    source = open(path, encoding="utf-8").read().replace("import tensorflow as tf\n", "")
    module.tf = _tf_shim()
    sys.modules[spec.name] = module
    exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - our own file
    return "keras.ops port of the TF1 resize (bench_gpu._tf_shim)"


def check_resize():
    """Max |difference| of the shim against tf.raw_ops.ResizeBilinear (needs TensorFlow)."""
    import tensorflow as tf

    shim = _tf_shim()
    x = np.random.default_rng(0).random((2, 45, 80, 3), dtype=np.float32)
    worst = 0.0
    for size in ((23, 40), (90, 160), (12, 20), (45, 80), (31, 57)):
        for half in (False, True):
            ref = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False, half_pixel_centers=half)
            got = np.asarray(shim.raw_ops.ResizeBilinear(x, size, False, half))
            worst = max(worst, float(np.abs(ref.numpy() - got).max()))
    return worst


# ------------------------------------------------------------------------------------------- helpers
def _device():
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        d = jax.devices()[0]
        return f"{d.platform}:{getattr(d, 'device_kind', d)}", backend
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return f"gpu:{tf.config.experimental.get_device_details(gpus[0]).get('device_name')}", backend
    return "cpu", backend


def _build(name, precision, **kw):
    import keras

    from deblurkeras.families import build_model

    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        return build_model(name, **kw)
    finally:
        keras.mixed_precision.set_global_policy(old)


def _median_time(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


class Table:
    def __init__(self, json_path):
        self.rows, self.json_path = [], json_path

    def add(self, **row):
        self.rows.append(row)
        print("ROW " + json.dumps(row), flush=True)
        if self.json_path:
            tmp = self.json_path + ".partial"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.rows, f, indent=1)
            os.replace(tmp, self.json_path)


# ------------------------------------------------------------------------------------------- measurements
def bench_inference(table, name, precisions, size, reps, weights_of):
    from deblurkeras.families import model_io

    io = model_io(name)
    rng = np.random.default_rng(0)
    x01 = rng.random((1, *size, 3), dtype=np.float32)
    x = (x01 * np.asarray(io.in_scale, np.float32) + np.asarray(io.in_offset, np.float32)).astype(np.float32)
    ref = None
    for p in precisions:
        model = _build(name, p)
        model.set_weights(weights_of(name))
        t0 = time.perf_counter()
        y = model.predict_on_batch(x)
        first = time.perf_counter() - t0
        sec = _median_time(lambda: model.predict_on_batch(x), reps)
        y = np.asarray(y[io.output_index] if isinstance(y, (list, tuple)) else y, np.float32)
        y01 = np.clip((y - io.out_offset) / io.out_scale, 0, 1)
        ref = y01 if ref is None else ref
        diff = float(np.abs(y01 - ref).max())
        table.add(kind="inference", model=name, precision=p, size=f"{size[0]}x{size[1]}", seconds=round(sec, 5),
                  first_call_s=round(first, 2), max_abs_diff_vs_float32=diff)
        del model


def bench_train(table, precisions, batch, crop, steps, weights_of):

    from deblurkeras.layers.resize import resize_bilinear
    rng = np.random.default_rng(0)
    blurred = rng.random((batch, crop, crop, 3), dtype=np.float32)
    sharp = rng.random((batch, crop, crop, 3), dtype=np.float32)
    targets = [np.asarray(resize_bilinear(sharp, (crop // 4, crop // 4))),
               np.asarray(resize_bilinear(sharp, (crop // 2, crop // 2))), sharp]  # the loss's per-scale targets
    for p in precisions:
        try:
            _train_one(table, p, blurred, targets, batch, crop, steps, weights_of)
        except Exception as e:  # float16 failing must not cost the bfloat16 figure
            print(f"FAILED train {p}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)


def _train_one(table, p, blurred, targets, batch, crop, steps, weights_of):
    import keras

    keras.utils.set_random_seed(0)
    model = _build("srn-color", p)
    model.set_weights(weights_of("srn-color"))
    model.compile(optimizer=keras.optimizers.Adam(1e-4, epsilon=1e-8), loss=["mse"] * 3)
    t0 = time.perf_counter()
    loss = model.train_on_batch(blurred, targets)
    first = time.perf_counter() - t0
    for _ in range(2):
        model.train_on_batch(blurred, targets)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(blurred, targets)
    sec = (time.perf_counter() - t0) / steps
    loss = float(np.ravel(loss)[0])
    table.add(kind="train", model="srn-color", precision=p, size=f"{batch}x{crop}x{crop}",
              seconds=round(sec, 5), steps_per_s=round(1 / sec, 2), first_call_s=round(first, 2),
              loss=loss, optimizer=type(model.optimizer).__name__)
    del model


def bench_torch_twin(table, size, reps, weights_of):
    """The DMPHN PyTorch twin with the Keras model's weights, float32 and torch.autocast(bfloat16)."""
    import torch

    from deblurkeras.convert.export import build_twin, keras_to_torch_state
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = _build("dmphn-1-2-4-8", "float32")
    model.set_weights(weights_of("dmphn-1-2-4-8"))
    twin = build_twin("dmphn-1-2-4-8")
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in keras_to_torch_state(model, twin).items()})
    twin = twin.to(dev).eval()
    x = torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(0)).to(dev) - 0.5
    ref = None
    for p in ("float32", "bfloat16"):
        def run():
            with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=p == "bfloat16"):
                y = twin(x).float()
            if dev == "cuda":
                torch.cuda.synchronize()
            return y
        t0 = time.perf_counter()
        y = run()
        first = time.perf_counter() - t0
        sec = _median_time(run, reps)
        y = y.cpu().numpy()
        ref = y if ref is None else ref
        table.add(kind="inference", model="dmphn-1-2-4-8 (PyTorch twin)", precision=p, size=f"{size[0]}x{size[1]}",
                  seconds=round(sec, 5), first_call_s=round(first, 2),
                  max_abs_diff_vs_float32=float(np.abs(np.clip(y + 0.5, 0, 1) - np.clip(ref + 0.5, 0, 1)).max()))


def print_table(rows):
    print()
    print(f"{'work':10} {'model':30} {'size':12} {'float32':>9} {'float16':>9} {'bfloat16':>9} {'bf16 x':>7} "
          f"{'max|d| bf16':>11}")
    keys = []
    for r in rows:
        k = (r["kind"], r["model"], r["size"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        by = {r["precision"]: r for r in rows if (r["kind"], r["model"], r["size"]) == k}
        cell = lambda p: f"{by[p]['seconds']:9.4f}" if p in by else f"{'-':>9}"  # noqa: E731
        ratio = by["float32"]["seconds"] / by["bfloat16"]["seconds"] if {"float32", "bfloat16"} <= set(by) else None
        d = by.get("bfloat16", {}).get("max_abs_diff_vs_float32")
        print(f"{k[0]:10} {k[1]:30} {k[2]:12} {cell('float32')} {cell('float16')} {cell('bfloat16')} "
              f"{'-' if ratio is None else f'{ratio:6.2f}x':>7} {'-' if d is None else f'{d:11.2e}'}")
    print("(seconds per step / per image: median; float32 = TF32 tensor cores, the frameworks' default)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny sizes: a CPU check of the script")
    p.add_argument("--json", default=None, help="write the rows here (rewritten after each row)")
    p.add_argument("--check-resize", action="store_true", help="compare the keras.ops resize with TF's and exit")
    p.add_argument("--skip", default="", help="comma list of parts to skip: infer,train,twin")
    p.add_argument("--models", default="srn-color,dmphn-1-2-4-8,dense-gan", help="models timed at inference")
    p.add_argument("--require-gpu", action="store_true", help="stop at once unless Keras' backend sees a GPU")
    p.add_argument("--budget-s", type=float, default=None, help="skip the parts that start after this many seconds")
    args = p.parse_args(argv)
    if args.check_resize:
        print(f"keras.ops resize vs tf.raw_ops.ResizeBilinear: max |diff| {check_resize():.3g}")
        return 0
    t_start = time.time()
    how = install_resize()
    import keras

    from deblurkeras.families.srn.model import identity_init
    device, backend = _device()
    print(f"backend {backend} (keras {keras.__version__}), device {device}, resize: {how}", flush=True)
    if args.require_gpu and not device.startswith("gpu"):
        print("no GPU visible to the Keras backend: stopping (--require-gpu)")
        return 3
    size, reps = ((48, 80), 2) if args.tiny else ((720, 1280), 5)
    batch, crop, steps = (2, 32, 2) if args.tiny else (16, 256, 10)

    weights = {}

    def weights_of(name):
        """Float32 weights once per model: SRN identity-initialised (outputs are images, like trained weights),
        the others Glorot-random (the figures compare speed; output differences are reported, not judged)."""
        if name not in weights:
            keras.utils.set_random_seed(0)
            m = _build(name, "float32")
            if name.startswith("srn"):
                identity_init(m)
            weights[name] = m.get_weights()
        return weights[name]

    table = Table(args.json)
    skip = set(filter(None, args.skip.split(",")))
    parts = []
    if "infer" not in skip:
        for name in args.models.split(","):
            parts.append((f"infer {name}", lambda n=name: bench_inference(table, n, ("float32", "bfloat16"), size,
                                                                          reps, weights_of)))
    if "train" not in skip:  # second: the most wanted figure after the first model's inference
        parts.insert(min(1, len(parts)), ("train", lambda: bench_train(table, ("float32", "float16", "bfloat16"),
                                                                       batch, crop, steps, weights_of)))
    if "twin" not in skip:
        parts.append(("twin", lambda: bench_torch_twin(table, size, reps, weights_of)))
    for label, fn in parts:
        if args.budget_s and time.time() - t_start > args.budget_s:
            print(f"SKIPPED {label}: past --budget-s {args.budget_s:.0f}", flush=True)
            continue
        t0 = time.time()
        try:
            fn()
        except Exception as e:  # one failing part must not cost the others' figures
            print(f"FAILED {label}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
        print(f"part {label}: {time.time() - t0:.0f} s", flush=True)
    print_table(table.rows)
    print(f"total {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
