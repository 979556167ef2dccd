"""Benchmark SRN-DeblurNet (colour) inference: ms per image with and without XLA, and peak memory of a 720p run.

    python experiments/bench_srn_inference.py --sizes 256x256 720x1280 --repeats 3 [--memory]

Sizes are HxW. Timing: one `tf.function` per mode over the finest output (`jit_compile=False` / `True`), batch 1,
random weights (speed does not depend on their values), warm-up calls (tracing, XLA compilation) excluded. The
two modes are timed alternately, repeat by repeat, so load from other processes on a shared machine hits both
alike; the XLA/no-XLA ratio is the ratio of the medians measured in this run. `--memory` runs `deblurkeras deblur`
on a 1280x720 image in fresh subprocesses (model only, whole image, tiled) and prints each one's peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _size(text):
    h, w = text.lower().split("x")
    return int(h), int(w)


def thread_info():
    import tensorflow as tf
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"threads: os.cpu_count()={os.cpu_count()} usable={usable} "
            f"tf intra_op={intra or 'default(all cores)'} inter_op={inter or 'default'}")


def time_size(model, h, w, repeats, warmup):
    import tensorflow as tf
    x = tf.random.stateless_uniform((1, h, w, 3), seed=(1, 2))
    fns = {jit: tf.function(lambda t: model(t, training=False)[-1], jit_compile=jit) for jit in (False, True)}
    compile_s = {}
    for jit, fn in fns.items():
        t0 = time.perf_counter()
        for _ in range(warmup):
            fn(x).numpy()
        compile_s[jit] = time.perf_counter() - t0
    times = {False: [], True: []}
    for _ in range(repeats):
        for jit, fn in fns.items():
            t0 = time.perf_counter()
            fn(x).numpy()
            times[jit].append((time.perf_counter() - t0) * 1000)
    return times, compile_s


def bench(sizes, repeats, warmup):
    from deblurkeras.families import build_model
    print(thread_info())
    model = build_model("srn-color")
    print(f"model srn-color, {model.count_params():,} parameters, batch 1, repeats {repeats}, warm-up {warmup}")
    for h, w in sizes:
        times, compile_s = time_size(model, h, w, repeats, warmup)
        med = {k: statistics.median(v) for k, v in times.items()}
        for jit in (False, True):
            print(f"{h}x{w} {'XLA   ' if jit else 'no-XLA'}: median {med[jit]:9.1f} ms/image  "
                  f"(min {min(times[jit]):.1f}, max {max(times[jit]):.1f}; warm-up {compile_s[jit]:.1f} s)")
        print(f"{h}x{w} ratio XLA/no-XLA (medians, same run): {med[True] / med[False]:.3f}")


_CHILD = """
import resource, sys
from deblurkeras.cli import main
argv = sys.argv[1:]
if argv[0] == "--load-only":
    from deblurkeras.inference import load_model
    load_model("srn-color", argv[1]); rc = 0
else:
    rc = main(argv)
print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "RC", rc)
"""


def memory(tile, overlap):
    import numpy as np
    from deblurkeras.imageio import save_image
    from deblurkeras.families import build_model
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "color.weights.h5")
        build_model("srn-color").save_weights(weights)
        img = os.path.join(tmp, "720p.png")
        save_image(img, np.random.RandomState(0).randint(0, 256, (720, 1280, 3)).astype(np.uint8))
        deblur = ["deblur", img, "--model", "srn-color", "--weights", weights, "--out", os.path.join(tmp, "out")]
        runs = [("model only (TF + model + weights)", ["--load-only", weights]),
                ("1280x720 whole image", deblur),
                (f"1280x720 --tile {tile} --overlap {overlap}", deblur + ["--tile", str(tile), "--overlap", str(overlap)])]
        for label, argv in runs:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True)
            line = [x for x in proc.stdout.splitlines() if x.startswith("PEAK_RSS_MB")]
            if proc.returncode or not line:
                print(f"{label}: failed (rc {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
                continue
            mb = float(line[0].split()[1])
            print(f"peak RSS {label}: {mb:.0f} MB ({time.perf_counter() - t0:.1f} s)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=_size, default=[(256, 256), (720, 1280)], help="HxW sizes")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per size and mode")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per size and mode (tracing, XLA compile)")
    p.add_argument("--threads", type=int, default=0, help="set TF intra-op threads (0: TF default)")
    p.add_argument("--memory", action="store_true", help="also measure peak RSS of 1280x720 deblur runs")
    p.add_argument("--no-timing", action="store_true", help="skip the timing (with --memory)")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    args = p.parse_args(argv)
    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    if not args.no_timing:
        bench(args.sizes, args.repeats, args.warmup)
    if args.memory:
        memory(args.tile, args.overlap)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
