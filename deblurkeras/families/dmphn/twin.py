"""PyTorch twins of DMPHN and Stack-DMPHN (deblurkeras.families.dmphn.model): per-level encoder/decoder pairs,
patch hierarchy; Stack-DMPHN: per-stack ones (`encoder_s1_lv1.layer2.0.weight` <-> `encoder_s1_lv1/layer2.0/kernel`).

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
from . import LV2_RESIDUAL, STACK_LEVELS, STACKS


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


class StackDMPHNTorch(TwinModule):
    """Arguments of build_stack_dmphn (stacks, lv2_residual) plus `naive` (none applies: torch-native model).
    Returns every stack's output, as the Keras model."""

    PARITY_SIZES = ((32, 32), (48, 40))

    def __init__(self, stacks=4, lv2_residual="first", naive=None, name=None):
        super().__init__()
        check_naive(naive)
        self.stacks = int(stacks)
        if self.stacks not in STACKS or lv2_residual not in LV2_RESIDUAL:
            raise ValueError(f"Stack-DMPHN: stacks in {STACKS}, lv2_residual in {LV2_RESIDUAL}; "
                             f"got {stacks}, {lv2_residual!r}")
        self.lv2_residual = lv2_residual
        for s in range(1, self.stacks + 1):
            for lv in (1, 2, 3):
                self.add_module(f"encoder_s{s}_lv{lv}", _Part(_ENCODER))
                self.add_module(f"decoder_s{s}_lv{lv}", _Part(_DECODER))

    keras_prefix = DMPHNTorch.keras_prefix

    def check_size(self, h, w):
        mh, mw = size_multiples(len(STACK_LEVELS))
        if h % mh or w % mw:
            from ...errors import BadInputError
            raise BadInputError(f"Stack-DMPHN cannot run on {h}x{w}: H must be a multiple of {mh}, W of {mw}")

    def _halves(self, x, dim, name):
        a, b = torch.chunk(x, 2, dim=dim)  # not torch.split(x, n // 2): the tracer would freeze n // 2 into the
        self.tap(name, a)                  # ONNX Split, sized for the trace size only; chunk traces size-free
        return [a, b]

    def _stack(self, s, x, prev, skip):
        t, enc, dec = f"s{s}_", f"encoder_s{s}_lv", f"decoder_s{s}_lv"
        halves = self._halves(x, 2, f"{t}split_lv2")
        quads = [q for k, h in enumerate(halves) for q in self._halves(h, 3, f"{t}split_lv3_{k + 1}")]
        f3 = [self.tap(enc + "3", getattr(self, enc + "3")(q), k) for k, q in enumerate(quads)]
        rows = []
        for r, tag in enumerate(("top", "bot")):
            f = self.tap(f"{t}cat_lv3_{tag}", torch.cat(f3[2 * r:2 * r + 2], dim=3))
            if prev is not None:
                f = self.tap(f"{t}feature_lv3_{tag}", f + prev["lv3"][r])
            rows.append(f)
        r3 = [self.tap(dec + "3", getattr(self, dec + "3")(f), k) for k, f in enumerate(rows)]
        f2 = []
        for k in range(2):
            y = self.tap(enc + "2", getattr(self, enc + "2")(self.tap(f"{t}input_lv2_{k + 1}", halves[k] + r3[k])), k)
            y = y + rows[k]
            if prev is not None:
                y = y + prev["lv2"][k]
            f2.append(self.tap(f"{t}feature_lv2_{k + 1}", y))
        f2_all = self.tap(f"{t}cat_lv2", torch.cat(f2, dim=2))
        r2 = self.tap(dec + "2", getattr(self, dec + "2")(f2_all))
        if skip is not None:
            r2 = self.tap(f"{t}residual_lv2", r2 + skip)
        y = self.tap(enc + "1", getattr(self, enc + "1")(self.tap(f"{t}input_lv1", x + r2))) + f2_all
        if prev is not None:
            y = y + prev["lv1"]
        f1 = self.tap(f"{t}feature_lv1", y)
        return self.tap(dec + "1", getattr(self, dec + "1")(f1)), {"lv3": rows, "lv2": f2, "lv1": f1}

    def forward(self, image):
        outs, prev = [], None
        for s in range(1, self.stacks + 1):
            skip = None if s == 1 or self.lv2_residual == "none" else outs[0 if self.lv2_residual == "first" else -1]
            out, prev = self._stack(s, image if s == 1 else outs[-1], prev, skip)
            outs.append(out)
        return outs
