"""The SR family's own Keras layers: TorchBatchNorm (torch's running statistics) and PixelShuffle (torch's channel
order). Both registered as `deblurkeras>TorchBatchNorm` / `deblurkeras>PixelShuffle` for safe_mode loading.

TorchBatchNorm: BatchNormalization that keeps its running statistics the way torch.nn.BatchNorm2d does.

Keras and PyTorch normalise a training batch the same way (biased batch variance). They differ in what the running
variance absorbs: Keras the biased variance, PyTorch the unbiased one (x n / (n - 1), n = batch * H * W values per
channel). On small maps (the SRGAN discriminator's 6x6 at batch 16) that is a visible difference in every
evaluation after training. `TorchBatchNorm` uses torch's rule and its defaults (eps 1e-5, momentum 0.1 = Keras 0.9);
the variables are Keras' own (gamma, beta, moving_mean, moving_variance), so weight files, importers and the
PyTorch exporter see an ordinary BatchNormalization.
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deblurkeras")
class TorchBatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization with torch's running-variance update (unbiased batch variance)."""

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        if kwargs.get("renorm"):
            raise ValueError("TorchBatchNorm: renorm has no PyTorch counterpart")
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable):
            return super().call(inputs, training=training, mask=mask)
        if mask is not None:
            raise ValueError(f"{self.name}: TorchBatchNorm does not support masks")
        # float32 at least (float16 statistics overflow), as Keras' own layer does
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self._moments(x, None)
        n = self._count(x)
        unbiased = variance * (n / ops.maximum(n - 1.0, 1.0))
        m = self.momentum
        self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
        self.moving_variance.assign(ops.cast(self.moving_variance, x.dtype) * m + unbiased * (1.0 - m))
        gamma = ops.cast(self.gamma, x.dtype) if self.scale else None
        beta = ops.cast(self.beta, x.dtype) if self.center else None
        out = ops.batch_normalization(x, mean, variance, axis=self.axis, offset=beta, scale=gamma,
                                      epsilon=self.epsilon)
        return ops.cast(out, self.compute_dtype)

    def _count(self, x):
        """Values per channel in this batch (over all replicas when the statistics are synchronized)."""
        shape = ops.shape(x)
        n = 1.0
        for axis in self._reduction_axes:
            n = n * ops.cast(shape[axis], x.dtype)
        if self.synchronized:
            import tensorflow as tf
            n = n * float(tf.distribute.get_strategy().num_replicas_in_sync)
        return n


# ---- Pixel shuffle (sub-pixel convolution) for NHWC tensors, with PyTorch's channel order by default.
#
# torch `PixelShuffle(r)` (NCHW) reads output pixel (c, h*r+i, w*r+j) from input channel `c*r*r + i*r + j`
# ("CRD" order). TF `depth_to_space` (NHWC) reads it from channel `(i*r + j)*C + c` ("DCR" order). With the default
# order="crd" the conv before the shuffle keeps PyTorch's output-channel order, so imported / exported weights need
# no permutation at all. order="dcr" gives `depth_to_space` semantics (for weights trained with TF's op).
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
