"""Reusable Keras layers shared by the model families (all registered for safe_mode loading)."""
from .resize import ResizeBilinear, ScaleResize, resize_bilinear, scaled_size, RESIZE_MODES  # noqa: F401
from .resblock import ResBlock  # noqa: F401
from .conv_lstm import ConvLSTMCell  # noqa: F401
from .misc import StopGradient, ZeroState  # noqa: F401
from .torch_bn import TorchBatchNorm  # noqa: F401
