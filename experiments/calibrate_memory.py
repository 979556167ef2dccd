"""Measure the memory coefficients of each model (ModelSpec.memory, which deblurkeras.memory plans with): peak RSS
per padded input pixel, largest tensor.

    python -m experiments.calibrate_memory [--models srn-color,dense-gan] [--sizes 256,512,768]

One fresh process per model (peak RSS only grows): build it with random weights (peak memory does not depend on the
weights), run `inference.predict_01` untiled at a tiny size (tracing), then at each size in increasing order, and
read the process's peak RSS (ru_maxrss) after each. bytes/pixel = least-squares slope of (peak RSS - the image
buffers memory.image_bytes counts separately) against padded input pixels. Largest tensor: the most elements of any
op output in the traced graph at 128x128, per input pixel. Prints one line per model, ready for its ModelSpec.
"""
import argparse
import json
import subprocess
import sys

DEBLUR_SIZES = (256, 512, 768)
SR_SIZES = (64, 128, 192)

_CHILD = r"""
import json, resource, sys
import numpy as np
import tensorflow as tf
from deblurkeras.families import build_model, model_io
from deblurkeras.inference import predict_01
from deblurkeras import memory
name, sizes = sys.argv[1], json.loads(sys.argv[2])
io = model_io(name)
model = build_model(name)
predict_01(model, io, np.zeros((64, 64, 3), np.uint8))
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rows = [(0, rss(), 0)]
rng = np.random.default_rng(0)
for n in sizes:
    img = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
    predict_01(model, io, img, transpose=False)
    rows.append((memory._padded(n, n, io), rss(), memory.image_bytes(n, n, io)))
# the largest op output of the graph at 128x128
c = 1 if io.channels == 1 else 3
b = 3 if io.channels == 1 else 1
fn = tf.function(lambda x: model(x, training=False))
g = fn.get_concrete_function(tf.TensorSpec((b, 128, 128, c), tf.float32)).graph
most = max((t.shape.num_elements() or 0) for op in g.get_operations() for t in op.outputs)
print("RESULT", json.dumps({"rows": rows, "elements_per_pixel": most / (128 * 128)}))
"""


def measure(name, sizes):
    out = subprocess.run([sys.executable, "-c", _CHILD, name, json.dumps(list(sizes))], capture_output=True,
                         text=True, timeout=1800)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not line:
        raise RuntimeError(f"{name}: {out.stderr[-2000:]}")
    return json.loads(line[0][7:])


def slope(rows):
    import numpy as np
    pts = [(px, peak - img) for px, peak, img in rows[1:]]
    x, y = np.array(pts, float).T
    k, c = np.polyfit(x, y, 1)
    return float(k), float(c)


def main(argv=None):
    from deblurkeras import families
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(n for n in families.model_names(image_only=True) if n != "srgan-x4"))
    p.add_argument("--sizes", default=None, help="square sizes (default 256,512,768; 64,128,192 for x4 SR)")
    args = p.parse_args(argv)
    for name in args.models.split(","):
        io = families.model_io(name)
        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (SR_SIZES if io.scale > 1 else DEBLUR_SIZES)
        r = measure(name, sizes)
        k, c = slope(r["rows"])
        peaks = ", ".join(f"{px}px:{peak / 2**20:.0f}MB" for px, peak, _ in r["rows"])
        print(f'    {name}: memory=({k:.0f}.0, {r["elements_per_pixel"]:.0f}.0),  # intercept {c / 2**20:.0f} MB; '
              f'peak RSS {peaks}', flush=True)


if __name__ == "__main__":
    main()
