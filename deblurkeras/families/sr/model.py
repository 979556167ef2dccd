"""SRResNet / SRGAN x4 (Ledig et al. 2017), faithful to `sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution`.

SRResNet (also the SRGAN generator): 9x9 conv 3->64 + PReLU; 16 residual blocks [3x3 conv, BN, PReLU, 3x3 conv, BN,
+ x]; 3x3 conv + BN, + long skip; log2(scale) x [3x3 conv 64->256, pixel shuffle x2, PReLU]; 9x9 conv 64->3, tanh.
Input: LR image ImageNet-normalised ((x01 - mean) / std); output: HR image in [-1, 1] (registry io does both).

Parity choices (so the tutorial's weights give the tutorial's outputs):
- every PReLU has ONE parameter (torch `nn.PReLU()`): Keras PReLU with shared_axes=[1, 2, 3], alpha initialised
  to 0.25 like torch;
- BatchNormalization with torch's eps 1e-5 and momentum 0.9 (= 1 - torch's 0.1), and torch's running-variance
  update (unbiased batch variance): `layers.TorchBatchNorm`, a BatchNormalization subclass with the same variables;
- pixel shuffle is `layers.PixelShuffle(order="crd")`, i.e. torch's channel order: the conv before it keeps the
  torch output-channel order, no permutation in importers or exporters;
- stride-1 convs with odd kernels use 'same' (= torch padding k//2); the discriminator's stride-2 convs use explicit
  ZeroPadding2D(1) + 'valid' (torch padding=1; TF SAME would pad (0, 1) on even sizes);
- the discriminator transposes to channels-first before Flatten, so `fc1` rows are in torch's (C, H, W) order and
  its kernel is simply `fc1.weight.T`.
Initialisation follows torch's defaults (uniform +-1/sqrt(fan_in) for kernels and biases).

Layer names are the tutorial's state_dict prefixes (`conv_block1.conv_block.0`, `residual_blocks.3.conv_block1.
conv_block.1`, `subpixel_convolutional_blocks.0.conv`, `fc1`, ...): a Keras layer `P` holds `P.weight`, `P.bias`
(BN: `P.running_mean`, `P.running_var`). The SRGAN generator's state_dict has the same keys under `net.`.
"""
import math

import keras

from .layers import PixelShuffle, TorchBatchNorm


def _torch_init(kernel, fan_in):
    """torch's default Conv/Linear init: kaiming_uniform(a=sqrt(5)) and bias U(+-1/sqrt(fan_in)) -> both U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(kernel * kernel * fan_in)
    return dict(kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))


def _conv(x, filters, kernel, name, stride=1):
    fan_in = x.shape[-1]
    if stride != 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad")(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same" if stride == 1 else "valid",
                               name=name, **_torch_init(kernel, fan_in))(x)


def _bn(x, name):
    return TorchBatchNorm(epsilon=1e-5, momentum=0.9, name=name)(x)


def _prelu(x, name):
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2, 3],
                              name=name)(x)


def _residual_block(x, name, channels=64, kernel=3):
    y = _conv(x, channels, kernel, f"{name}.conv_block1.conv_block.0")
    y = _bn(y, f"{name}.conv_block1.conv_block.1")
    y = _prelu(y, f"{name}.conv_block1.conv_block.2")
    y = _conv(y, channels, kernel, f"{name}.conv_block2.conv_block.0")
    y = _bn(y, f"{name}.conv_block2.conv_block.1")
    return keras.layers.Add(name=f"{name}.add")([y, x])


def build_srresnet(scale=4, channels=64, n_blocks=16, large_kernel=9, small_kernel=3, name=None):
    """SRResNet (= SRGAN generator): (N, h, w, 3) ImageNet-normalised -> (N, scale*h, scale*w, 3) in [-1, 1]."""
    scale = int(scale)
    if scale not in (2, 4, 8):
        raise ValueError(f"SRResNet scale must be 2, 4 or 8, got {scale}")
    lr = keras.Input((None, None, 3), name="lr")
    x = _conv(lr, channels, large_kernel, "conv_block1.conv_block.0")
    skip = x = _prelu(x, "conv_block1.conv_block.1")
    for i in range(n_blocks):
        x = _residual_block(x, f"residual_blocks.{i}", channels, small_kernel)
    x = _conv(x, channels, small_kernel, "conv_block2.conv_block.0")
    x = _bn(x, "conv_block2.conv_block.1")
    x = keras.layers.Add(name="long_skip")([x, skip])
    for i in range(int(math.log2(scale))):
        p = f"subpixel_convolutional_blocks.{i}"
        x = _conv(x, channels * 4, small_kernel, f"{p}.conv")
        x = PixelShuffle(2, name=f"{p}.pixel_shuffle")(x)
        x = _prelu(x, f"{p}.prelu")
    x = _conv(x, 3, large_kernel, "conv_block3.conv_block.0")
    sr = keras.layers.Activation("tanh", name="conv_block3.conv_block.1")(x)
    return keras.Model(lr, sr, name=name or f"srresnet_x{scale}")


@keras.saving.register_keras_serializable(package="deblurkeras")
class AdaptiveAvgPool2D(keras.layers.Layer):
    """torch `AdaptiveAvgPool2d(size)` on NHWC with static H, W: bin i covers [floor(i*H/s), ceil((i+1)*H/s))."""

    def __init__(self, size=6, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    @staticmethod
    def _bins(n, s):
        return [(i * n // s, -(-(i + 1) * n // s)) for i in range(s)]

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            raise ValueError("AdaptiveAvgPool2D needs a static input size (build the discriminator with size=...)")
        if h == self.size and w == self.size:
            return x
        rows = [keras.ops.mean(x[:, a:b], axis=1, keepdims=True) for a, b in self._bins(h, self.size)]
        x = keras.ops.concatenate(rows, axis=1)
        cols = [keras.ops.mean(x[:, :, a:b], axis=2, keepdims=True) for a, b in self._bins(w, self.size)]
        return keras.ops.concatenate(cols, axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def build_srgan_discriminator(size=96, channels=64, n_blocks=8, fc_size=1024, name=None):
    """SRGAN discriminator: (N, size, size, 3) -> (N, 1) logit (no sigmoid; BCE-with-logits in the trainer).

    The tutorial feeds it ImageNet-normalised images (HR, and SR converted from [-1, 1]); the SRGAN trainer does
    the same. The input size is static (the adaptive pool needs it); 96 = the training HR crop.
    """
    img = keras.Input((size, size, 3), name="image")
    x, in_ch = img, 3
    for i in range(n_blocks):
        out_ch = (channels if i == 0 else in_ch * 2) if i % 2 == 0 else in_ch
        p = f"conv_blocks.{i}.conv_block"
        x = _conv(x, out_ch, 3, f"{p}.0", stride=1 if i % 2 == 0 else 2)
        if i:
            x = _bn(x, f"{p}.1")
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{p}.{2 if i else 1}")(x)
        in_ch = out_ch
    x = AdaptiveAvgPool2D(6, name="adaptive_pool")(x)
    x = keras.layers.Permute((3, 1, 2), name="to_chw")(x)       # flatten in torch's (C, H, W) order
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(fc_size, name="fc1", **_torch_init(1, in_ch * 36))(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu")(x)
    logit = keras.layers.Dense(1, name="fc2", **_torch_init(1, fc_size))(x)
    return keras.Model(img, logit, name=name or "srgan_discriminator")
