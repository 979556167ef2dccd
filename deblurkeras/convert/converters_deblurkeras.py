"""Converters for deblurkeras' own Keras layers, added through the public hook like a user's would be."""
from . import custom_torch
from .converters import Converted, batch_norm, call, register_converter, resize_mode, torch_dim


# PyTorch's running-variance update only differs in training; at inference it is a BatchNormalization
register_converter("TorchBatchNorm")(batch_norm)


@register_converter("ScaleResize")
def scale_resize(layer, ctx):
    """TF1-legacy (or half-pixel) bilinear resize by a fixed factor."""
    return Converted(call("Resize", resize_mode(ctx, layer.mode), factor=(layer.scale, layer.scale)))


@register_converter("ResizeBilinear")
def resize_like(layer, ctx):
    """Resize the first input to the spatial size of the second."""
    return Converted(call("Resize", resize_mode(ctx, layer.mode)))


@register_converter("StopGradient")
def stop_gradient(layer, ctx):
    return Converted(call("Identity", detach=True))


@register_converter("ZeroState")
def zero_state(layer, ctx):
    return Converted("ZeroState()", helpers=(custom_torch.ZeroState,))


@register_converter("ResBlock")
def resblock(layer, ctx):
    ws = {}
    for sub in ("conv1", "conv2"):
        ws.update({f"{sub}.{k}": v for k, v in ctx.convert(getattr(layer, sub)).weights.items()})
    return Converted(call("ResBlock", layer.filters, layer.kernel_size), ws, helpers=(custom_torch.ResBlock,))


@register_converter("ConvLSTMCell")
def conv_lstm(layer, ctx):
    ws = {f"LSTM_conv.{k}": v for k, v in ctx.convert(layer.conv).weights.items()}
    code = call("ConvLSTMCell", ctx.in_shapes[0][-1], layer.filters, layer.kernel_size, layer.forget_bias)
    return Converted(code, ws, helpers=(custom_torch.ConvLSTMCell,))


@register_converter("PixelShuffle")
def pixel_shuffle(layer, ctx):
    """Our PixelShuffle: order "crd" is F.pixel_shuffle, "dcr" tf.nn.depth_to_space; naive `shuffle` swaps them."""
    order = layer.order
    if ctx.naive.get("shuffle"):
        order = "crd" if order == "dcr" else "dcr"
    return Converted(call("DepthToSpace", layer.factor, order=order))


@register_converter("Halves")
def halves(layer, ctx):
    return Converted(call("Halves", torch_dim(layer.axis, ctx.rank)), helpers=(custom_torch.Halves,))


@register_converter("AdaptiveAvgPool2D")
def adaptive_avg_pool(layer, ctx):
    """Same bins as torch's AdaptiveAvgPool2d."""
    return Converted(f"nn.AdaptiveAvgPool2d({layer.size})")
