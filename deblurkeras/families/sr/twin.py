"""PyTorch twins of SRResNet / SRGAN x4 and the SRGAN discriminator (deblurkeras.families.sr.model).

Pure PyTorch, NCHW. The Keras layer names are the tutorial's state_dict prefixes, so the twins nest modules the
same way (`residual_blocks.3.conv_block1.conv_block.0.weight`) and set TwinModule.KERAS_PATH_SEP = "." for the exporter.
The Keras model already follows torch conventions (one-parameter PReLU, BN eps 1e-5, CRD pixel shuffle, explicit
zero padding before stride-2 convs, channels-first Flatten), so the twin is plain torch layers.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ...convert.torch_layers import SameConv2d, TwinModule, batch_norm, check_naive, leaky_relu, pixel_shuffle


class _Twin(TwinModule):
    KERAS_PATH_SEP = "."

    def put(self, dotted, module):
        """Register `module` at a dotted path, creating plain container modules on the way."""
        parent = self
        *heads, last = dotted.split(".")
        for h in heads:
            if not hasattr(parent, h):
                parent.add_module(h, nn.Module())
            parent = getattr(parent, h)
        parent.add_module(last, module)

    def run(self, name, x):
        return self.tap(name, self.get_submodule(name)(x))


class SRResNetTorch(_Twin):
    """Arguments of build_srresnet (scale, channels, n_blocks, large_kernel, small_kernel) plus `naive`."""

    PARITY_SIZES = ((24, 24), (23, 31), (17, 40))

    def __init__(self, scale=4, channels=64, n_blocks=16, large_kernel=9, small_kernel=3, naive=None, name=None):
        super().__init__()
        naive = self.naive = check_naive(naive)
        self.n_blocks, self.n_up = n_blocks, int(math.log2(int(scale)))
        bn = lambda c: batch_norm(c, epsilon=1e-5, momentum=0.9, naive=naive)  # noqa: E731 (Keras model uses torch's)
        self.put("conv_block1.conv_block.0", SameConv2d(3, channels, large_kernel, naive=naive))
        self.put("conv_block1.conv_block.1", nn.PReLU())
        for i in range(n_blocks):
            p = f"residual_blocks.{i}"
            self.put(f"{p}.conv_block1.conv_block.0", SameConv2d(channels, channels, small_kernel, naive=naive))
            self.put(f"{p}.conv_block1.conv_block.1", bn(channels))
            self.put(f"{p}.conv_block1.conv_block.2", nn.PReLU())
            self.put(f"{p}.conv_block2.conv_block.0", SameConv2d(channels, channels, small_kernel, naive=naive))
            self.put(f"{p}.conv_block2.conv_block.1", bn(channels))
        self.put("conv_block2.conv_block.0", SameConv2d(channels, channels, small_kernel, naive=naive))
        self.put("conv_block2.conv_block.1", bn(channels))
        for i in range(self.n_up):
            p = f"subpixel_convolutional_blocks.{i}"
            self.put(f"{p}.conv", SameConv2d(channels, 4 * channels, small_kernel, naive=naive))
            self.put(f"{p}.prelu", nn.PReLU())
        self.put("conv_block3.conv_block.0", SameConv2d(channels, 3, large_kernel, naive=naive))

    def forward(self, lr):
        x = skip = self.run("conv_block1.conv_block.1", self.run("conv_block1.conv_block.0", lr))
        for i in range(self.n_blocks):
            p = f"residual_blocks.{i}"
            y = x
            for part in ("conv_block1.conv_block.0", "conv_block1.conv_block.1", "conv_block1.conv_block.2",
                         "conv_block2.conv_block.0", "conv_block2.conv_block.1"):
                y = self.run(f"{p}.{part}", y)
            x = self.tap(f"{p}.add", y + x)
        x = self.run("conv_block2.conv_block.1", self.run("conv_block2.conv_block.0", x))
        x = self.tap("long_skip", x + skip)
        for i in range(self.n_up):
            p = f"subpixel_convolutional_blocks.{i}"
            x = self.tap(f"{p}.pixel_shuffle", pixel_shuffle(self.run(f"{p}.conv", x), 2, "crd", self.naive))
            x = self.run(f"{p}.prelu", x)
        x = self.run("conv_block3.conv_block.0", x)
        return self.tap("conv_block3.conv_block.1", torch.tanh(x))


class SRGANDiscriminatorTorch(_Twin):
    """Arguments of build_srgan_discriminator (size, channels, n_blocks, fc_size) plus `naive`."""

    def __init__(self, size=96, channels=64, n_blocks=8, fc_size=1024, naive=None, name=None):
        super().__init__()
        naive = check_naive(naive)
        self.size, self.n_blocks = size, n_blocks
        in_ch = 3
        for i in range(n_blocks):
            out_ch = (channels if i == 0 else in_ch * 2) if i % 2 == 0 else in_ch
            p = f"conv_blocks.{i}.conv_block"
            stride = 1 if i % 2 == 0 else 2
            self.put(f"{p}.0", SameConv2d(in_ch, out_ch, 3, stride, padding="same" if stride == 1 else "valid",
                                          naive=naive))
            if i:
                self.put(f"{p}.1", batch_norm(out_ch, epsilon=1e-5, momentum=0.9, naive=naive))
            self.put(f"{p}.{2 if i else 1}", leaky_relu(0.2, naive))
            in_ch = out_ch
        self.fc1 = nn.Linear(in_ch * 36, fc_size)
        self.leaky_relu = leaky_relu(0.2, naive)
        self.fc2 = nn.Linear(fc_size, 1)

    def parity_sizes(self):
        """The one size this discriminator takes."""
        return ((self.size, self.size),)

    def check_size(self, h, w):
        if (h, w) != (self.size, self.size):
            from ...errors import BadInputError
            raise BadInputError(f"this discriminator takes {self.size}x{self.size} images only, not {h}x{w}")

    def forward(self, image):
        x = image
        for i in range(self.n_blocks):
            p = f"conv_blocks.{i}.conv_block"
            if i % 2:  # Keras: ZeroPadding2D(1) + 'valid' stride-2 conv
                x = self.tap(f"{p}.0.pad", F.pad(x, (1, 1, 1, 1)))
            x = self.run(f"{p}.0", x)
            for j in ((1, 2) if i else (1,)):
                x = self.run(f"{p}.{j}", x)
        x = self.tap("adaptive_pool", F.adaptive_avg_pool2d(x, 6))
        x = self.tap("flatten", x.flatten(1))  # Keras permutes to (C, H, W) first: torch's own order
        return self.run("fc2", self.run("leaky_relu", self.run("fc1", x)))
