"""The exact-TF PyTorch primitives of deblurkeras.convert.torch_layers against TensorFlow, and their naive forms."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

from deblurkeras.convert import torch_layers as tl  # noqa: E402
from twin_pairs import nchw, nhwc  # noqa: E402

pytestmark = pytest.mark.torch
RNG = np.random.RandomState(0)


def test_same_pads_follow_tf_formula():
    assert tl.same_pads(8, 3, 2) == (0, 1)   # the extra pixel goes bottom/right
    assert tl.same_pads(8, 5, 2) == (1, 2)
    assert tl.same_pads(7, 5, 2) == (2, 2)
    assert tl.same_pads(9, 3, 1, dilation=2) == (2, 2)


@pytest.mark.parametrize("k,s,d,size", [(3, 2, 1, (8, 10)), (5, 2, 1, (9, 12)), (5, 1, 1, (7, 6)), (3, 1, 2, (9, 8)),
                                        (4, 2, 1, (10, 7))])
def test_same_conv_matches_tf_and_naive_padding_breaks_stride2_even(k, s, d, size):
    x = RNG.randn(1, *size, 4).astype("float32")
    kern = RNG.randn(k, k, 4, 5).astype("float32")
    ref = tf.nn.conv2d(x, kern, s, "SAME", dilations=d).numpy()
    conv = tl.SameConv2d(4, 5, k, s, d, bias=False)
    conv.weight.data = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())
    np.testing.assert_allclose(nhwc(conv(nchw(x))), ref, atol=1e-5)
    naive = tl.SameConv2d(4, 5, k, s, d, bias=False, naive={"padding"})
    naive.weight.data = conv.weight.data
    out = nhwc(naive(nchw(x)))
    asymmetric = any(a != b for a, b in (tl.same_pads(n, k, s, d) for n in size))
    if asymmetric:
        assert out.shape != ref.shape or np.abs(out - ref).max() > 1e-2
    else:
        np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_conv_transpose_same_crop_matches_keras(k):
    import keras
    x = RNG.randn(1, 5, 6, 4).astype("float32")
    layer = keras.layers.Conv2DTranspose(3, k, strides=2, padding="same")
    ref = layer(x).numpy()
    kern, bias = (w.numpy() for w in layer.weights)
    for naive in ((), ("deconv",)):
        m = tl.SameConvTranspose2d(4, 3, k, 2, naive=naive)
        m.weight.data = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())
        m.bias.data = torch.from_numpy(bias)
        out = nhwc(m(nchw(x)))
        assert out.shape == ref.shape == (1, 10, 12, 3)
        if naive and k != 4:  # k=4: torch padding=1 happens to be exact; k=3, 5 crop the wrong side
            assert np.abs(out - ref).max() > 1e-3
        else:
            np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("src,dst", [((16, 24), (4, 6)), ((63, 81), (16, 20)), ((8, 12), (16, 24)), ((7, 5), (13, 11))])
def test_resize_tf1_legacy_and_half_pixel_match_tf(src, dst):
    x = RNG.rand(1, *src, 3).astype("float32")
    legacy = tf.compat.v1.image.resize_bilinear(x, dst, align_corners=False, half_pixel_centers=False).numpy()
    half = tf.image.resize(x, dst, method="bilinear", antialias=False).numpy()
    np.testing.assert_allclose(nhwc(tl.resize_bilinear(nchw(x), dst, "tf1_legacy")), legacy, atol=2e-6)
    np.testing.assert_allclose(nhwc(tl.resize_bilinear(nchw(x), dst, "half_pixel")), half, atol=2e-6)
    naive = nhwc(tl.resize_bilinear(nchw(x), dst, "tf1_legacy", naive={"resize"}))
    assert np.abs(naive - legacy).max() > 1e-3


def test_depth_to_space_is_dcr_and_pixel_shuffle_is_not():
    x = RNG.rand(2, 3, 5, 12).astype("float32")
    ref = tf.nn.depth_to_space(x, 2).numpy()
    np.testing.assert_array_equal(nhwc(tl.depth_to_space(nchw(x), 2)), ref)
    assert np.abs(nhwc(tl.depth_to_space(nchw(x), 2, naive={"shuffle"})) - ref).max() > 1e-2


def test_batchnorm_and_leaky_defaults_follow_keras():
    bn = tl.batch_norm(8)
    assert bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01)
    assert tl.batch_norm(8, naive={"bn"}).eps == 1e-5
    assert tl.leaky_relu(0.2).negative_slope == 0.2 and tl.leaky_relu(0.2, {"leaky"}).negative_slope == 0.01
    with pytest.raises(ValueError, match="unknown naive"):
        tl.check_naive("padding,nope")


def test_convert_package_and_twins_import_without_tensorflow():
    code = ("import sys, deblurkeras.convert, deblurkeras.families.srn.twin, deblurkeras.families.dense_gan.twin, "
            "deblurkeras.families.dmphn.twin, deblurkeras.families.sr.twin; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
