"""Benchmark: data_tools/build_hdf5.py against a reference builder that follows the original algorithm.

The reference (written here from the description in REFERENCE §2, not copied) decodes each side-by-side JPEG,
crops the halves, resizes them with Pillow LANCZOS, appends the arrays to Python lists and calls
`create_dataset(data=list)` at the end of each split. It globs sorted (the original's order is arbitrary) so the
two outputs can be compared index by index.

One run prints, on the real sample set repeated to >= 6,000 images (file names made unique by symlinks):
  1. byte-identical arrays: ours (--workers 2) vs the reference, dataset by dataset;
  2. throughput (images/s) of the reference, ours --workers 1 and ours --workers 2, and the ratio to the reference;
  3. peak RSS of each builder at 1x and 10x the input (604 -> 6,040 images), each build in its own subprocess,
     measured as the peak of the summed RSS of the process tree (psutil, sampled every 20 ms) and by getrusage.

    .venv/bin/python experiments/bench_build_hdf5.py [--repeat 10] [--work /tmp/bench_build_hdf5] [--keep]

Not a test: it takes minutes and needs ../shared/data/side_by_side_small/train. Throughput on a shared machine
is noisy: run it when the machine is otherwise idle for meaningful ratios.
"""
import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(os.path.dirname(REPO), "shared", "data", "side_by_side_small", "train")
KEYS = ("train_data_full", "train_data_blur", "test_data_full", "test_data_blur")


# ---------------------------------------------------------------- the reference builder (original algorithm)

def reference_build(jpeg_dir, out, size=256):
    import h5py
    from PIL import Image

    with h5py.File(out, "w") as f:
        for split in ("train", "test"):
            full, blur = [], []
            for path in sorted(glob.glob(os.path.join(jpeg_dir, split, "*.jpg"))):
                img = Image.open(path)
                w, h = img.size
                left = img.crop((0, 0, w // 2, h)).resize((size, size), Image.LANCZOS)
                right = img.crop((w - w // 2, 0, w, h)).resize((size, size), Image.LANCZOS)
                full.append(np.asarray(left, dtype=np.uint8))
                blur.append(np.asarray(right, dtype=np.uint8))
            f.create_dataset(f"{split}_data_full", data=full)
            f.create_dataset(f"{split}_data_blur", data=blur)


# ---------------------------------------------------------------- one build in a child process

def child(kind, input_dir, out, workers):
    t0 = time.perf_counter()
    if kind == "ref":
        reference_build(input_dir, out)
    else:
        sys.path.insert(0, REPO)
        from data_tools import build_hdf5

        rc = build_hdf5.main([input_dir, "--out", out, "--workers", str(workers), "--quiet"])
        assert rc == 0, rc
    seconds = time.perf_counter() - t0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("RESULT " + json.dumps(dict(seconds=seconds, maxrss_self_mb=self_kb / 1024, maxrss_child_mb=kids_kb / 1024)))


def measure(kind, input_dir, out, workers=1):
    """Run one build in a subprocess; sample the summed RSS of its process tree. Returns a dict of figures."""
    import psutil

    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--input", input_dir, "--out", out,
           "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{kind} build failed ({proc.returncode}):\n{stderr[-2000:]}")
    result = json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))[7:])
    result["tree_peak_mb"] = peak / 2**20
    return result


# ---------------------------------------------------------------- inputs and comparison

def make_input(root, repeat, n_test=4):
    """root/train = the sample set repeated `repeat` times (symlinks, unique names); root/test = n_test files."""
    files = sorted(f for f in os.listdir(SAMPLE) if f.endswith(".jpg"))
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    os.makedirs(os.path.join(root, "test"), exist_ok=True)
    for r in range(repeat):
        for f in files:
            os.symlink(os.path.join(SAMPLE, f), os.path.join(root, "train", f"r{r:02d}_{f}"))
    for f in files[:n_test]:
        os.symlink(os.path.join(SAMPLE, f), os.path.join(root, "test", f))
    return repeat * len(files) + n_test


def identical(a, b, step=256):
    """Compare the four datasets of two files in slices (never the whole file in memory)."""
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for k in KEYS:
            if fa[k].shape != fb[k].shape or fa[k].dtype != fb[k].dtype:
                return f"{k}: {fa[k].shape} {fa[k].dtype} vs {fb[k].shape} {fb[k].dtype}"
            for i in range(0, fa[k].shape[0], step):
                if not np.array_equal(fa[k][i:i + step], fb[k][i:i + step]):
                    return f"{k}: differs in rows {i}..{i + step}"
    return "identical"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=10, help="copies of the 604-image sample set (10 -> 6,040)")
    p.add_argument("--work", default="/tmp/bench_build_hdf5")
    p.add_argument("--keep", action="store_true", help="keep the work folder (inputs and outputs)")
    p.add_argument("--child", choices=("ref", "ours"), help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.input, a.out, a.workers)
    if not os.path.isdir(SAMPLE):
        raise SystemExit(f"sample set not found: {SAMPLE}")
    shutil.rmtree(a.work, ignore_errors=True)
    small, big = os.path.join(a.work, "in_1x"), os.path.join(a.work, "in_10x")
    n_small, n_big = make_input(small, max(1, a.repeat // 10)), make_input(big, a.repeat)
    print(f"inputs: {n_small} and {n_big} side-by-side JPEGs (train + test); cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    runs = {}
    for label, kind, inp, workers in (("ref 1x", "ref", small, 1), ("ours w2 1x", "ours", small, 2),
                                      ("ref 10x", "ref", big, 1), ("ours w1 10x", "ours", big, 1),
                                      ("ours w2 10x", "ours", big, 2)):
        out = os.path.join(a.work, label.replace(" ", "_") + ".h5")
        r = measure(kind, inp, out, workers)
        r.update(out=out, images=n_small if inp == small else n_big)
        runs[label] = r
        print(f"{label:12s} {r['images']:5d} img  {r['seconds']:7.1f} s  {r['images'] / r['seconds']:7.1f} img/s  "
              f"peak RSS tree {r['tree_peak_mb']:7.0f} MB (getrusage main {r['maxrss_self_mb']:.0f} MB, "
              f"largest child process {r['maxrss_child_mb']:.0f} MB)")
    print()
    print(f"byte-identical arrays, ours --workers 2 vs reference (10x): "
          f"{identical(runs['ours w2 10x']['out'], runs['ref 10x']['out'])}")
    print(f"byte-identical arrays, ours --workers 1 vs reference (10x): "
          f"{identical(runs['ours w1 10x']['out'], runs['ref 10x']['out'])}")
    ref_t = runs["ref 10x"]["images"] / runs["ref 10x"]["seconds"]
    for label in ("ours w1 10x", "ours w2 10x"):
        t = runs[label]["images"] / runs[label]["seconds"]
        print(f"throughput {label} / reference: {t / ref_t:.2f}x")
    for who, a1, a10 in (("reference", "ref 1x", "ref 10x"), ("ours --workers 2", "ours w2 1x", "ours w2 10x")):
        m1, m10 = runs[a1]["tree_peak_mb"], runs[a10]["tree_peak_mb"]
        print(f"peak RSS {who}: {m1:.0f} MB at {runs[a1]['images']} images -> {m10:.0f} MB at "
              f"{runs[a10]['images']} images ({m10 / m1:.2f}x for {runs[a10]['images'] / runs[a1]['images']:.0f}x input)")
    if not a.keep:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
