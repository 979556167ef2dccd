"""Does a video run's memory stay flat with the clip's length? Peak RSS of a 10-second and a 2-minute 720p run.

    python experiments/video_memory.py [--seconds 10 120] [--fps 24] [--sample 3]

Each clip (1280x720, a scikit-image photo panning, H.264 made with preset ultrafast, with an AAC track) goes through
`deblurkeras.video` (decode -> model -> segments -> final mux, the default codec and settings) in a fresh process,
which prints its peak RSS (VmHWM). The model is a stand-in, one 1x1 convolution under dmphn-1-2-4's conventions
(ModelIO, memory plan): the model's own memory does not depend on the clip's length, and a real one would take
hours here. Printed: the peak RSS of each run and the ratio of the longest to the shortest.
"""
import argparse
import fractions
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments"))
H, W = 720, 1280


def make_clip(path, seconds, fps):
    """A panning photo, `seconds` long, with a sine on AAC: written frame by frame (nothing held)."""
    import av
    from skimage import data
    from skimage.transform import resize

    from deblurkeras.video.clips import sine_stream, write_sine

    big = (resize(data.astronaut(), (H, W + 512), anti_aliasing=True) * 255).astype(np.uint8)
    n = int(seconds * fps)
    with av.open(path, "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "23"}
        v.time_base = v.codec_context.time_base = fractions.Fraction(1, fps)
        a = sine_stream(out)
        for i in range(n):
            x = (4 * i) % 1024
            x = x if x < 512 else 1024 - x
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[:, x:x + W]), format="rgb24")
            f.pts = i
            for pk in v.encode(f):
                out.mux(pk)
        for pk in v.encode():
            out.mux(pk)
        write_sine(out, a, seconds)
    return n


def child(clip, out, preset):
    """Run one clip through deblurkeras.video with the stand-in model; print the frames/s and VmHWM."""
    import argparse as ap

    import keras

    from deblurkeras import inference
    from deblurkeras.registry import model_io
    from deblurkeras.video import dispatch

    parser = ap.ArgumentParser()
    inference.add_arguments(parser)
    args = parser.parse_args([clip, "--weights", "none", "--out", out, "--model", "dmphn-1-2-4", "--preset", preset,
                              "--overwrite"])
    x = keras.Input((None, None, 3))
    model = keras.Model(x, keras.layers.Conv2D(3, 1)(x))
    t = time.time()
    rc = dispatch(args, "deblur", None, lambda a: (model, "dmphn-1-2-4", model_io("dmphn-1-2-4")),
                  lambda p: os.path.splitext(os.path.basename(p))[0])
    took = time.time() - t
    with open("/proc/self/status", encoding="ascii") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(f"RESULT rc={rc} seconds={took:.1f} vmhwm_kb={hwm}")


def run_child(clip, out, preset, sample=0):
    """One clip in a fresh process -> its CompletedProcess. `sample` > 0: its resident size (VmRSS) is read from
    outside every `sample` seconds and printed, to see whether memory grows with the frames or levels off."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", clip, out, preset]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        p = subprocess.Popen(cmd, stdout=so, stderr=se, text=True, env={**os.environ, "PYTHONPATH": REPO})
        t0 = time.time()
        while p.poll() is None:
            time.sleep(sample or 0.2)
            if sample:
                try:
                    with open(f"/proc/{p.pid}/status", encoding="ascii") as f:
                        rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
                    print(f"  {time.time() - t0:5.0f} s: RSS {rss / 1024:.0f} MB", flush=True)
                except (OSError, StopIteration):
                    pass  # the process ended between poll() and the read
        so.seek(0)
        se.seek(0)
        return subprocess.CompletedProcess(cmd, p.returncode, so.read(), se.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, nargs="+", default=[10, 120])
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--preset", default="medium", help="the runs' libx264 preset (default medium, the CLI's)")
    p.add_argument("--sample", type=float, default=0, metavar="S",
                   help="also print each run's resident size every S seconds (default 0: only the peaks)")
    p.add_argument("--child", nargs=3, metavar=("CLIP", "OUT", "PRESET"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(*a.child)
    peaks = {}
    with tempfile.TemporaryDirectory() as d:
        for s in a.seconds:
            clip = os.path.join(d, f"c{int(s)}.mp4")
            n = make_clip(clip, s, a.fps)
            r = run_child(clip, os.path.join(d, "out"), a.preset, a.sample)
            line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
            if r.returncode or not line:
                raise SystemExit(f"run of {s} s failed:\n{r.stderr[-2000:]}")
            fields = dict(kv.split("=") for kv in line[0].split()[1:])
            peaks[s] = int(fields["vmhwm_kb"]) / 1024
            print(f"{s:g} s of 720p at {a.fps} fps ({n} frames, preset {a.preset}): peak RSS {peaks[s]:.0f} MB, "
                  f"{float(fields['seconds']):.0f} s ({n / float(fields['seconds']):.1f} frames/s)", flush=True)
    lo, hi = min(a.seconds), max(a.seconds)
    print(f"peak RSS {hi:g} s / {lo:g} s: {peaks[hi] / peaks[lo]:.3f} ({100 * (peaks[hi] / peaks[lo] - 1):+.1f} %)")


if __name__ == "__main__":
    main()
