"""`deblurkeras demo` (`make demo`): data -> train SRN -> evaluate on held-out pairs -> pictures, offline.

1. data: synthetic motion-blur pairs of the photos bundled with scikit-image (deblurkeras.data.synthesize; the
   test photos are never seen in training), or with `--data DIR` side-by-side JPEGs (left sharp | right blurred)
   through deblurkeras.data.build. DIR may hold train/ and test/; without test/ every 5th file (sorted) is held
   out. -> demo_out/data.h5
2. train: SRN colour with deblurkeras/families/srn/configs/demo.yaml (small crops, a higher learning rate than the
   original: a demo setting, not the faithful one) for a fixed number of steps, seeded, with TensorFlow's op
   determinism: the same figures on every run on the same CPU, whatever else runs beside it (the expected duration
   is printed before it starts) -> demo_out/run/ (checkpoints, log.csv, TensorBoard, previews).
   `run.precision: auto`: bfloat16 where the CPU/GPU computes it natively, else float32; the precision it ran in is
   printed.
3. eval: `deblurkeras.evaluate` on the held-out pairs -> demo_out/eval/{per_image.csv,summary.json,images/*.png}
4. demo_out/comparison.png: rows of blurred | deblurred | sharp; the PSNR/SSIM table printed at the end is the
   measurement of this run.
"""
import argparse
import os
import shutil
import time

import numpy as np

from .errors import BadInputError

DEFAULT_CONFIG = "srn/demo"  # shipped inside the package: deblurkeras/families/srn/configs/demo.yaml


def add_arguments(p):
    p.add_argument("--data", default=None, help="folder of side-by-side JPEGs (default: synthetic pairs)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="training config: a YAML path or a shipped name (default srn/demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set train.total_steps=50")


# ----------------------------------------------------------------------------------------------- data
def _stage_folder(data, stage):
    """A train/ + test/ tree of symlinks for build_hdf5; holds out every 5th file when `data` has no test/."""
    if os.path.isdir(os.path.join(data, "train")) and os.path.isdir(os.path.join(data, "test")):
        return data
    src = os.path.join(data, "train") if os.path.isdir(os.path.join(data, "train")) else data
    from .imageio import image_names

    files = image_names(src)
    if len(files) < 2:
        raise BadInputError(f"{data}: need at least 2 side-by-side images to train and hold some out")
    if os.path.commonpath([os.path.abspath(stage), os.path.abspath(src)]) in (os.path.abspath(stage),
                                                                              os.path.abspath(src)):
        raise BadInputError(f"{data}: the output folder {stage} must not overlap the data folder")
    shutil.rmtree(stage, ignore_errors=True)
    for split in ("train", "test"):
        os.makedirs(os.path.join(stage, split))
    for i, name in enumerate(files):
        split = "test" if i % 5 == 4 else "train"
        os.symlink(os.path.abspath(os.path.join(src, name)), os.path.join(stage, split, name))
    return stage


def build_data(demo_cfg, out_dir, data=None):
    """demo_out/data.h5 from synthetic pairs or a folder of side-by-side pairs; returns its path."""
    path = os.path.join(out_dir, "data.h5")
    if os.path.exists(path):
        os.remove(path)  # always rebuilt: the demo measures what it made
    size = int(demo_cfg["size"])
    if data is None:
        from .data.synthesize import synthesize_hdf5

        synthesize_hdf5(path, n_train=int(demo_cfg["n_train"]), n_test=int(demo_cfg["n_test"]), size=size,
                        seed=int(demo_cfg["seed"]), max_len=demo_cfg.get("max_len"),
                        n_kernels=demo_cfg.get("n_kernels"),
                        **({"exposures": tuple(demo_cfg["exposures"])} if demo_cfg.get("exposures") else {}))
        return path
    if not os.path.isdir(data):
        raise BadInputError(f"{data}: --data must be a folder of side-by-side images")
    from .data import build as build_hdf5

    staged = _stage_folder(data, os.path.join(out_dir, "staged_pairs"))
    p = argparse.ArgumentParser()
    build_hdf5.add_arguments(p)
    if build_hdf5.run(p.parse_args([staged, "--out", path, "--size", str(size), "--quiet"])) != 0:
        raise BadInputError(f"{data}: no usable side-by-side pairs")
    return path


# ----------------------------------------------------------------------------------------------- pictures
def comparison_grid(data_path, image_dir, path, n_rows, split="test"):
    """PNG of n_rows held-out pairs: blurred | deblurred | sharp, 4 px white gaps."""
    from .data.hdf5 import read_pairs
    from .imageio import load_image, save_image

    rows = []
    for i, (blurred, sharp, name) in enumerate(read_pairs(data_path, split)):
        if i >= n_rows:
            break
        out = load_image(os.path.join(image_dir, os.path.splitext(str(name).replace("/", "_"))[0] + ".png"))
        gap = np.full((blurred.shape[0], 4, 3), 255, np.uint8)
        rows.append(np.concatenate([blurred, gap, out, gap, sharp], axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    save_image(path, np.concatenate(rows[:-1], axis=0))
    return path


# ----------------------------------------------------------------------------------------------- the job
def _train_with_retries(loop, cfg, retries=2):
    """Train; the demo's high learning rate can blow up (with `--set` changes: the shipped settings do not), so on
    a NaN/Inf loss resume from the last good checkpoint with the peak learning rate halved (at most `retries`
    times, each one printed). The divergence is still reported, not hidden."""
    for attempt in range(retries + 1):
        try:
            return loop.train(cfg, resume=attempt > 0)
        except loop.TrainingDivergedError as e:
            if attempt == retries:
                raise
            cfg["train"]["lr"] = float(cfg["train"]["lr"]) / 2
            print(f"demo: {e}\ndemo: resuming from that checkpoint with peak lr {cfg['train']['lr']:g}")


def expected_duration(cfg, demo_cfg):
    """The line printed before the demo starts: its work (steps) and, where the config says how fast a CPU ran it,
    how long that takes there."""
    steps = int(cfg["train"]["total_steps"])
    line = f"demo: {steps} training steps, a fixed amount of work (the same figures on every run on the same CPU)"
    per_step = demo_cfg.get("s_per_step")
    if not per_step:
        return line
    minutes = (steps * float(per_step) + float(demo_cfg.get("other_s") or 0)) / 60
    return (f"{line}; expected about {minutes:.0f} min in all on a {demo_cfg.get('measured_on') or 'reference CPU'} "
            f"({float(per_step):g} s per step), longer while other work shares the CPU")


def run(args):
    from .training import config, loop

    t_start = time.time()
    cfg = config.load_config(args.config, args.overrides)
    demo_cfg = cfg.pop("demo", {})
    print(expected_duration(cfg, demo_cfg), flush=True)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    timings = {}

    t = time.time()
    data_path = build_data(demo_cfg, out_dir, args.data)
    timings["data"] = time.time() - t

    from .precision import from_run_config, resolve

    # The demo config asks for auto (bfloat16 where it is native): the runner and eval are given "auto" itself, so
    # what they print says auto chose it rather than "as asked".
    asked = from_run_config(cfg["run"])
    prec = resolve(asked)
    cfg["run"]["precision"], cfg["run"]["mixed_precision"] = asked, None
    run_dir = os.path.join(out_dir, "run")
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time
    cfg["data"]["path"], cfg["run"]["dir"] = data_path, run_dir
    t = time.time()
    summary = _train_with_retries(loop, cfg)
    timings["train"] = time.time() - t

    from .evaluate import evaluate

    t = time.time()
    eval_dir = os.path.join(out_dir, "eval")
    _, res = evaluate(cfg["model"]["name"], summary["weights"]["generator"], data_path, eval_dir,
                      split="test", save_images=True, precision=asked)
    timings["eval"] = time.time() - t
    grid = comparison_grid(data_path, os.path.join(eval_dir, "images"), os.path.join(out_dir, "comparison.png"),
                           int(demo_cfg.get("grid_rows", 6)))
    total = time.time() - t_start

    print()
    print(f"held-out pairs: {res['n_images']} (never seen in training), model {cfg['model']['name']}, "
          f"{summary['step']} steps, precision {prec.name}")
    print(f"{'':16}{'PSNR (dB)':>10}{'SSIM':>9}")
    print(f"{'blurred input':16}{res['psnr_in']:10.2f}{res['ssim_in']:9.4f}")
    print(f"{'SRN output':16}{res['psnr_out']:10.2f}{res['ssim_out']:9.4f}")
    print(f"{'gain':16}{res['psnr_gain']:+10.2f}{res['ssim_gain']:+9.4f}")
    print(prec.reason)
    if summary.get("stopped_early"):
        print(f"training ended: {summary['stopped_early']}")
    print(f"time: data {timings['data']:.0f} s, train {timings['train']:.0f} s, eval {timings['eval']:.0f} s, "
          f"total {total:.0f} s")
    print(f"wrote {grid} (blurred | deblurred | sharp), {eval_dir}/ (per_image.csv, summary.json, images/), "
          f"{run_dir}/ (checkpoints, log.csv, tb/)")
    return 0
