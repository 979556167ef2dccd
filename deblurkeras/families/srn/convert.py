"""SRN's layers in the PyTorch converter: the converters of its own Keras layers (registered through the public hook
of deblurkeras.convert, like a user's would be) and the pure-torch modules they stand for.

convert-keras copies the source of the modules a model needs into the generated model.py: they may use torch, nn, F
and the tf_same names only.
"""
import torch
import torch.nn.functional as F  # noqa: F401  (available to the copied classes)
from torch import nn

from ...convert.converters import Converted, call, register_converter
from ...convert.tf_same import Conv


class ResBlock(nn.Module):
    """SRN's residual block: conv + ReLU, conv, add the input (no ReLU after the add). `conv(cin, cout, kernel,
    activation)` builds a TF-SAME conv (default tf_same.Conv; the twin passes its own, with the naive pitfalls)."""

    def __init__(self, filters, kernel=5, conv=None):
        super().__init__()
        conv = conv or (lambda i, o, k, activation=None: Conv(i, o, (k, k), padding="same", activation=activation))
        self.conv1 = conv(filters, filters, kernel, activation="relu")
        self.conv2 = conv(filters, filters, kernel)

    def forward(self, x):
        return x + self.conv2(self.conv1(x))


class ConvLSTMCell(nn.Module):
    """SRN's BasicConvLSTMCell: one conv over [x, h] -> gates i, j, f, o; forget bias added at run time; returns
    (h', [c', h']). `conv` as for ResBlock."""

    def __init__(self, cin, filters=128, kernel=3, forget_bias=1.0, conv=None):
        super().__init__()
        conv = conv or (lambda i, o, k, activation=None: Conv(i, o, (k, k), padding="same", activation=activation))
        self.filters, self.forget_bias = filters, forget_bias
        self.LSTM_conv = conv(cin + filters, 4 * filters, kernel)

    def forward(self, x, state):
        c, h = torch.split(state, self.filters, dim=1)
        i, j, f, o = torch.split(self.LSTM_conv(torch.cat([x, h], dim=1)), self.filters, dim=1)
        new_c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        new_h = torch.tanh(new_c) * torch.sigmoid(o)
        return new_h, torch.cat([new_c, new_h], dim=1)


class ZeroState(nn.Module):
    """A zero ConvLSTM state (c and h) shaped like the features: channels doubled."""

    def forward(self, x):
        return torch.zeros_like(x).repeat(1, 2, 1, 1)


@register_converter("StopGradient")
def stop_gradient(layer, ctx):
    return Converted(call("Identity", detach=True))


@register_converter("ZeroState")
def zero_state(layer, ctx):
    return Converted("ZeroState()", helpers=(ZeroState,))


@register_converter("ResBlock")
def resblock(layer, ctx):
    ws = {}
    for sub in ("conv1", "conv2"):
        ws.update({f"{sub}.{k}": v for k, v in ctx.convert(getattr(layer, sub)).weights.items()})
    return Converted(call("ResBlock", layer.filters, layer.kernel_size), ws, helpers=(ResBlock,))


@register_converter("ConvLSTMCell")
def conv_lstm(layer, ctx):
    ws = {f"LSTM_conv.{k}": v for k, v in ctx.convert(layer.conv).weights.items()}
    code = call("ConvLSTMCell", ctx.in_shapes[0][-1], layer.filters, layer.kernel_size, layer.forget_bias)
    return Converted(code, ws, helpers=(ConvLSTMCell,))
