"""Synthetic camera-shake kernels from Boracchi & Foi's random motion trajectories (the model DeblurGAN used).

A trajectory is a random walk of `iters` steps of equal length (total path `max_len` px) whose velocity is
perturbed at each step by gaussian shake, a centripetal pull back to the start, and rare "big shakes" that roughly
reverse the direction; every perturbation scales with the "anxiety" `expl`. The kernel (PSF) for an exposure
fraction f is the bilinear splat of the first f*iters samples of the path on a `canvas` x `canvas` grid, normalised
to sum 1. Parameter ranges (Boracchi & Foi, "Modeling the performance of image restoration from motion blur",
IEEE TIP 2012, as DeblurGAN's `motion_blur/generate_trajectory.py` uses them): centripetal 0.7*U, big-shake
probability 0.2*U, gaussian shake 10*U, anxiety 0.1*U, exposure fractions 1/100, 1/10, 1/2, 1.
"""
import numpy as np

EXPOSURES = (0.01, 0.1, 0.5, 1.0)


def _rng(seed_or_rng):
    return seed_or_rng if isinstance(seed_or_rng, np.random.Generator) else np.random.default_rng(seed_or_rng)


def random_trajectory(rng=None, canvas=64, iters=2000, max_len=60.0, expl=None):
    """Return an (iters, 2) float array of (x, y) positions of one random camera path, centred on the canvas.

    rng: a numpy Generator or a seed. expl: anxiety in [0, 1]; None draws 0.1*U like the original model.
    """
    rng = _rng(rng)
    expl = 0.1 * rng.random() if expl is None else float(expl)
    centripetal = 0.7 * rng.random()
    big_shake_prob = 0.2 * rng.random()
    gaussian_shake = 10.0 * rng.random()
    step = max_len / (iters - 1)
    v = step * np.exp(1j * 2 * np.pi * rng.random())
    # All random draws up front (vectorised); the walk itself is sequential.
    shake = rng.standard_normal(iters) + 1j * rng.standard_normal(iters)
    big = rng.random(iters) < big_shake_prob * expl
    turn = np.exp(1j * (np.pi + rng.random(iters) - 0.5))
    x = np.zeros(iters, complex)
    for t in range(iters - 1):
        dv = expl * (gaussian_shake * shake[t] - centripetal * x[t]) * step
        if big[t]:
            dv += 2 * v * turn[t]
        v = v + dv
        v = v / abs(v) * step if abs(v) > 0 else step  # constant speed: only the direction wanders
        x[t + 1] = x[t] + v
    # Centre the path's bounding box on the canvas.
    x -= complex(x.real.min(), x.imag.min())
    x += complex((canvas - 1 - x.real.max()) / 2, (canvas - 1 - x.imag.max()) / 2)
    return np.stack([x.real, x.imag], axis=1)


def trajectory_to_kernel(trajectory, canvas=64, exposure=1.0):
    """Bilinear splat of the first `exposure` fraction of the path on a canvas x canvas grid, sum 1 (float64)."""
    traj = np.asarray(trajectory, np.float64)
    n = max(1, int(round(exposure * len(traj))))
    pts = np.clip(traj[:n], 0, canvas - 1 - 1e-9)
    x0, y0 = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    fx, fy = pts[:, 0] - x0, pts[:, 1] - y0
    kernel = np.zeros((canvas, canvas))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (np.minimum(y0 + dy, canvas - 1), np.minimum(x0 + dx, canvas - 1)), wy * wx)
    return kernel / kernel.sum()


def random_kernel(rng=None, canvas=64, max_len=60.0, exposures=EXPOSURES, iters=2000):
    """One random PSF: a random trajectory and an exposure fraction drawn from `exposures`."""
    rng = _rng(rng)
    traj = random_trajectory(rng, canvas=canvas, iters=iters, max_len=max_len)
    return trajectory_to_kernel(traj, canvas, float(rng.choice(exposures)))


def centre_kernel(kernel):
    """Trim to the support and pad to an odd square with the centroid in the middle (no shift between the pair)."""
    ys, xs = np.nonzero(kernel > 0)
    k = kernel[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]]
    cy, cx = int(round((yy * k).sum() / k.sum())), int(round((xx * k).sum() / k.sum()))
    r = max(cy, cx, k.shape[0] - 1 - cy, k.shape[1] - 1 - cx)
    out = np.zeros((2 * r + 1, 2 * r + 1))
    out[r - cy: r - cy + k.shape[0], r - cx: r - cx + k.shape[1]] = k
    return out / out.sum()


def blur_image(img_uint8, kernel, noise_sigma=0.0, rng=None):
    """Convolve an (H, W[, C]) uint8 image with `kernel` (centred first; reflect borders) -> uint8 of the same shape.

    noise_sigma: optional gaussian noise (in 0..255 units) added after blurring; 0 (none) by default.
    """
    from scipy.signal import fftconvolve

    img = np.asarray(img_uint8)
    k = centre_kernel(np.asarray(kernel, np.float64))
    r = k.shape[0] // 2
    x = img.astype(np.float64)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[..., None]
    pad = np.pad(x, ((r, r), (r, r), (0, 0)), mode="reflect" if min(x.shape[:2]) > r else "edge")
    out = np.stack([fftconvolve(pad[..., c], k, mode="valid") for c in range(x.shape[2])], axis=-1)
    if noise_sigma:
        out = out + _rng(rng).normal(0, noise_sigma, out.shape)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out[..., 0] if squeeze else out
