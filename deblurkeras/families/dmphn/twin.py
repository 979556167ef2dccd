"""PyTorch twin of DMPHN (deblurkeras.families.dmphn.model): per-level encoder/decoder pairs, patch hierarchy.

Pure PyTorch, NCHW, values = image - 0.5. Torch keys `encoder_lv1.layer2.0.weight` <-> Keras
`encoder_lv1/layer2.0/kernel` (the nested sub-model's name, then its torch-style layer name). The Keras model
uses torch's padding conventions (ZeroPadding2D(1) + 'valid' for stride 2, 'valid' deconv + Cropping2D(1)), so
these are plain torch convs. The layer tables repeat the Keras module's (importing it would import TensorFlow).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ...convert.torch_layers import TwinModule, check_naive
from . import DECODER as _DECODER, ENCODER as _ENCODER, LEVELS, size_multiples, split_axis  # shared with the Keras model / twin


class _Part(nn.Module):
    """The official Encoder / Decoder: convs (padding 1), residual conv-ReLU-conv blocks, 4x4 deconvs (padding 1)."""

    def __init__(self, specs):
        super().__init__()
        self.specs = specs
        for name, kind, cin, cout, stride in specs:
            if kind == "res":
                block = nn.Module()
                block.add_module("0", nn.Conv2d(cin, cout, 3, padding=1))
                block.add_module("2", nn.Conv2d(cout, cout, 3, padding=1))
                self.add_module(name, block)
            elif kind == "deconv":
                self.add_module(name, nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            else:
                self.add_module(name, nn.Conv2d(cin, cout, 3, stride=stride, padding=1))

    def forward(self, x):
        for name, kind, *_ in self.specs:
            m = getattr(self, name)
            x = x + getattr(m, "2")(F.relu(getattr(m, "0")(x))) if kind == "res" else m(x)
        return x


def _split_dim(level):
    """NCHW dim along which level `level` patches are cut."""
    return 2 if split_axis(level) == "h" else 3


class DMPHNTorch(TwinModule):
    """Arguments of build_dmphn (levels) plus `naive` (no TF-specific pitfalls apply: the model is torch-native)."""

    PARITY_SIZES = ((32, 32), (48, 80))

    def __init__(self, levels=LEVELS, naive=None, name=None):
        super().__init__()
        check_naive(naive)
        self.levels = tuple(int(v) for v in levels)
        self.n = len(self.levels)
        for k in range(1, self.n + 1):
            self.add_module(f"encoder_lv{k}", _Part(_ENCODER))
            self.add_module(f"decoder_lv{k}", _Part(_DECODER))

    def keras_prefix(self, prefix):
        """`encoder_lv1.layer2.0` -> `encoder_lv1/layer2.0`: the per-level sub-model nests; its layer names hold
        dots."""
        head, _, rest = prefix.partition(".")
        return f"{head}/{rest}" if rest else head

    def check_size(self, h, w):
        mh, mw = size_multiples(self.n)
        if h % mh or w % mw:
            from ...errors import BadInputError
            raise BadInputError(f"DMPHN {self.levels} cannot run on {h}x{w}: H must be a multiple of {mh}, W of {mw}")

    def forward(self, image):
        patches = {1: [image]}
        for level in range(2, self.n + 1):
            dim, patches[level] = _split_dim(level), []
            for k, parent in enumerate(patches[level - 1]):
                a, b = torch.chunk(parent, 2, dim=dim)  # = split at the half (sizes are even); traces size-free
                self.tap(f"split_lv{level}_{k + 1}", a)
                patches[level] += [a, b]
        residuals, passed = None, None
        for level in range(self.n, 0, -1):
            feats = []
            for k, patch in enumerate(patches[level]):
                tag = f"lv{level}_{k + 1}"
                x = patch if residuals is None else self.tap(f"input_{tag}", patch + residuals[k])
                f = self.tap(f"encoder_lv{level}", getattr(self, f"encoder_lv{level}")(x), k)
                if passed is not None:
                    f = self.tap(f"feature_{tag}", f + passed[k])
                feats.append(f)
            if level == 1:
                return self.tap("decoder_lv1", self.decoder_lv1(feats[0]))
            dim = _split_dim(level)
            passed = [self.tap(f"cat_lv{level}_{k + 1}", torch.cat(feats[2 * k:2 * k + 2], dim=dim))
                      for k in range(len(feats) // 2)]
            decoder = getattr(self, f"decoder_lv{level}")
            residuals = [self.tap(f"decoder_lv{level}", decoder(f), k) for k, f in enumerate(passed)]
