"""PyTorch twins of the dense-field generator and the PatchGAN discriminator (deblurkeras.families.dense_gan.model).

Pure PyTorch, NCHW, values in [-1, 1]. Module and parameter names are the Keras layer names (`d3_conv1x1.weight`,
`d3_bn1.running_mean`, `score.weight`); the discriminator's shared patch sub-model has its layers at top level,
under `patch_gan` like the nested Keras sub-model (`patch_gan.conv1.weight` <-> `patch_gan/conv1/kernel`).
"""
import torch
from torch import nn

from ...convert.torch_layers import SameConv2d, TwinModule, batch_norm, check_naive, leaky_relu

from . import DILATIONS, N_BLOCKS


class DenseGeneratorTorch(TwinModule):
    """Arguments of build_generator (channel_rate, dropout) plus `naive`. Any H, W."""

    PARITY_SIZES = ((64, 64), (63, 81), (37, 50))

    def __init__(self, channel_rate=64, dropout=True, naive=None, name=None):
        super().__init__()
        naive = check_naive(naive)
        c, f = channel_rate, 4 * channel_rate
        self.dropout = dropout
        self.head = SameConv2d(3, f, 3, naive=naive)
        for k in range(1, N_BLOCKS + 1):
            cin = f + c * (k - 1)
            self.add_module(f"d{k}_lrelu1", leaky_relu(0.2, naive))
            self.add_module(f"d{k}_conv1x1", SameConv2d(cin, f, 1, naive=naive))
            self.add_module(f"d{k}_bn1", batch_norm(f, naive=naive))
            self.add_module(f"d{k}_lrelu2", leaky_relu(0.2, naive))
            self.add_module(f"d{k}_conv3x3", SameConv2d(f, c, 3, dilation=DILATIONS.get(k, 1), naive=naive))
            self.add_module(f"d{k}_bn2", batch_norm(c, naive=naive))
            if dropout:
                self.add_module(f"d{k}_dropout", nn.Dropout(0.5))
        self.tail_lrelu = leaky_relu(0.2, naive)
        self.tail_conv1x1 = SameConv2d(c, f, 1, naive=naive)
        self.tail_bn = batch_norm(f, naive=naive)
        self.skip_conv = SameConv2d(2 * f, c, 3, naive=naive)
        self.skip_lrelu = leaky_relu(0.2, naive)
        self.output = SameConv2d(c, 3, 3, activation="tanh", naive=naive)

    def _run(self, name, x):
        return self.tap(name, getattr(self, name)(x))

    def _block(self, x, k):
        for part in ("lrelu1", "conv1x1", "bn1", "lrelu2", "conv3x3", "bn2") + (("dropout",) if self.dropout else ()):
            x = self._run(f"d{k}_{part}", x)
        return x

    def forward(self, blurred):
        head = self._run("head", blurred)
        x = head
        for k in range(1, N_BLOCKS + 1):
            d = self._block(x, k)
            if k < N_BLOCKS:
                x = self.tap(f"cat{k}", torch.cat([x, d], dim=1))
        t = self._run("tail_bn", self._run("tail_conv1x1", self._run("tail_lrelu", d)))
        x = self.tap("skip_cat", torch.cat([head, t], dim=1))
        return self._run("output", self._run("skip_lrelu", self._run("skip_conv", x)))


class PatchModel(nn.Module):
    """The shared patch scorer: 4 x [3x3 stride-2 SAME conv, BN, LReLU(0.2)], Flatten (H, W, C), Dense(1), sigmoid."""

    def __init__(self, patch_size, filters, naive):
        super().__init__()
        chans = [3, filters, 2 * filters, 4 * filters, 4 * filters]
        for i, (cin, cout) in enumerate(zip(chans, chans[1:]), start=1):
            self.add_module(f"conv{i}", SameConv2d(cin, cout, 3, stride=2, naive=naive))
            self.add_module(f"bn{i}", batch_norm(cout, naive=naive))
            self.add_module(f"lrelu{i}", leaky_relu(0.2, naive))
        side = patch_size // 16
        self.score = nn.Linear(side * side * chans[-1], 1)

    def forward(self, x):
        for i in range(1, 5):
            for name in (f"conv{i}", f"bn{i}", f"lrelu{i}"):
                x = getattr(self, name)(x)
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten order is H, W, C
        return torch.sigmoid(self.score(x))


class PatchGANTorch(TwinModule):
    """Arguments of build_discriminator (patch_size, image_shape, filters, batch_patches) plus `naive`."""

    def __init__(self, patch_size=64, image_shape=(256, 256, 3), filters=64, batch_patches=False, naive=None,
                 name=None):
        super().__init__()
        naive = check_naive(naive)
        self.patch_size, self.image_shape, self.batch_patches = patch_size, tuple(image_shape), batch_patches
        self.patch_gan = PatchModel(patch_size, filters, naive)

    def parity_sizes(self):
        """The image size the discriminator was built for (or two patches when it takes any size)."""
        h, w = self.image_shape[:2]
        if h is None or w is None:
            return ((2 * self.patch_size, self.patch_size),)
        return ((h, w),)

    def check_size(self, h, w):
        from ...errors import BadInputError
        s = self.patch_size
        fixed = self.image_shape[:2]
        if not self.batch_patches and (h, w) != tuple(fixed):
            raise BadInputError(f"this discriminator takes {fixed[0]}x{fixed[1]} images only, not {h}x{w}")
        if h % s or w % s:
            raise BadInputError(f"image size {h}x{w} is not a multiple of patch_size {s}")

    def patch_scores(self, x):
        return self.patch_gan(x)

    def forward(self, image):
        s = self.patch_size
        n, _, h, w = image.shape
        if self.batch_patches:
            p = image.view(n, -1, h // s, s, w // s, s).permute(0, 2, 4, 1, 3, 5).reshape(-1, image.shape[1], s, s)
            self.tap("extract_patches", p)
            scores = self.tap("patch_gan", self.patch_scores(p))
            return self.tap("average", scores.view(n, -1).mean(dim=1, keepdim=True))
        scores = []
        for r in range(h // s):
            for c in range(w // s):
                patch = self.tap(f"patch_{r}_{c}", image[:, :, r * s:(r + 1) * s, c * s:(c + 1) * s])
                scores.append(self.tap("patch_gan", self.patch_scores(patch), len(scores)))
        out = torch.stack(scores).mean(dim=0) if len(scores) > 1 else scores[0]
        return self.tap("average", out) if len(scores) > 1 else out
