"""Frames per second of video runs at 720p: the model per model and batch size, and the video pipeline around it.

    python experiments/bench_video.py [--models dmphn-1-2-4 stack-dmphn-4 srn-color] [--frames 4] [--batches 1 2 4]

Model: random weights (speed does not depend on them), 1280x720 frames, float32, the Keras engine.
`--batch 1` is the image path (`inference.run_image`, what every frame of `deblur clip.mp4` takes by default);
`--batch N` is `video.frames.predict_batch` (N frames in one call). Each batch size first runs once untimed (tracing, and
oneDNN's kernel set-up for that shape), then `--frames` frames are timed; the best batch is the one with the most frames per second.
Pipeline: decoding a 720p H.264 clip to RGB and encoding RGB frames with the default settings (libx264, the default CRF,
preset medium, yuv420p), timed on their own: what a run adds to the model's time per frame.
Also printed: how long one minute of 30 fps 720p video takes with each model at its best batch (model + pipeline).
The CPU is named from /proc/cpuinfo; on a shared machine the figures move with the other load.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments"))
H, W = 720, 1280


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def frames_720p(n):
    from deblurkeras.video.clips import blurred_frames
    return blurred_frames(n, H, W)


def model_fps(name, frames, batches):
    from deblurkeras.inference import run_image
    from deblurkeras.registry import build_model, model_io
    from deblurkeras.video.frames import predict_batch

    model, io = build_model(name), model_io(name)
    out = {}
    for b in batches:
        def run(chunk):
            if b == 1:
                return [run_image(model, name, io, f, "bench", 1 << 40, tile=0) for f in chunk]
            return predict_batch(model, io, chunk)
        run(frames[:b])  # untimed: traces the model and lets oneDNN set up its kernels for this shape
        t = time.perf_counter()
        got = []
        for i in range(0, len(frames), b):
            got += run(frames[i:i + b])
        out[b] = len(frames) / (time.perf_counter() - t)
        if b == 1:
            single = got
        same = "" if b == 1 or 1 not in batches else \
            f", output {'identical to' if all(np.array_equal(x, y) for x, y in zip(got, single)) else 'DIFFERS from'}" \
            f" batch 1 (max {max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(got, single))})"
        print(f"  {name} batch {b}: {out[b]:.3f} frames/s{same}", flush=True)
    return out


def pipeline_fps(frames, n=60):
    """(decode fps, encode fps) of 720p with the default video settings."""
    import av

    from deblurkeras.video.clips import write_clip
    from deblurkeras.video import DEFAULT_CRF
    from deblurkeras.video.stream import to_rgb

    seq = [frames[i % len(frames)] for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.mp4")
        t = time.perf_counter()
        write_clip(path, seq, rate=30, crf=DEFAULT_CRF, audio=False, options={"preset": "medium", "bf": "0"})
        enc = n / (time.perf_counter() - t)
        t = time.perf_counter()
        with av.open(path) as c:
            s = c.streams.video[0]
            s.thread_type = "SLICE"
            k = sum(1 for f in c.decode(s) if to_rgb(f) is not None)
        dec = k / (time.perf_counter() - t)
    return dec, enc


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["dmphn-1-2-4", "stack-dmphn-4", "srn-color"])
    p.add_argument("--frames", type=int, default=4, help="timed frames per setting (default 4)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    a = p.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores visible (shared with other work); 1280x720, float32, "
          f"random weights, {a.frames} timed frames per setting", flush=True)
    frames = frames_720p(max(a.frames, max(a.batches)))
    from deblurkeras.video import DEFAULT_CRF
    dec, enc = pipeline_fps(frames[:4])
    print(f"pipeline alone: decode {dec:.1f} frames/s, encode (libx264 CRF {DEFAULT_CRF}, medium, yuv420p) "
          f"{enc:.1f} frames/s", flush=True)
    rows = []
    for name in a.models:
        fps = model_fps(name, frames[: a.frames], a.batches)
        best = max(fps, key=fps.get)
        per_frame = 1 / fps[best] + 1 / dec + 1 / enc
        rows.append((name, fps[1] if 1 in fps else float("nan"), best, fps[best], 1800 * per_frame / 60))
    print("\n| model | batch 1 (frames/s) | best batch | its frames/s | one minute of 30 fps 720p |")
    print("|---|---|---|---|---|")
    for name, b1, best, fb, minutes in rows:
        print(f"| {name} | {b1:.3f} | {best} | {fb:.3f} | {minutes:.0f} min |")


if __name__ == "__main__":
    main()
