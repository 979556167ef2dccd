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

from deblurkeras.convert.zoo import APPS, build  # noqa: E402


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
