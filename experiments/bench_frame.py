"""Time and peak memory of one 1280x720 frame, model beside model (Stack-DMPHN beside DMPHN 1-2-4-8 by default).

    python -m experiments.bench_frame [--models dmphn-1-2-4-8,stack-dmphn-2,stack-dmphn-4] [--size 720x1280]
        [--repeats 2] [--json OUT]

One fresh process per model (peak RSS only grows), random weights (time and memory do not depend on them): build,
one predict_01 at 64x64 (tracing), then `repeats` untiled predict_01 runs on a random uint8 frame, as `deblur
--tile 0` runs it. Prints seconds per frame (the best and the median of the repeats), the ratio to the first model,
and the process's peak RSS. The machine is what it is: on shared CPUs, compare the ratios of one run.
"""
import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from deblurkeras.families import build_model, model_io
from deblurkeras.inference import predict_01
name, h, w, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
io = model_io(name)
model = build_model(name)
predict_01(model, io, np.zeros((64, 64, 3), np.uint8), transpose=False)
img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    predict_01(model, io, img, transpose=False)
    times.append(time.perf_counter() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT", json.dumps({"model": name, "seconds": times, "peak_rss": rss, "params": model.count_params()}))
"""


def measure(name, h, w, repeats):
    out = subprocess.run([sys.executable, "-c", _CHILD, name, str(h), str(w), str(repeats)], capture_output=True,
                         text=True, timeout=3600)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not line:
        raise RuntimeError(f"{name}: {out.stderr[-2000:]}")
    return json.loads(line[0][7:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="dmphn-1-2-4-8,stack-dmphn-2,stack-dmphn-4")
    p.add_argument("--size", default="720x1280", help="HxW")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    rows = []
    print(f"| model | parameters | s / {w}x{h} frame (best, median) | vs {args.models.split(',')[0]} | peak RSS |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        r = measure(name, h, w, args.repeats)
        times = sorted(r["seconds"])
        r["best"], r["median"] = times[0], times[len(times) // 2]
        rows.append(r)
        print(f"| {name} | {r['params']:,} | {r['best']:.1f}, {r['median']:.1f} | {r['best'] / rows[0]['best']:.2f}x "
              f"| {r['peak_rss'] / 2 ** 20:.0f} MB |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
