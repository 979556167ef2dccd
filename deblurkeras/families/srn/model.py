"""SRN-DeblurNet (Tao et al., CVPR 2018), faithful to the official TF1.4 graph `g_net`.

One encoder-decoder whose weights are shared by the 3 scales (coarse to fine, factor 0.5). Layer names follow the
TF1 scopes (`enc1_1`, `enc1_2/conv1`, ..., `dec1_0`, `convLSTM/LSTM_conv`), so checkpoints map by name.
Values in [0, 1]. The model returns the 3 scale outputs, coarsest first; the last one is the deblurred image.
"""
import keras

from ...layers import ResizeBilinear, ScaleResize

# variant -> (channels, ConvLSTM between encoder and decoder)
from . import VARIANTS  # shared with the twin
from .layers import ConvLSTMCell, ResBlock, StopGradient, ZeroState


def _conv(filters, kernel, name, stride=1, activation="relu"):
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", activation=activation, name=name,
                               kernel_initializer="glorot_uniform", bias_initializer="zeros")


def _deconv(filters, name):
    return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu", name=name,
                                        kernel_initializer="glorot_uniform", bias_initializer="zeros")


class _Net:
    """The layers of g_net, created once and applied at every scale (the TF1 `reuse_variables()`)."""

    def __init__(self, channels, lstm, resize_mode):
        self.enc = [
            [_conv(32, 5, "enc1_1")] + [ResBlock(32, 5, name=f"enc1_{k}") for k in (2, 3, 4)],
            [_conv(64, 5, "enc2_1", stride=2)] + [ResBlock(64, 5, name=f"enc2_{k}") for k in (2, 3, 4)],
            [_conv(128, 5, "enc3_1", stride=2)] + [ResBlock(128, 5, name=f"enc3_{k}") for k in (2, 3, 4)],
        ]
        self.lstm = ConvLSTMCell(128, 3, forget_bias=1.0, name="convLSTM") if lstm else None
        if lstm:
            self.zero_state = ZeroState(name="zero_state")
            self.resize_state = ResizeBilinear(resize_mode, name="resize_state")
        self.dec3 = [ResBlock(128, 5, name=f"dec3_{k}") for k in (3, 2, 1)]
        self.up2 = _deconv(64, "dec2_4")
        self.dec2 = [ResBlock(64, 5, name=f"dec2_{k}") for k in (3, 2, 1)]
        self.up1 = _deconv(32, "dec1_4")
        self.dec1 = [ResBlock(32, 5, name=f"dec1_{k}") for k in (3, 2, 1)]
        self.out = _conv(channels, 5, "dec1_0", activation=None)
        self.skip2 = keras.layers.Add(name="cat2")
        self.skip1 = keras.layers.Add(name="cat1")

    @staticmethod
    def _chain(x, layers):
        for layer in layers:
            x = layer(x)
        return x

    def __call__(self, x, state):
        conv1_4 = self._chain(x, self.enc[0])
        conv2_4 = self._chain(conv1_4, self.enc[1])
        conv3_4 = self._chain(conv2_4, self.enc[2])
        if self.lstm is not None:
            # Zero state at the coarsest level; afterwards the previous level's state resized to this level's
            # 1/4-resolution features (the original resizes to (h_i//4, w_i//4): the same size where it runs).
            state = self.zero_state(conv3_4) if state is None else self.resize_state([state, conv3_4])
            feat, state = self.lstm([conv3_4, state])
        else:
            feat = conv3_4
        d = self._chain(feat, self.dec3)
        d = self.skip2([self.up2(d), conv2_4])
        d = self._chain(d, self.dec2)
        d = self.skip1([self.up1(d), conv1_4])
        d = self._chain(d, self.dec1)
        return self.out(d), state


def build_srn(variant="color", resize_mode="tf1_legacy", n_levels=3, scale=0.5, name=None):
    """Build SRN-DeblurNet as a functional model: input (N, H, W, C) in [0, 1] -> list of n_levels outputs."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown SRN variant {variant!r}; expected one of {sorted(VARIANTS)}")
    channels, lstm = VARIANTS[variant]
    net = _Net(channels, lstm, resize_mode)
    blurred = keras.Input((None, None, channels), name="blurred")
    stop = StopGradient(name="stop_gradient")
    resize_pred = ResizeBilinear(resize_mode, name="resize_pred")
    concat = keras.layers.Concatenate(axis=-1, name="inp")

    outputs, pred, state = [], blurred, None  # the coarsest level sees the blurred image twice
    for i in range(n_levels):
        inp_blur = ScaleResize(scale ** (n_levels - i - 1), resize_mode, name=f"resize_blur_{i}")(blurred)
        inp_pred = stop(resize_pred([pred, inp_blur]))
        pred, state = net(concat([inp_blur, inp_pred]), state)
        outputs.append(pred)
    return keras.Model(blurred, outputs, name=name or f"srn_{variant}")


def identity_init(model, deconv_scale=0.01):
    """Re-initialise an SRN model so every scale starts as (almost) the identity on the blurred input.

    A named deviation for short runs (the demo's `model.init: identity`); the original initialises with Xavier.
    enc1_1 copies the blurred channels into its first C features, every ResBlock's second conv starts at zero
    (the block is the identity: the "zero-init residual" trick), dec1_4 starts 100x smaller than Xavier (not zero:
    a zero ReLU input would get no gradient), and dec1_0 reads the first C features back. The network then learns a
    correction to the blurred image instead of first having to learn to reproduce it.
    """
    import numpy as np

    channels = model.get_layer("dec1_0").filters
    enc = model.get_layer("enc1_1")
    kernel, bias = (w.numpy() for w in enc.weights)
    kernel[..., :channels] = 0.0
    bias[:channels] = 0.0
    for c in range(channels):
        kernel[2, 2, c, c] = 1.0  # input channels 0..C-1 are the blurred image at this scale
    enc.set_weights([kernel, bias])
    for layer in model.layers:
        if isinstance(layer, ResBlock):
            layer.conv2.set_weights([np.zeros_like(w.numpy()) for w in layer.conv2.weights])
    up = model.get_layer("dec1_4")
    up.set_weights([up.weights[0].numpy() * deconv_scale, up.weights[1].numpy()])
    out = model.get_layer("dec1_0")
    kernel = np.zeros(out.weights[0].shape, "float32")
    for c in range(channels):
        kernel[2, 2, c, c] = 1.0
    out.set_weights([kernel, np.zeros(out.weights[1].shape, "float32")])
    return model
