"""Deblur a 12 MP phone photo (4032x3024) with default flags: wall time, peak RSS and tiles per second per model.

    python -m experiments.bench_photo [PHOTO.jpg] [--models srn-color,dmphn-1-2-4-8,dense-gan]

Without a photo, one is synthesised: skimage's astronaut upscaled (PIL bicubic) to 4032x3024, saved as JPEG q95.
Each model runs as `deblurkeras deblur PHOTO --model M --weights W --out DIR` in its own process, with no other flag
(so the automatic tiling decides), on randomly initialised weights (time and memory do not depend on the values).
Peak RSS is that process's own (os.wait4). Tiles/s counts the tiles of the plan the command printed, over the
command's whole wall time (TensorFlow start-up and the model load included, so it is a lower bound).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("srn-color", "dmphn-1-2-4-8", "dense-gan")
SIZE = (4032, 3024)  # W x H of a 12 MP phone photo


def synth_photo(path, size=SIZE):
    import numpy as np
    from PIL import Image
    from skimage import data

    img = Image.fromarray(np.asarray(data.astronaut())).resize(size, Image.BICUBIC)
    img.save(path, quality=95, subsampling=0)
    return path


def random_weights(name, folder):
    import keras
    from deblurkeras.families import build_model

    keras.utils.set_random_seed(0)
    path = os.path.join(folder, f"{name}.weights.h5")
    build_model(name).save_weights(path)
    keras.backend.clear_session()
    return path


def run_cli(args, log_path):
    """Run `deblurkeras ARGS` in a child process: (rc, wall seconds, the child's own peak RSS in bytes, stderr)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "deblurkeras.cli", *args], cwd=REPO, stdout=log, stderr=log,
                                env={**os.environ, "PYTHONPATH": REPO})
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    with open(log_path) as f:
        text = f.read()
    return os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss * 1024, text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("photo", nargs="?", help="a JPEG to deblur (default: a synthesised 4032x3024 photo)")
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args(argv)
    from deblurkeras.imageio import load_image
    from deblurkeras.inference import OVERLAP, tile_grid

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo or synth_photo(os.path.join(tmp, "photo.jpg"))
        h, w = load_image(photo).shape[:2]
        print(f"photo {photo}: {w}x{h}; default flags; {os.cpu_count()} CPUs", flush=True)
        print(f"{'model':15}{'wall s':>9}{'peak RSS':>11}{'tile px':>9}{'tiles':>7}{'tiles/s':>9}  rc", flush=True)
        for name in args.models.split(","):
            weights = random_weights(name, tmp)
            rc, wall, peak, err = run_cli(["deblur", photo, "--model", name, "--weights", weights,
                                           "--out", os.path.join(tmp, name)], os.path.join(tmp, f"{name}.log"))
            m = re.search(r"tiling (\d+) px", err)
            tile = int(m.group(1)) if m else 0
            n = len(tile_grid(h, w, tile, OVERLAP)) if tile else 1
            print(f"{name:15}{wall:9.1f}{peak / 2**30:8.2f} GB{tile:9d}{n:7d}{n / wall:9.3f}  {rc}", flush=True)
            if rc:
                print("  " + (err.strip().splitlines() or ["(no output)"])[-1][-300:], flush=True)


if __name__ == "__main__":
    main()
