"""PSNR / SSIM as deblurring papers report them (the GoPro convention of Nah et al., CVPR 2017, used by SRN and
DMPHN), on uint8 RGB images, full image, no border crop.

PSNR: the model output is first converted like the original (`to_uint8`: clip to [0, 1], *255, truncate), then
10*log10(255^2 / MSE) over all pixels and channels (== skimage.metrics.peak_signal_noise_ratio(data_range=255)).
SSIM: scikit-image `structural_similarity(channel_axis=-1, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)` -- the accepted Python form of the GoPro convention (MATLAB's `ssim`
treats an RGB image as a 3-D volume and gives slightly different numbers).
"""
import numpy as np

SSIM_KWARGS = dict(channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
CONVENTION = {
    "images": "uint8 RGB, full image, no border crop; model output clipped to [0,1], *255, truncated to uint8",
    "psnr": "10*log10(255^2/MSE) over all pixels and channels (= skimage peak_signal_noise_ratio, data_range=255)",
    "ssim": "skimage.metrics.structural_similarity(" + ", ".join(f"{k}={v}" for k, v in SSIM_KWARGS.items()) + ")",
}


def _check_pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {a.dtype} and {b.dtype} (convert with to_uint8 first)")
    return a, b


def psnr(a, b):
    """PSNR in dB of two uint8 images (inf when identical)."""
    a, b = _check_pair(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(a, b):
    """SSIM of two uint8 RGB (H, W, 3) images with the deblurring convention (SSIM_KWARGS); gray (H, W) too."""
    from skimage.metrics import structural_similarity

    a, b = _check_pair(a, b)
    kwargs = dict(SSIM_KWARGS)
    if a.ndim == 2:
        kwargs.pop("channel_axis")
    return float(structural_similarity(a, b, **kwargs))
