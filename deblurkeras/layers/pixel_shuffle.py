"""Pixel shuffle (sub-pixel convolution) for NHWC tensors, with PyTorch's channel order by default.

torch `PixelShuffle(r)` (NCHW) reads output pixel (c, h*r+i, w*r+j) from input channel `c*r*r + i*r + j`
("CRD" order). TF `depth_to_space` (NHWC) reads it from channel `(i*r + j)*C + c` ("DCR" order). With the default
order="crd" the conv before the shuffle keeps PyTorch's output-channel order, so imported / exported weights need
no permutation at all. order="dcr" gives `depth_to_space` semantics (for weights trained with TF's op).
"""
import keras
from keras import ops

ORDERS = ("crd", "dcr")


@keras.saving.register_keras_serializable(package="deblurkeras")
class PixelShuffle(keras.layers.Layer):
    """(N, H, W, C*r*r) -> (N, H*r, W*r, C)."""

    def __init__(self, factor=2, order="crd", **kwargs):
        super().__init__(**kwargs)
        if order not in ORDERS:
            raise ValueError(f"unknown pixel-shuffle order {order!r}; expected one of {ORDERS}")
        self.factor, self.order = int(factor), order

    def call(self, x):
        r = self.factor
        shape = ops.shape(x)
        n, h, w, c = shape[0], shape[1], shape[2], x.shape[-1] // (r * r)
        if self.order == "crd":
            x = ops.reshape(x, (n, h, w, c, r, r))          # channel index = c*r*r + i*r + j
            x = ops.transpose(x, (0, 1, 4, 2, 5, 3))        # n, h, i, w, j, c
        else:
            x = ops.reshape(x, (n, h, w, r, r, c))          # channel index = (i*r + j)*C + c
            x = ops.transpose(x, (0, 1, 3, 2, 4, 5))        # n, h, i, w, j, c
        return ops.reshape(x, (n, h * r, w * r, c))

    def compute_output_shape(self, input_shape):
        r = self.factor
        n, h, w, c = input_shape
        return (n, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "order": self.order}
