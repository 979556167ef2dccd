"""Benchmark: `build-hdf5 --workers 2` (deblurkeras.data.build) against a builder following the original algorithm.

The reference (written here from the description of leftthomas/ImageDeblurring's build_hdf5.py, not copied) decodes
each side-by-side JPEG, crops the halves, resizes them with Pillow LANCZOS, appends the arrays to Python lists and
calls `create_dataset(data=list)` at the end of each split. It globs sorted (the original's order is arbitrary) so the
two outputs can be compared index by index. Each build runs in its own fresh process, timed from process start to exit
(interpreter start-up and imports included, for both), alternately; the median of --trials runs.

Sets (train/ + 4 test images):
  - the real sample set (604 side-by-side 512x256 JPEGs) repeated 4x and 10x (symlinks, unique names), --size 256;
  - GoPro-sized: --gopro-pairs synthetic 1280x720 pairs (scikit-image photos, LANCZOS-resized crops, blurred with
    the project's random camera-shake kernels) written as blur/ + sharp/ PNGs and combined into 2560x720
    side-by-side JPEGs by data_tools/combine_pairs.py; built with --size 0 and --size 256.
Per set it prints the seconds of each builder (median of --trials), the ratio reference / ours (>1 = ours faster),
byte-identity of the four arrays, and the peak RSS of the process tree (psutil every 20 ms, in a separate run so
the sampling does not slow the timed ones).

    python experiments/bench_build_hdf5.py [--repeats 4 10] [--gopro-pairs 60] [--trials 2] [--work DIR]

Not a test: it takes minutes and needs ../shared/data/side_by_side_small/train. Ratios on a shared machine are
noisy: the load average is printed with the results.
"""
import argparse
import glob
import json
import os
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
                left, right = img.crop((0, 0, w // 2, h)), img.crop((w - w // 2, 0, w, h))
                if size:  # --size 0 (native size, no resize) has no original counterpart: crops only
                    left, right = left.resize((size, size), Image.LANCZOS), right.resize((size, size), Image.LANCZOS)
                full.append(np.asarray(left, dtype=np.uint8))
                blur.append(np.asarray(right, dtype=np.uint8))
            f.create_dataset(f"{split}_data_full", data=full)
            f.create_dataset(f"{split}_data_blur", data=blur)


def child(kind, input_dir, out, workers, size):
    if kind == "ref":
        reference_build(input_dir, out, size)
        return 0
    sys.path.insert(0, REPO)
    from deblurkeras.data import build

    return build.main([input_dir, "--out", out, "--workers", str(workers), "--size", str(size), "--quiet"])


def _cmd(kind, input_dir, out, workers, size):
    return [sys.executable, os.path.abspath(__file__), "--child", kind, "--input", input_dir, "--out", out,
            "--workers", str(workers), "--size", str(size)]


def timed(kind, input_dir, out, workers, size):
    """Wall seconds of one build in a fresh process, from its start to its exit (nothing sampling beside it)."""
    if os.path.exists(out):
        os.remove(out)
    t0 = time.perf_counter()
    r = subprocess.run(_cmd(kind, input_dir, out, workers, size), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{kind} build failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return seconds


def peak_rss_mb(kind, input_dir, out, workers, size):
    """Peak of the summed RSS of one build's process tree (psutil every 20 ms; a separate, untimed run)."""
    import psutil

    if os.path.exists(out):
        os.remove(out)
    proc = subprocess.Popen(_cmd(kind, input_dir, out, workers, size), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    return peak / 2**20


# ---------------------------------------------------------------- inputs and comparison

def make_repeated(root, repeat, n_test=4):
    """root/train = the sample set repeated `repeat` times (symlinks, unique names); root/test = n_test files."""
    files = sorted(f for f in os.listdir(SAMPLE) if f.endswith(".jpg"))
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split), exist_ok=True)
    for r in range(repeat):
        for f in files:
            os.symlink(os.path.join(SAMPLE, f), os.path.join(root, "train", f"r{r:02d}_{f}"))
    for f in files[:n_test]:
        os.symlink(os.path.join(SAMPLE, f), os.path.join(root, "test", f))
    return repeat * len(files) + n_test


def make_gopro(root, n, n_test=4, seed=0):
    """n synthetic 1280x720 blur/sharp PNG pairs -> combine_pairs.py -> root/{train,test}/*.jpg (2560x720)."""
    from PIL import Image

    sys.path.insert(0, REPO)
    from deblurkeras.data.blur_kernels import blur_image, random_kernel
    from deblurkeras.data.synthesize import TEST_PHOTOS, TRAIN_PHOTOS, skimage_photos

    photos = [p for _, p in skimage_photos(TRAIN_PHOTOS + TEST_PHOTOS) if p.ndim == 3]
    pairs = os.path.join(root, "pairs")
    for d in ("blur", "sharp"):
        os.makedirs(os.path.join(pairs, d), exist_ok=True)
    rng = np.random.default_rng(seed)
    for j in range(n + n_test):
        photo = photos[j % len(photos)][..., :3]
        h, w = photo.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        sharp = np.asarray(Image.fromarray(photo[y:y + ch, x:x + cw]).resize((1280, 720), Image.LANCZOS))
        blurred = blur_image(sharp, random_kernel(rng, canvas=40, max_len=30.0))
        Image.fromarray(sharp).save(os.path.join(pairs, "sharp", f"{j:05d}.png"), compress_level=1)
        Image.fromarray(blurred).save(os.path.join(pairs, "blur", f"{j:05d}.png"), compress_level=1)
    combined = os.path.join(root, "combined")
    subprocess.run([sys.executable, os.path.join(REPO, "data_tools", "combine_pairs.py"), "--blur",
                    os.path.join(pairs, "blur"), "--sharp", os.path.join(pairs, "sharp"), "--out", combined],
                   check=True, stdout=subprocess.DEVNULL)
    for split in ("train", "test"):
        os.makedirs(os.path.join(root, split))
    for j, name in enumerate(sorted(os.listdir(combined))):
        os.rename(os.path.join(combined, name), os.path.join(root, "test" if j >= n else "train", name))
    shutil.rmtree(pairs)
    return n + n_test


def identical(a, b, step=64):
    """Compare the four datasets of two files in slices (never the whole file in memory)."""
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for k in KEYS:
            if fa[k].shape != fb[k].shape or fa[k].dtype != fb[k].dtype:
                return f"NO ({k}: {fa[k].shape} {fa[k].dtype} vs {fb[k].shape} {fb[k].dtype})"
            for i in range(0, fa[k].shape[0], step):
                if not np.array_equal(fa[k][i:i + step], fb[k][i:i + step]):
                    return f"NO ({k} differs in rows {i}..{i + step})"
    return "identical"


def compare(label, input_dir, n_images, size, trials, work, workers=2):
    runs = {"ref": [], "ours": []}
    for _ in range(trials):  # alternate, so a burst of load on a shared machine hits both
        for kind in runs:
            runs[kind].append(timed(kind, input_dir, os.path.join(work, f"{kind}.h5"), workers, size))
    best = {k: float(np.median(v)) for k, v in runs.items()}  # the median: one lucky or slow run does not count
    same = identical(os.path.join(work, "ours.h5"), os.path.join(work, "ref.h5"))
    peak = {k: peak_rss_mb(k, input_dir, os.path.join(work, f"{k}.h5"), workers, size) for k in best}
    ratio = best["ref"] / best["ours"]
    row = dict(set=label, images=n_images, size=size, ref_s=best["ref"], ours_s=best["ours"], ratio=ratio,
               arrays=same, ref_peak_mb=peak["ref"], ours_peak_mb=peak["ours"])
    print(f"| {label:22s} | {n_images:5d} | {size:4d} | {best['ref']:7.2f} | {best['ours']:7.2f} | "
          f"{ratio:5.2f}x | {same} | {peak['ref']:6.0f} | {peak['ours']:6.0f} |", flush=True)
    for kind in best:
        os.remove(os.path.join(work, f"{kind}.h5"))
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, nargs="*", default=[4, 10], help="copies of the 604-image sample set")
    p.add_argument("--gopro-pairs", type=int, default=60, help="synthetic 1280x720 training pairs (0: skip)")
    p.add_argument("--trials", type=int, default=3, help="N alternating runs per builder (median)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", default="/tmp/bench_build_hdf5")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--child", choices=("ref", "ours"), help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=256, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.input, a.out, a.workers, a.size)
    if a.repeats and not os.path.isdir(SAMPLE):
        raise SystemExit(f"sample set not found: {SAMPLE}")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; reference = original algorithm "
          f"(1 process), ours = build-hdf5 --workers {a.workers}; median of {a.trials} runs each")
    print("| set | images | size | reference s | ours s | ratio | arrays | ref peak MB | ours peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in a.repeats:
        inp = os.path.join(a.work, f"sbs_x{r}")
        n = make_repeated(inp, r)
        rows.append(compare(f"604 x{r} (512x256 JPEG)", inp, n, 256, a.trials, a.work, a.workers))
        shutil.rmtree(inp)
    if a.gopro_pairs:
        inp = os.path.join(a.work, "gopro")
        n = make_gopro(inp, a.gopro_pairs)
        for size in (0, 256):
            rows.append(compare("GoPro 1280x720 pairs", inp, n, size, a.trials, a.work, a.workers))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    shutil.rmtree(a.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
