"""The SR family's layers in the PyTorch converter (registered through the public hook of deblurkeras.convert)."""
from ...convert.converters import Converted, batch_norm, call, register_converter

# PyTorch's running-variance update only differs in training; at inference it is a BatchNormalization
register_converter("TorchBatchNorm")(batch_norm)


@register_converter("PixelShuffle")
def pixel_shuffle(layer, ctx):
    """Our PixelShuffle: order "crd" is F.pixel_shuffle, "dcr" tf.nn.depth_to_space; naive `shuffle` swaps them."""
    order = layer.order
    if ctx.naive.get("shuffle"):
        order = "crd" if order == "dcr" else "dcr"
    return Converted(call("DepthToSpace", layer.factor, order=order))


@register_converter("AdaptiveAvgPool2D")
def adaptive_avg_pool(layer, ctx):
    """Same bins as torch's AdaptiveAvgPool2d."""
    return Converted(f"nn.AdaptiveAvgPool2d({layer.size})")
