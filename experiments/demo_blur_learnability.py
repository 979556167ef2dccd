"""Why the demo blurs with a small kernel bank: how much can a learned linear filter gain on each kind of data?

Fits one (2R+1)^2 deconvolution filter by least squares on the demo's synthetic training pairs (shared by the three
colour channels) and reports its PSNR gain over the blurred input on the held-out pairs, for a new random kernel per
pair (fully blind) and for banks of kernels shared by train and test. A short CPU run can be expected to learn at
least what a linear filter gets. Run: python experiments/demo_blur_learnability.py [--radius 7]
"""
import argparse
import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from deblurkeras.data.synthesize import _pairs  # noqa: E402


def windows(img, r):
    """Every pixel's (2r+1)^2 neighbourhood, per channel: (H*W*C, (2r+1)^2)."""
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    return sliding_window_view(padded, (2 * r + 1, 2 * r + 1), axis=(0, 1)).reshape(-1, (2 * r + 1) ** 2)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def linear_filter_gain(n_kernels, args):
    pairs = [(split, s / 255.0, b / 255.0) for split, s, b, _ in
             _pairs(None, args.n_train, args.n_test, args.size, args.seed, args.max_len, (1.0,), n_kernels)]
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for split, sharp, blurred in pairs:
        if split == "train":
            idx = rng.choice(sharp.size, args.samples, replace=False)
            xs.append(windows(blurred, args.radius)[idx])
            ys.append(sharp.reshape(-1)[idx])
    w, *_ = np.linalg.lstsq(np.concatenate(xs), np.concatenate(ys), rcond=None)
    base, out = [], []
    for split, sharp, blurred in pairs:
        if split == "test":
            restored = np.floor(np.clip(windows(blurred, args.radius) @ w, 0, 1).reshape(sharp.shape) * 255) / 255
            base.append(psnr(blurred, sharp))
            out.append(psnr(restored, sharp))
    return float(np.mean(base)), float(np.mean(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--radius", type=int, default=7)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-test", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--max-len", type=float, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=3000, help="training pixels sampled per pair")
    args = p.parse_args()
    print(f"demo data: {args.n_train} train / {args.n_test} held-out pairs of {args.size}px, blur up to "
          f"{args.max_len:g} px; linear filter {2 * args.radius + 1}x{2 * args.radius + 1}")
    for n_kernels in (None, 4, 1):
        base, out = linear_filter_gain(n_kernels, args)
        label = "a new kernel per pair (blind)" if n_kernels is None else f"bank of {n_kernels} kernel(s)"
        print(f"{label:32s} blurred {base:6.2f} dB  linear filter {out:6.2f} dB  gain {out - base:+.2f} dB")


if __name__ == "__main__":
    main()
