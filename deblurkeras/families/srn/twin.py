"""PyTorch twin of SRN-DeblurNet (deblurkeras.families.srn.model): same layer names, same 3-scale weight sharing.

Pure PyTorch. Input/outputs NCHW in [0, 1]; returns the list of scale outputs, coarsest first.
Captured names are the Keras layer names with the Keras call (node) index: `enc2_1` node 0 is the coarsest scale.
"""
import torch

from ...convert.torch_layers import SameConv2d, SameConvTranspose2d, TwinModule, check_naive, resize_bilinear, scaled_size

from . import VARIANTS
from .convert import ConvLSTMCell, ResBlock  # the same modules convert-keras writes out, with the twin's convs


def _conv(naive):
    """The twin's conv for ResBlock / ConvLSTMCell: TF SAME, or the naive symmetric padding when asked."""
    return lambda cin, cout, kernel, activation=None: SameConv2d(cin, cout, kernel, activation=activation, naive=naive)


class SRNTorch(TwinModule):
    """SRN-DeblurNet with the arguments of `build_srn` (variant, resize_mode, n_levels, scale) plus `naive`."""

    def __init__(self, variant="color", resize_mode="tf1_legacy", n_levels=3, scale=0.5, naive=None, name=None):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown SRN variant {variant!r}; expected one of {sorted(VARIANTS)}")
        naive = check_naive(naive)
        self.channels, lstm = VARIANTS[variant]
        self.resize_mode, self.n_levels, self.scale, self.naive = resize_mode, n_levels, scale, naive
        conv = lambda cin, cout, stride=1, act="relu": SameConv2d(cin, cout, 5, stride, activation=act, naive=naive)  # noqa: E731
        self.enc1_1, self.enc2_1, self.enc3_1 = conv(2 * self.channels, 32), conv(32, 64, 2), conv(64, 128, 2)
        self.blocks = {}
        for prefix, f, ks in (("enc1", 32, (2, 3, 4)), ("enc2", 64, (2, 3, 4)), ("enc3", 128, (2, 3, 4)),
                              ("dec3", 128, (3, 2, 1)), ("dec2", 64, (3, 2, 1)), ("dec1", 32, (3, 2, 1))):
            self.blocks[prefix] = [f"{prefix}_{k}" for k in ks]
            for name_ in self.blocks[prefix]:
                self.add_module(name_, ResBlock(f, 5, _conv(naive)))
        self.convLSTM = ConvLSTMCell(128, 128, 3, 1.0, _conv(naive)) if lstm else None
        self.dec2_4 = SameConvTranspose2d(128, 64, 4, 2, activation="relu", naive=naive)
        self.dec1_4 = SameConvTranspose2d(64, 32, 4, 2, activation="relu", naive=naive)
        self.dec1_0 = conv(32, self.channels, act=None)

    PARITY_SIZES = ((64, 64), (48, 80), (32, 112))

    def level_sizes(self, h, w):
        return [scaled_size(h, w, self.scale ** (self.n_levels - i - 1)) for i in range(self.n_levels)]

    def check_size(self, h, w):
        """Every level must be divisible by 4 (two stride-2 convs, then two x2 deconvs add the skips)."""
        bad = [f"{a}x{b}" for a, b in self.level_sizes(h, w) if a % 4 or b % 4 or a < 4 or b < 4]
        if bad:
            from ...errors import BadInputError
            raise BadInputError(f"SRN cannot run on {h}x{w}: level sizes {', '.join(bad)} are not multiples of 4 "
                                "(use multiples of 16)")

    def _chain(self, x, prefix, level):
        for name in self.blocks[prefix]:
            x = self.tap(name, getattr(self, name)(x), level)
        return x

    def _net(self, x, state, level):
        t = self.tap
        c1 = self._chain(t("enc1_1", self.enc1_1(x), level), "enc1", level)
        c2 = self._chain(t("enc2_1", self.enc2_1(c1), level), "enc2", level)
        c3 = self._chain(t("enc3_1", self.enc3_1(c2), level), "enc3", level)
        feat = c3
        if self.convLSTM is not None:
            if state is None:
                state = t("zero_state", torch.zeros_like(c3).repeat(1, 2, 1, 1))
            else:  # Keras node index of resize_state is level - 1 (it is not called at the coarsest level)
                state = t("resize_state", self._resize(state, c3.shape[2:]), level - 1)
            feat, state = self.convLSTM(c3, state)
            t("convLSTM", feat, level)
        d = self._chain(feat, "dec3", level)
        d = t("cat2", t("dec2_4", self.dec2_4(d), level) + c2, level)
        d = self._chain(d, "dec2", level)
        d = t("cat1", t("dec1_4", self.dec1_4(d), level) + c1, level)
        d = self._chain(d, "dec1", level)
        return t("dec1_0", self.dec1_0(d), level), state

    def _resize(self, x, size):
        return resize_bilinear(x, size, self.resize_mode, self.naive)

    def forward(self, blurred):
        outputs, pred, state = [], blurred, None
        for i, size in enumerate(self.level_sizes(*blurred.shape[2:])):
            inp_blur = self.tap(f"resize_blur_{i}", self._resize(blurred, size))
            inp_pred = self.tap("stop_gradient", self.tap("resize_pred", self._resize(pred, size), i).detach(), i)
            pred, state = self._net(self.tap("inp", torch.cat([inp_blur, inp_pred], dim=1), i), state, i)
            outputs.append(pred)
        return outputs
