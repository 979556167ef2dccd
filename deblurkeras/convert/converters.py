"""Keras layer -> PyTorch constructor code + weights, one converter per layer class, in one table.

Extension hook (how our own layers are added; a user adds theirs the same way before converting):

    from deblurkeras.convert import Converted, register_converter

    @register_converter("MyBlock")               # the Keras class, or its class name
    def convert_my_block(layer, ctx):
        return Converted(f"MyBlockTorch({layer.filters})",            # constructor code in the written model.py
                         {"conv.weight": ..., "conv.bias": ...},       # numpy arrays in torch layout
                         helpers=(MyBlockTorch,))                      # pure-torch classes copied into model.py

The module the code builds is called with the layer's input tensors as positional arguments (channels first)
and returns its output, or a tuple for several. `ctx` has the first call's Keras shapes (`ctx.in_shapes`,
`ctx.out_shapes`), `ctx.convert(sublayer)` for composite layers and `ctx.naive`: pitfalls to reproduce on
purpose (the `compare` detectors convert the diverging layer once per pitfall and see which one the port matches).
Lookup is by exact class, then by class name: a subclass is not assumed to compute what its parent does.
"""
import dataclasses

import numpy as np

from ..errors import DeblurKerasError


class UnsupportedLayerError(DeblurKerasError):
    """A Keras layer (or a configuration of it) that has no converter."""


@dataclasses.dataclass
class Converted:
    code: str                                  # constructor expression, e.g. 'Conv(3, 32, (5, 5), padding="same")'
    weights: dict = dataclasses.field(default_factory=dict)   # {param/buffer path: numpy array, torch layout}
    helpers: tuple = ()                        # pure-torch classes whose source goes into model.py


@dataclasses.dataclass
class Context:
    in_shapes: list
    out_shapes: list
    naive: dict = dataclasses.field(default_factory=dict)

    @property
    def rank(self):
        return len(self.in_shapes[0])

    def convert(self, layer, in_shapes=None, out_shapes=None):
        return convert_layer(layer, Context(in_shapes or self.in_shapes, out_shapes or self.out_shapes, self.naive))


_CONVERTERS = {}


def register_converter(*keys):
    """Decorator registering fn(layer, ctx) -> Converted for Keras layer classes or class names."""
    def deco(fn):
        for key in keys:
            _CONVERTERS[key] = fn
        return fn
    return deco


def find_converter(layer):
    cls = type(layer)
    return _CONVERTERS.get(cls) or _CONVERTERS.get(cls.__name__)


def convert_layer(layer, ctx):
    _load_builtin()
    fn = find_converter(layer)
    if fn is None:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: no converter for {type(layer).__module__}.{type(layer).__name__}; add one with "
            "@deblurkeras.convert.register_converter (see deblurkeras/convert/converters.py)")
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}): data_format='channels_first' "
                                    "is not supported (only channels_last)")
    return fn(layer, ctx)


# keras.ops elementwise operations that may take a Python number on one side (`x + 3.0`, `x * (1 / 6)`, `1 - x`:
# MobileNetV3's hard-swish); the ScalarOp of tf_same computes them with the number as a Python float
SCALAR_OPS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide",
              "TrueDivide": "divide", "Maximum": "maximum", "Minimum": "minimum", "Power": "power"}


def scalar_operand(layer_call):
    """(op, number, tensor_first) of a keras.ops call with one tensor and one Python number, else None."""
    import numbers
    import keras
    layer, node = layer_call.layer, layer_call.node
    op = SCALAR_OPS.get(type(layer).__name__)
    if op is None or isinstance(layer, keras.layers.Layer) or node is None:
        return None
    args = node.arguments
    if args.kwargs or len(args.args) != 2:
        return None
    number = [isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args.args]
    tensor = [isinstance(a, keras.KerasTensor) for a in args.args]
    if number[1] and tensor[0]:
        return op, float(args.args[1]), True
    if number[0] and tensor[1]:
        return op, float(args.args[0]), False
    return None


def convert_call(layer_call, naive=None):
    """The Converted of one layer call: a keras.ops call with a Python number on one side is a ScalarOp; any other
    keras.ops call converts only when every argument is a tensor (ConvNeXt's `x + y`)."""
    import keras
    scalar = scalar_operand(layer_call)
    if scalar is not None:
        return Converted(call("ScalarOp", *scalar))
    layer, node = layer_call.layer, layer_call.node
    if not isinstance(layer, keras.layers.Layer) and node is not None \
            and len(node.arguments._flat_arguments) != len(node.arguments.keras_tensors):
        raise UnsupportedLayerError(f"operation {layer.name!r} ({type(layer).__name__}) has non-tensor arguments "
                                    "other than one number; wrap it in a Keras layer and register a converter")
    return convert_layer(layer, Context(layer_call.input_shapes, layer_call.output_shapes, dict(naive or {})))


def unsupported(layer, what):
    return UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}): {what} is not supported; add a "
                                 "converter with @deblurkeras.convert.register_converter")


# ---- code formatting ----------------------------------------------------------------------------------------
def call(name, *args, **kwargs):
    """'Name(a, b, k=v)' with Python literals; keyword arguments that are None are left out."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def tup(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def numpy(v):
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float32)


def activation_name(layer, fn=None):
    """Keras activation function -> name (None for linear)."""
    fn = fn if fn is not None else getattr(layer, "activation", None)
    if fn is None:
        return None
    name = getattr(fn, "__name__", None)
    if name == "linear":
        return None
    known = {"relu", "relu6", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "exponential", "swish",
             "silu", "gelu", "mish", "hard_sigmoid", "hard_silu", "hard_swish", "leaky_relu", "softmax",
             "log_softmax"}
    if name not in known:
        raise unsupported(layer, f"activation {name or fn!r}")
    return name


def torch_dim(axis, rank):
    """Keras axis (channels last) -> torch dim (channels first)."""
    a = axis % rank
    if rank < 3 or a == 0:
        return a
    return 1 if a == rank - 1 else a + 1


def _load_builtin():
    """The converters of the families' own layers live in each family (FamilySpec.converters) and register through
    the hook above, like a user's would; imported on the first conversion."""
    from ..registry import register_converters
    register_converters()


# ---- convolutions -------------------------------------------------------------------------------------------
def _conv_kernel(kernel):
    """Keras (k..., in, out) -> torch (out, in, k...)."""
    n = kernel.ndim - 2
    return np.ascontiguousarray(kernel.transpose(n + 1, n, *range(n)))


def _padding(layer, ctx):
    if layer.padding == "same" and ctx.naive.get("padding"):
        return "symmetric"
    return layer.padding


def _conv_weights(layer):
    ws = {"weight": _conv_kernel(numpy(layer.kernel))}
    if layer.use_bias:
        ws["bias"] = numpy(layer.bias)
    return ws


@register_converter("Conv1D", "Conv2D")
def conv(layer, ctx):
    n = len(layer.kernel_size)
    kernel = numpy(layer.kernel)
    cin = kernel.shape[-2] * layer.groups
    code = call("Conv", cin, layer.filters, tuple(layer.kernel_size),
                stride=tup(layer.strides, n) if set(tup(layer.strides, n)) != {1} else None,
                dilation=tup(layer.dilation_rate, n) if set(tup(layer.dilation_rate, n)) != {1} else None,
                groups=layer.groups if layer.groups != 1 else None,
                padding=_padding(layer, ctx) if layer.padding != "valid" else None,
                activation=activation_name(layer), bias=False if not layer.use_bias else None)
    return Converted(code, _conv_weights(layer))


@register_converter("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise(layer, ctx):
    kernel = numpy(layer.kernel)                       # (k..., in, multiplier)
    n = kernel.ndim - 2
    cin, mult = kernel.shape[-2], kernel.shape[-1]
    flat = kernel.reshape(*kernel.shape[:n], 1, cin * mult)  # output channel c * mult + m, like TF
    code = call("Conv", cin, cin * mult, tuple(layer.kernel_size),
                stride=tup(layer.strides, n) if set(tup(layer.strides, n)) != {1} else None,
                dilation=tup(layer.dilation_rate, n) if set(tup(layer.dilation_rate, n)) != {1} else None,
                groups=cin, padding=_padding(layer, ctx) if layer.padding != "valid" else None,
                activation=activation_name(layer), bias=False if not layer.use_bias else None)
    ws = {"weight": _conv_kernel(flat)}
    if layer.use_bias:
        ws["bias"] = numpy(layer.bias)
    return Converted(code, ws)


@register_converter("SeparableConv1D", "SeparableConv2D")
def separable(layer, ctx):
    dw = numpy(layer.depthwise_kernel)
    n = dw.ndim - 2
    cin, mult = dw.shape[-2], dw.shape[-1]
    code = call("SeparableConv", cin, layer.filters, tuple(layer.kernel_size),
                stride=tup(layer.strides, n) if set(tup(layer.strides, n)) != {1} else None,
                dilation=tup(layer.dilation_rate, n) if set(tup(layer.dilation_rate, n)) != {1} else None,
                multiplier=mult if mult != 1 else None,
                padding=_padding(layer, ctx) if layer.padding != "valid" else None,
                activation=activation_name(layer), bias=False if not layer.use_bias else None)
    ws = {"depthwise.weight": _conv_kernel(dw.reshape(*dw.shape[:n], 1, cin * mult)),
          "pointwise.weight": _conv_kernel(numpy(layer.pointwise_kernel))}
    if layer.use_bias:
        ws["pointwise.bias"] = numpy(layer.bias)
    return Converted(code, ws)


@register_converter("Conv2DTranspose")
def conv_transpose(layer, ctx):
    kernel = numpy(layer.kernel)                       # (kh, kw, out, in)
    k, s = tuple(layer.kernel_size), tup(layer.strides, 2)
    d = tup(layer.dilation_rate, 2)
    if layer.padding == "same" and (any(a < b for a, b in zip(k, s)) or set(d) != {1}):
        raise unsupported(layer, f"padding='same' with kernel {k} < strides {s} or dilation {d}")
    padding = layer.padding
    if padding == "same" and ctx.naive.get("deconv"):
        padding = "symmetric"
    op = getattr(layer, "output_padding", None)
    if op is not None and layer.padding == "same":
        raise unsupported(layer, "output_padding with padding='same'")
    code = call("ConvTranspose", kernel.shape[3], kernel.shape[2], k, stride=s, dilation=d if set(d) != {1} else None,
                padding=padding if padding != "valid" else None, output_padding=tuple(op) if op else None,
                activation=activation_name(layer), bias=False if not layer.use_bias else None)
    ws = {"weight": np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))}
    if layer.use_bias:
        ws["bias"] = numpy(layer.bias)
    return Converted(code, ws)


@register_converter("Dense")
def dense(layer, ctx):
    kernel = numpy(layer.kernel)
    code = call("Dense", kernel.shape[0], kernel.shape[1], activation=activation_name(layer),
                bias=False if not layer.use_bias else None)
    ws = {"weight": np.ascontiguousarray(kernel.T)}
    if layer.use_bias:
        ws["bias"] = numpy(layer.bias)
    return Converted(code, ws)


# ---- normalisation ------------------------------------------------------------------------------------------
def _channel_axis(layer, ctx, axis):
    axes = [axis] if isinstance(axis, int) else list(axis)
    if len(axes) != 1 or axes[0] % ctx.rank != ctx.rank - 1:
        raise unsupported(layer, f"axis={axis!r} (only the channel axis -1)")


@register_converter("BatchNormalization")
def batch_norm(layer, ctx):
    _channel_axis(layer, ctx, layer.axis)
    c = ctx.in_shapes[0][-1]
    eps = layer.epsilon
    if ctx.naive.get("bn"):
        eps = 1e-5 if abs(eps - 1e-5) > 1e-12 else 1e-3   # the other framework's default
    code = call("BatchNorm", c, eps=eps, momentum=round(1.0 - layer.momentum, 10))
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    ws = {"weight": numpy(layer.gamma) if layer.scale else ones, "bias": numpy(layer.beta) if layer.center else zeros,
          "running_mean": numpy(layer.moving_mean), "running_var": numpy(layer.moving_variance),
          "num_batches_tracked": np.zeros((), np.int64)}
    return Converted(code, ws)


@register_converter("LayerNormalization")
def layer_norm(layer, ctx):
    _channel_axis(layer, ctx, layer.axis)
    if getattr(layer, "rms_scaling", False):
        raise unsupported(layer, "rms_scaling=True")
    c = ctx.in_shapes[0][-1]
    code = call("LayerNorm", c, dim=1 if ctx.rank > 1 else None, eps=layer.epsilon,
                center=False if not layer.center else None, scale=False if not layer.scale else None)
    ws = {}
    if layer.scale:
        ws["weight"] = numpy(layer.gamma)
    if layer.center:
        ws["bias"] = numpy(layer.beta)
    return Converted(code, ws)


@register_converter("GroupNormalization")
def group_norm(layer, ctx):
    _channel_axis(layer, ctx, layer.axis)
    c = ctx.in_shapes[0][-1]
    code = f"nn.GroupNorm({layer.groups}, {c}, eps={layer.epsilon!r})"
    ws = {"weight": numpy(layer.gamma) if layer.scale else np.ones(c, np.float32),
          "bias": numpy(layer.beta) if layer.center else np.zeros(c, np.float32)}
    return Converted(code, ws)


@register_converter("Normalization")
def normalization(layer, ctx):
    _channel_axis(layer, ctx, layer.axis)
    c = ctx.in_shapes[0][-1]
    mean, var = numpy(layer.mean).reshape(-1), numpy(layer.variance).reshape(-1)
    if mean.size == 1 and c != 1:
        mean, var = np.full(c, mean[0], np.float32), np.full(c, var[0], np.float32)
    return Converted(call("Normalization", c, invert=True if layer.invert else None),
                     {"mean": mean, "variance": var})


@register_converter("Rescaling")
def rescaling(layer, ctx):
    scale = np.asarray(layer.scale, np.float32).reshape(-1).tolist()
    offset = np.asarray(layer.offset, np.float32).reshape(-1).tolist()
    scale = scale[0] if len(scale) == 1 else scale
    offset = offset[0] if len(offset) == 1 else offset
    return Converted(call("Rescaling", scale, offset))


# ---- activations --------------------------------------------------------------------------------------------
@register_converter("Activation")
def activation(layer, ctx):
    name = activation_name(layer)
    return Converted(call("Activation", name) if name else "nn.Identity()")


@register_converter("ReLU")
def relu(layer, ctx):
    mx, slope, th = layer.max_value, float(layer.negative_slope), float(layer.threshold)
    if mx is None and slope == 0 and th == 0:
        return Converted("nn.ReLU()")
    if mx is not None and float(mx) == 6.0 and slope == 0 and th == 0:
        return Converted("nn.ReLU6()")
    return Converted(call("ReLU", float(mx) if mx is not None else None, negative_slope=slope or None,
                          threshold=th or None))


@register_converter("LeakyReLU")
def leaky_relu(layer, ctx):
    slope = 0.01 if ctx.naive.get("leaky") else float(layer.negative_slope)
    return Converted(f"nn.LeakyReLU({slope!r})")


@register_converter("ELU")
def elu(layer, ctx):
    return Converted(f"nn.ELU({float(layer.alpha)!r})")


@register_converter("PReLU")
def prelu(layer, ctx):
    alpha = numpy(layer.alpha)
    if alpha.ndim >= 2:
        alpha = np.moveaxis(alpha, -1, 0)          # (H, W, C) -> (C, H, W)
    return Converted(call("PReLU", tuple(alpha.shape)), {"weight": np.ascontiguousarray(alpha)})


@register_converter("Softmax")
def softmax(layer, ctx):
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    return Converted(call("Softmax", torch_dim(axis, ctx.rank)))


# ---- merge --------------------------------------------------------------------------------------------------
@register_converter("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def merge(layer, ctx):
    if len({len(s) for s in ctx.in_shapes}) != 1:
        raise unsupported(layer, f"inputs of different ranks {ctx.in_shapes}")
    return Converted(call("Merge", type(layer).__name__.lower()))


@register_converter("Concatenate")
def concatenate(layer, ctx):
    return Converted(call("Concatenate", torch_dim(layer.axis, ctx.rank)))


# ---- shape --------------------------------------------------------------------------------------------------
@register_converter("ZeroPadding1D", "ZeroPadding2D")
def zero_padding(layer, ctx):
    pads = layer.padding
    pads = [tuple(pads)] if isinstance(pads[0], int) else [tuple(p) for p in pads]
    flat = [v for p in reversed(pads) for v in p]   # F.pad: last dim first
    return Converted(call("Pad", tuple(flat)))


@register_converter("Cropping1D", "Cropping2D")
def cropping(layer, ctx):
    crops = layer.cropping
    crops = [tuple(crops)] if isinstance(crops[0], int) else [tuple(c) for c in crops]
    return Converted(call("Crop", tuple(crops)))


@register_converter("Flatten")
def flatten(layer, ctx):
    return Converted(call("Flatten", order="chw" if ctx.naive.get("flatten") else None))


@register_converter("Reshape")
def reshape(layer, ctx):
    return Converted(call("Reshape", tuple(layer.target_shape)))


@register_converter("Permute")
def permute(layer, ctx):
    return Converted(call("Permute", tuple(layer.dims)))


@register_converter("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "StochasticDepth")
def identity(layer, ctx):
    return Converted("nn.Identity()")


# ---- resize / pooling ---------------------------------------------------------------------------------------
def resize_mode(ctx, mode):
    """The resize convention; a naive `resize` (a mode name) replaces it."""
    return ctx.naive.get("resize") or mode


@register_converter("UpSampling2D")
def upsampling(layer, ctx):
    size = tup(layer.size, 2)
    modes = {"nearest": "nearest_legacy", "bilinear": "half_pixel"}
    if layer.interpolation not in modes:
        raise unsupported(layer, f"interpolation={layer.interpolation!r}")
    mode = modes[layer.interpolation]
    if mode == "half_pixel":
        mode = resize_mode(ctx, mode)
    return Converted(call("Resize", mode, factor=tuple(float(v) for v in size)))


@register_converter("ScaleResize")
def scale_resize(layer, ctx):
    """deblurkeras.layers.ScaleResize: TF1-legacy (or half-pixel) bilinear resize by a fixed factor."""
    return Converted(call("Resize", resize_mode(ctx, layer.mode), factor=(layer.scale, layer.scale)))


@register_converter("ResizeBilinear")
def resize_like(layer, ctx):
    """deblurkeras.layers.ResizeBilinear: resize the first input to the spatial size of the second."""
    return Converted(call("Resize", resize_mode(ctx, layer.mode)))


@register_converter("Resizing")
def resizing(layer, ctx):
    modes = {"nearest": "nearest", "bilinear": "half_pixel"}
    if layer.interpolation not in modes:
        raise unsupported(layer, f"interpolation={layer.interpolation!r}")
    if getattr(layer, "crop_to_aspect_ratio", False) or getattr(layer, "pad_to_aspect_ratio", False):
        raise unsupported(layer, "crop_to_aspect_ratio / pad_to_aspect_ratio")
    if getattr(layer, "antialias", False):
        raise unsupported(layer, "antialias=True")
    mode = modes[layer.interpolation]
    if mode == "half_pixel":
        mode = resize_mode(ctx, mode)
    return Converted(call("Resize", mode, size=(int(layer.height), int(layer.width))))


@register_converter("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
def pooling(layer, ctx):
    n = 1 if type(layer).__name__.endswith("1D") else 2
    kind = "max" if type(layer).__name__.startswith("Max") else "avg"
    k = tup(layer.pool_size, n)
    s = tup(layer.strides if layer.strides is not None else layer.pool_size, n)
    padding = layer.padding
    if padding == "same" and ctx.naive.get("padding"):
        padding = "valid"   # the usual hand port: no padding at all
    return Converted(call("Pool", kind, k, s, padding=padding if padding != "valid" else None))


@register_converter("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
def global_pooling(layer, ctx):
    kind = "max" if "Max" in type(layer).__name__ else "avg"
    return Converted(call("GlobalPool", kind, keepdims=True if layer.keepdims else None))


@register_converter("LayerScale")   # keras.applications.convnext.LayerScale: x * gamma (per channel)
def layer_scale(layer, ctx):
    gamma = numpy(layer.gamma)
    return Converted(call("Scale", gamma.shape[-1]), {"weight": gamma.reshape(-1)})
