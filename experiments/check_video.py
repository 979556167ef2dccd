"""Issue 29's Done-when checks on real GoPro frames: the video path against the image path.

    python experiments/check_video.py CHECKOUT_DIR [--out DIR] [--limit N]

CHECKOUT_DIR is a checkout of HongguangZhang/DMPHN-cvpr19-master: its 20 blurred GoPro test frames
(test_samples/*.png, 1280x720) become a 30 fps H.264 clip (yuv420p, CRF 18) with an AAC track, and its released
DMPHN 1-2-4 weights (checkpoints/DMPHN_1_2_4, through our importer: torch.load weights_only=True) deblur it:
  1. `deblur clip.mp4` (the default codec) and `deblur clip.mp4 --codec libx264rgb` (lossless);
  2. the image path: every frame of the clip, decoded as the video path decodes it, saved as PNG, then
     `deblur PNG_DIR` (the same model);
and prints: frame counts, whether every timestamp and every audio packet's bytes are the same as the input's, whether
every lossless frame equals the image path's PNG bit for bit, and the PSNR (RGB, 8 bit) of every default-codec frame
against the image path's PNG (min / mean). Nothing from the checkout is copied into the repository.
"""
import argparse
import glob
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments"))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkout")
    p.add_argument("--out", default="video_check")
    p.add_argument("--limit", type=int, default=20, help="frames of the clip (default all 20)")
    p.add_argument("--crfs", type=int, nargs="*", default=[16, 14, 12, 10],
                   help="also re-encode the lossless output at these CRFs (the default codec's settings) and print "
                        "their PSNR against the image path: how the default CRF was chosen")
    p.add_argument("--reuse", nargs="*", default=[], choices=["default", "lossless", "images"],
                   help="keep these outputs of an earlier run with the same --out instead of running them again")
    p.add_argument("--crop", default=None, metavar="HxW",
                   help="use the centre HxW of each frame (real pixels, fewer of them: a quicker run)")
    a = p.parse_args()

    from deblurkeras.video.clips import audio_packets, read_video, write_clip

    from deblurkeras import weights
    from deblurkeras.cli import main as cli
    from deblurkeras.imageio import load_image, save_image

    os.makedirs(a.out, exist_ok=True)
    frames = [load_image(f) for f in sorted(glob.glob(os.path.join(a.checkout, "test_samples", "*.png")))][: a.limit]
    if a.crop:
        ch, cw = map(int, a.crop.split("x"))
        h, w = frames[0].shape[:2]
        frames = [f[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw] for f in frames]
    clip = os.path.join(a.out, "gopro.mp4")
    write_clip(clip, frames, rate=30, crf=18)
    w = os.path.join(a.out, "dmphn-1-2-4.weights.h5")
    if not os.path.exists(w):
        model, _ = weights.load(os.path.join(a.checkout, "checkpoints", "DMPHN_1_2_4"), "dmphn-1-2-4")
        weights.save(model, w)
    times = {}
    for tag, extra in (("default", []), ("lossless", ["--codec", "libx264rgb"])):
        if tag in a.reuse:
            continue
        t = time.time()
        assert cli(["deblur", clip, "--weights", w, "--out", os.path.join(a.out, tag), "--overwrite", *extra]) == 0
        times[tag] = time.time() - t
    decoded, pts_in, tb_in, _ = read_video(clip)
    png_dir = os.path.join(a.out, "frames")
    os.makedirs(png_dir, exist_ok=True)
    for k, f in enumerate(decoded):
        save_image(os.path.join(png_dir, f"{k:06d}.png"), f)
    t = time.time()
    if "images" not in a.reuse:
        assert cli(["deblur", png_dir, "--weights", w, "--out", os.path.join(a.out, "images"), "--overwrite"]) == 0
    times["images"] = time.time() - t
    ref = [load_image(os.path.join(a.out, "images", f"{k:06d}.png")) for k in range(len(decoded))]
    print(f"clip: {len(frames)} GoPro frames {frames[0].shape[1]}x{frames[0].shape[0]}, 30 fps, H.264 CRF 18 + AAC; model dmphn-1-2-4 (released "
          f"weights)")
    for tag in ("default", "lossless"):
        out = os.path.join(a.out, tag, "gopro.mp4")
        got, pts_out, tb_out, _ = read_video(out)
        same_t = [x * tb_out for x in pts_out] == [x * tb_in for x in pts_in]
        same_a = audio_packets(out) == audio_packets(clip)
        line = (f"{tag:9s}: {len(got)} of {len(decoded)} frames, timestamps {'same' if same_t else 'DIFFER'}, "
                f"audio packets {'same bytes' if same_a else 'DIFFER'}")
        if tag == "lossless":
            equal = sum(np.array_equal(g, r) for g, r in zip(got, ref))
            line += f", {equal} of {len(ref)} frames equal to the image path bit for bit"
        else:
            ps = [psnr(g, r) for g, r in zip(got, ref)]
            line += f", PSNR vs the image path min {min(ps):.2f} dB, mean {np.mean(ps):.2f} dB"
        print(line + (f" ({times[tag]:.0f} s)" if tag in times else " (reused)"))
    print(f"image path: {len(ref)} PNGs" + (" (reused)" if "images" in a.reuse else f" ({times['images']:.0f} s)"))
    crf_table(a, ref, clip)


def crf_table(a, ref, clip):
    """PSNR against the image path of the image path's frames encoded at each CRF with the default codec's writer."""
    from deblurkeras.video.clips import read_video

    from deblurkeras.video.stream import SegmentWriter, probe

    info = probe(clip)
    first = read_video(clip)
    for crf in a.crfs:
        path = os.path.join(a.out, f"crf{crf}.nut")
        w = SegmentWriter(path, "libx264", crf, "medium", info, first_colour(clip), ref[0].shape[:2])
        for f, pts in zip(ref, first[1]):
            w.write(f, pts)
        w.close()
        ps = [psnr(g, r) for g, r in zip(read_video(path)[0], ref)]
        print(f"libx264 yuv420p CRF {crf}: PSNR vs the image path min {min(ps):.2f} dB, mean {np.mean(ps):.2f} dB, "
              f"{os.path.getsize(path) / len(ref) / 1024:.0f} kB/frame")


def first_colour(clip):
    """The colour tags of the clip's first frame, as the video path reads them."""
    from deblurkeras.video.stream import DecodeErrors, decode_frames

    frames = decode_frames(clip, DecodeErrors())
    d = next(frames)
    frames.close()
    return d.colorspace, d.color_range, d.tags


if __name__ == "__main__":
    main()
