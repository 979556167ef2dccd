"""Bilinear resizing with the semantics made explicit.

`tf1_legacy` is TF1.4's `tf.image.resize_images(method=BILINEAR)`: align_corners=False, half_pixel_centers=False,
i.e. source = dst * in / out (the "asymmetric" sampling SRN-DeblurNet was trained with). `half_pixel` is TF2's
`tf.image.resize` (== torch `interpolate(bilinear, align_corners=False)`), offered as a named deviation.
"""
import keras
import tensorflow as tf

RESIZE_MODES = ("tf1_legacy", "half_pixel")


def _check_mode(mode):
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")


def resize_bilinear(x, size, mode="tf1_legacy"):
    """Resize an NHWC float tensor to `size` = (h, w) (ints or scalar tensors)."""
    _check_mode(mode)
    size = tf.stack([tf.cast(size[0], tf.int32), tf.cast(size[1], tf.int32)])
    half = mode == "half_pixel"
    y = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False, half_pixel_centers=half)
    return tf.cast(y, x.dtype)


def scaled_size(h, w, scale):
    """SRN's level size: int(round(h * scale)), computed in-graph (round half to even, like Python 3)."""
    def one(n):
        return tf.cast(tf.round(tf.cast(n, tf.float64) * scale), tf.int32)
    return one(h), one(w)


@keras.saving.register_keras_serializable(package="deblurkeras")
class ScaleResize(keras.layers.Layer):
    """Resize the input by a fixed factor: output size int(round(h*scale)), int(round(w*scale))."""

    def __init__(self, scale, mode="tf1_legacy", **kwargs):
        super().__init__(**kwargs)
        _check_mode(mode)
        self.scale, self.mode = float(scale), mode

    def call(self, x):
        shape = tf.shape(x)
        return resize_bilinear(x, scaled_size(shape[1], shape[2], self.scale), self.mode)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = lambda v: None if v is None else int(round(v * self.scale))  # noqa: E731
        return (n, r(h), r(w), c)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode}


@keras.saving.register_keras_serializable(package="deblurkeras")
class ResizeBilinear(keras.layers.Layer):
    """Resize `x` to the spatial size of `like`: call as layer([x, like])."""

    def __init__(self, mode="tf1_legacy", **kwargs):
        super().__init__(**kwargs)
        _check_mode(mode)
        self.mode = mode

    def call(self, inputs):
        x, like = inputs
        shape = tf.shape(like)
        return resize_bilinear(x, (shape[1], shape[2]), self.mode)

    def compute_output_shape(self, input_shape):
        x_shape, like_shape = input_shape
        return (x_shape[0], like_shape[1], like_shape[2], x_shape[3])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
