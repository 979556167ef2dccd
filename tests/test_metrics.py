"""PSNR/SSIM: equal to scikit-image's on real images, with the deblurring SSIM convention."""
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deblurkeras import metrics
from deblurkeras.imageio import to_uint8


def _real_pairs(folder, n=3):
    files = sorted(folder.iterdir())[:n]
    for p in files:
        img = np.asarray(Image.open(p).convert("RGB"))
        half = img.shape[1] // 2
        yield img[:, half:], img[:, :half]  # right blurred, left sharp


def test_psnr_ssim_equal_scikit_image_on_real_images(sample_train_dir):
    for blurred, sharp in _real_pairs(sample_train_dir):
        assert metrics.psnr(blurred, sharp) == pytest.approx(
            peak_signal_noise_ratio(sharp, blurred, data_range=255), abs=1e-9)
        expected = structural_similarity(sharp, blurred, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255)
        assert metrics.ssim(blurred, sharp) == pytest.approx(expected, abs=1e-12)
        # the convention matters: scikit-image's defaults (7x7 uniform window) give another number
        default = structural_similarity(sharp, blurred, channel_axis=-1, data_range=255)
        assert abs(metrics.ssim(blurred, sharp) - default) > 1e-4


def test_psnr_known_value_and_identity():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255^2 / 192 -> PSNR = 10*log10(192)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(192.0), abs=1e-9)
    assert metrics.psnr(a, a) == float("inf")
    c = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert metrics.ssim(c, c) == pytest.approx(1.0)


def test_output_truncated_before_psnr():
    # the original's im2uint8 truncates: 0.999 * 255 = 254.745 -> 254, not 255
    x = np.full((4, 4, 3), 0.999, np.float32)
    assert to_uint8(x)[0, 0, 0] == 254
    assert metrics.psnr(to_uint8(x), np.full((4, 4, 3), 254, np.uint8)) == float("inf")


def test_rejects_float_and_mismatched_images():
    with pytest.raises(ValueError, match="uint8"):
        metrics.psnr(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.ssim(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


def test_convention_names_every_ssim_setting():
    text = metrics.CONVENTION["ssim"]
    for key in ("channel_axis=-1", "gaussian_weights=True", "sigma=1.5", "use_sample_covariance=False",
                "data_range=255"):
        assert key in text
