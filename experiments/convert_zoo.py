"""convert-keras on architectures nobody here wrote: keras.applications (weights=None) + a small U-Net.

    PYTHONPATH=. python experiments/convert_zoo.py [--models ResNet50,UNet] [--size 64] [--repeats 5]

Per model: build it, give every normalisation layer non-trivial statistics (a fresh BN is almost the identity and
would hide mistakes), convert it (code generation + weights + the per-layer parity check), then time Keras
`model(x)` and the generated module side by side on the same random input (median of --repeats, run alternately
after a warm-up, torch and TensorFlow with their default thread pools).
Prints a Markdown table: model | layers | conversion s | max abs diff | Keras ms | PyTorch ms, where max abs diff
is the largest over every layer call and the output (the classifier heads give logits, classifier_activation=None).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# name -> (builder, minimum input size)
APPS = {
    "ResNet50": ("ResNet50", 32), "MobileNetV2": ("MobileNetV2", 32), "EfficientNetB0": ("EfficientNetB0", 32),
    "DenseNet121": ("DenseNet121", 32), "VGG16": ("VGG16", 32), "Xception": ("Xception", 71),
    "ConvNeXtTiny": ("ConvNeXtTiny", 32),
}


def build_unet(size=None, base=8, depth=2, channels=3, name="unet"):
    """A small U-Net: [conv-BN-ReLU x2, max-pool] down, bilinear up-sampling / transposed conv + skip concat up."""
    import keras
    from keras import layers
    inp = keras.Input((size, size, channels), name="image")
    x, skips = inp, []
    for d in range(depth):
        f = base * 2 ** d
        x = layers.Conv2D(f, 3, padding="same", name=f"down{d}_conv1")(x)
        x = layers.BatchNormalization(name=f"down{d}_bn1")(x)
        x = layers.ReLU(name=f"down{d}_relu1")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"down{d}_conv2")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{d}_pool")(x)
    x = layers.Conv2D(base * 2 ** depth, 3, strides=1, padding="same", activation="relu", name="bottom")(x)
    for d in reversed(range(depth)):
        f = base * 2 ** d
        if d % 2:
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{d}_resize")(x)
        else:
            x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", name=f"up{d}_deconv")(x)
        x = layers.Concatenate(name=f"up{d}_cat")([x, skips[d]])
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"up{d}_conv")(x)
    out = layers.Conv2D(channels, 1, activation="sigmoid", name="head")(x)
    return keras.Model(inp, out, name=name)


def build(name, size):
    import keras
    if name == "UNet":
        return build_unet(None, base=16, depth=3)
    # logits (no softmax): a 1000-way softmax of a random net is ~1e-3 everywhere and would hide differences
    if name == "MobileNetV2-0.35":
        return keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), alpha=0.35,
                                              classifier_activation=None)
    builder, min_size = APPS[name]
    return getattr(keras.applications, builder)(weights=None, input_shape=(max(size, min_size),) * 2 + (3,),
                                                classifier_activation=None)


def side_by_side_ms(fns, repeats):
    """Median ms of each function, run alternately (one warm-up each) so load changes hit both sides alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t)
    return [1000 * float(np.median(t)) for t in times]


def run_one(name, size, repeats, workdir):
    import torch
    from deblurkeras.convert import keras_to_torch
    from deblurkeras.convert.compare import keras_to_torch_array
    from deblurkeras.convert.graph import read_graph
    from deblurkeras.convert.parity import randomize_batchnorm
    model = randomize_batchnorm(build(name, size))
    graph = read_graph(model)
    shape = graph.inputs[0][2]
    hw = (shape[1] or size, shape[2] or size)
    out = os.path.join(workdir, name)
    t = time.perf_counter()
    ok, results, _, _, gen = keras_to_torch.convert_keras(model, out, sizes=[hw])
    seconds = time.perf_counter() - t
    res = results[0]
    x = np.random.RandomState(1).rand(1, *hw, 3).astype(np.float32)
    from deblurkeras.convert import load_torch
    module = load_torch(out) if ok else None
    keras_ms = torch_ms = None
    if module is not None:
        xt = torch.from_numpy(keras_to_torch_array(x))
        with torch.no_grad():
            keras_ms, torch_ms = side_by_side_ms([lambda: model(x, training=False), lambda: module(xt)], repeats)
    worst = max([r["max_abs"] for r in res["rows"] if r["max_abs"] is not None] + [res["max_abs_output"]])
    return {"model": name, "size": f"{hw[0]}x{hw[1]}", "layers": gen.n_layers, "seconds": seconds,
            "max_abs": worst, "out_abs": res["max_abs_output"], "ok": ok, "first": res["first_divergence"],
            "cause": res.get("cause"),
            "keras_ms": keras_ms, "torch_ms": torch_ms}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(list(APPS) + ["UNet"]))
    p.add_argument("--size", type=int, default=64, help="input size (raised to the model's minimum)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="convert_zoo_")
    rows = []
    try:
        print("| model | input | layers | conversion s | max abs diff (any layer) | output max abs | Keras ms | "
              "PyTorch ms | parity |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name in args.models.split(","):
            r = run_one(name.strip(), args.size, args.repeats, workdir)
            rows.append(r)
            keras_ms, torch_ms = (f"{v:.1f}" if v is not None else "—" for v in (r["keras_ms"], r["torch_ms"]))
            verdict = "PASS" if r["ok"] else f"FAIL at {r['first']} ({r['cause']})"
            print(f"| {r['model']} | {r['size']} | {r['layers']} | {r['seconds']:.1f} | {r['max_abs']:.2g} | "
                  f"{r['out_abs']:.2g} | {keras_ms} | {torch_ms} | {verdict} |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["ok"] and r["max_abs"] <= 1e-4 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
