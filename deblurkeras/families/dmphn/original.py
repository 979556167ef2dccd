"""PyTorch modules built to the OFFICIAL definitions, for parity checks (tests and experiments; never imports TF).

- DMPHN: `models.Encoder` / `models.Decoder` of HongguangZhang/DMPHN-cvpr19-master (attribute names layer1 ...
  layer24, residual blocks as nn.Sequential(conv, ReLU, conv) so keys read `layer2.0.weight`, `layer2.2.weight`)
  and the patch-hierarchy forward of DMPHN_1_2_4(_8)_test.py, written out level by level like the original;
  Stack-DMPHN: the stacked forward of SDNet2/3/4_test.py (and of the training step of SDNet2/3/4.py), stack by stack.
- SRResNet / Generator / Discriminator of sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution `models.py`, with the
  same attribute nesting (`conv_block1.conv_block.0`, `residual_blocks.<i>.conv_block1.conv_block.1`,
  `subpixel_convolutional_blocks.<i>.conv`, `net.` for the Generator, `conv_blocks.<i>...`, `fc1`, `fc2`).
"""
import math

import torch
from torch import nn


# ----------------------------------------------------------------------------------------------------- DMPHN
def _res(ch):
    return nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Conv2d(3, 32, 3, padding=1)
        self.layer2, self.layer3 = _res(32), _res(32)
        self.layer5 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.layer6, self.layer7 = _res(64), _res(64)
        self.layer9 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.layer10, self.layer11 = _res(128), _res(128)

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer2(x) + x
        x = self.layer3(x) + x
        x = self.layer5(x)
        x = self.layer6(x) + x
        x = self.layer7(x) + x
        x = self.layer9(x)
        x = self.layer10(x) + x
        return self.layer11(x) + x


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer13, self.layer14 = _res(128), _res(128)
        self.layer16 = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1)
        self.layer17, self.layer18 = _res(64), _res(64)
        self.layer20 = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        self.layer21, self.layer22 = _res(32), _res(32)
        self.layer24 = nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, x):
        x = self.layer13(x) + x
        x = self.layer14(x) + x
        x = self.layer16(x)
        x = self.layer17(x) + x
        x = self.layer18(x) + x
        x = self.layer20(x)
        x = self.layer21(x) + x
        x = self.layer22(x) + x
        return self.layer24(x)


def dmphn_forward(enc, dec, x):
    """The official test-script forward; enc/dec: dicts level -> module (3 levels: 1-2-4, 4 levels: 1-2-4-8).

    x: (N, 3, H, W) image - 0.5. Returns the deblurred image - 0.5.
    """
    H, W = x.size(2), x.size(3)
    lv2_1, lv2_2 = x[:, :, 0:int(H / 2), :], x[:, :, int(H / 2):H, :]
    lv3 = [lv2_1[:, :, :, 0:int(W / 2)], lv2_1[:, :, :, int(W / 2):W],
           lv2_2[:, :, :, 0:int(W / 2)], lv2_2[:, :, :, int(W / 2):W]]
    if len(enc) == 4:
        lv4 = []
        for q in lv3:
            lv4 += [q[:, :, 0:int(H / 4), :], q[:, :, int(H / 4):int(H / 2), :]]
        f4 = [enc[4](p) for p in lv4]
        f4_q = [torch.cat((f4[2 * k], f4[2 * k + 1]), 2) for k in range(4)]
        f4_top, f4_bot = torch.cat((f4_q[0], f4_q[1]), 3), torch.cat((f4_q[2], f4_q[3]), 3)
        r4 = [dec[4](f) for f in f4_q]
        f3 = [enc[3](lv3[k] + r4[k]) for k in range(4)]
        f3_top = torch.cat((f3[0], f3[1]), 3) + f4_top
        f3_bot = torch.cat((f3[2], f3[3]), 3) + f4_bot
    else:
        f3 = [enc[3](p) for p in lv3]
        f3_top, f3_bot = torch.cat((f3[0], f3[1]), 3), torch.cat((f3[2], f3[3]), 3)
    f3_all = torch.cat((f3_top, f3_bot), 2)
    r3_top, r3_bot = dec[3](f3_top), dec[3](f3_bot)
    f2 = torch.cat((enc[2](lv2_1 + r3_top), enc[2](lv2_2 + r3_bot)), 2) + f3_all
    r2 = dec[2](f2)
    f1 = enc[1](x + r2) + f2
    return dec[1](f1)


def sdnet_forward(enc, dec, x, lv2_residual="first"):
    """The official SDNet<N>_test.py forward; enc/dec: dicts (stack 1..N, level 1..3) -> module.

    x: (N, 3, H, W) image - 0.5. Returns [residual['s1']['lv1'], ..., residual['sN']['lv1']] (image - 0.5 each).
    lv2_residual: what stack s > 1 adds to decoder[s]['lv2']'s output: "first" = residual['s1']['lv1'] (as released),
    "previous" = residual[ps]['lv1'], "none" = nothing (SDNet<N>.py's in-training test pass).
    """
    H, W = x.size(2), x.size(3)
    n = max(s for s, _ in enc)
    feature, residual = {}, {}
    for s in range(1, n + 1):
        f = feature[s] = {}
        r = residual[s] = {}
        src = x if s == 1 else residual[s - 1]["lv1"]   # images['lv1'] for s1, residual[ps]['lv1'] after
        p = feature.get(s - 1)
        f["lv3_1"] = enc[s, 3](src[:, :, 0:int(H / 2), 0:int(W / 2)])
        f["lv3_2"] = enc[s, 3](src[:, :, 0:int(H / 2), int(W / 2):W])
        f["lv3_3"] = enc[s, 3](src[:, :, int(H / 2):H, 0:int(W / 2)])
        f["lv3_4"] = enc[s, 3](src[:, :, int(H / 2):H, int(W / 2):W])
        f["lv3_top"] = torch.cat((f["lv3_1"], f["lv3_2"]), 3)
        f["lv3_bot"] = torch.cat((f["lv3_3"], f["lv3_4"]), 3)
        if p is not None:
            f["lv3_top"] = f["lv3_top"] + p["lv3_top"]
            f["lv3_bot"] = f["lv3_bot"] + p["lv3_bot"]
        r["lv3_top"] = dec[s, 3](f["lv3_top"])
        r["lv3_bot"] = dec[s, 3](f["lv3_bot"])
        f["lv2_1"] = enc[s, 2](src[:, :, 0:int(H / 2), :] + r["lv3_top"]) + f["lv3_top"]
        f["lv2_2"] = enc[s, 2](src[:, :, int(H / 2):H, :] + r["lv3_bot"]) + f["lv3_bot"]
        if p is not None:
            f["lv2_1"] = f["lv2_1"] + p["lv2_1"]
            f["lv2_2"] = f["lv2_2"] + p["lv2_2"]
        f["lv2"] = torch.cat((f["lv2_1"], f["lv2_2"]), 2)
        r["lv2"] = dec[s, 2](f["lv2"])
        if s > 1 and lv2_residual == "first":
            r["lv2"] = r["lv2"] + residual[1]["lv1"]
        elif s > 1 and lv2_residual == "previous":
            r["lv2"] = r["lv2"] + residual[s - 1]["lv1"]
        f["lv1"] = enc[s, 1](src + r["lv2"]) + f["lv2"]
        if p is not None:
            f["lv1"] = f["lv1"] + p["lv1"]
        r["lv1"] = dec[s, 1](f["lv1"])
    return [residual[s]["lv1"] for s in range(1, n + 1)]


def sdnet_modules(stacks, init=True):
    """({(s, lv): Encoder}, {(s, lv): Decoder}) for stacks 1..`stacks`, levels 1..3 (the official weight_init)."""
    enc = {(s, lv): Encoder() for s in range(1, stacks + 1) for lv in (1, 2, 3)}
    dec = {(s, lv): Decoder() for s in range(1, stacks + 1) for lv in (1, 2, 3)}
    if init:
        for m in (*enc.values(), *dec.values()):
            dmphn_official_init(m)
    return enc, dec


def dmphn_official_init(module):
    """The official weight_init: N(0, 0.5*sqrt(2/n)), n = kh*kw*out_channels; zero bias."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, 0.5 * math.sqrt(2.0 / n))
            m.bias.data.zero_()
    return module


# ----------------------------------------------------------------------------------------------- SRResNet / SRGAN
class ConvolutionalBlock(nn.Module):
    def __init__(self, cin, cout, k, stride=1, batch_norm=False, activation=None):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        if activation == "prelu":
            layers.append(nn.PReLU())
        elif activation == "leakyrelu":
            layers.append(nn.LeakyReLU(0.2))
        elif activation == "tanh":
            layers.append(nn.Tanh())
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv_block(x)


class SubPixelConvolutionalBlock(nn.Module):
    def __init__(self, k=3, ch=64, r=2):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch * r * r, k, padding=k // 2)
        self.pixel_shuffle = nn.PixelShuffle(r)
        self.prelu = nn.PReLU()

    def forward(self, x):
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class ResidualBlock(nn.Module):
    def __init__(self, k=3, ch=64):
        super().__init__()
        self.conv_block1 = ConvolutionalBlock(ch, ch, k, batch_norm=True, activation="prelu")
        self.conv_block2 = ConvolutionalBlock(ch, ch, k, batch_norm=True)

    def forward(self, x):
        return self.conv_block2(self.conv_block1(x)) + x


class SRResNet(nn.Module):
    def __init__(self, large=9, small=3, ch=64, n_blocks=16, scale=4):
        super().__init__()
        self.conv_block1 = ConvolutionalBlock(3, ch, large, activation="prelu")
        self.residual_blocks = nn.Sequential(*[ResidualBlock(small, ch) for _ in range(n_blocks)])
        self.conv_block2 = ConvolutionalBlock(ch, ch, small, batch_norm=True)
        self.subpixel_convolutional_blocks = nn.Sequential(
            *[SubPixelConvolutionalBlock(small, ch, 2) for _ in range(int(math.log2(scale)))])
        self.conv_block3 = ConvolutionalBlock(ch, 3, large, activation="tanh")

    def forward(self, x):
        x = self.conv_block1(x)
        y = self.conv_block2(self.residual_blocks(x)) + x
        return self.conv_block3(self.subpixel_convolutional_blocks(y))


class Generator(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.net = SRResNet(**kw)

    def forward(self, x):
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, k=3, ch=64, n_blocks=8, fc_size=1024):
        super().__init__()
        blocks, cin = [], 3
        for i in range(n_blocks):
            cout = (ch if i == 0 else cin * 2) if i % 2 == 0 else cin
            blocks.append(ConvolutionalBlock(cin, cout, k, stride=1 if i % 2 == 0 else 2,
                                             batch_norm=i != 0, activation="leakyrelu"))
            cin = cout
        self.conv_blocks = nn.Sequential(*blocks)
        self.adaptive_pool = nn.AdaptiveAvgPool2d((6, 6))
        self.fc1 = nn.Linear(cout * 36, fc_size)
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.fc2 = nn.Linear(fc_size, 1)

    def forward(self, x):
        x = self.adaptive_pool(self.conv_blocks(x))
        return self.fc2(self.leaky_relu(self.fc1(x.view(x.size(0), -1))))


def randomize_bn_and_prelu(module, seed=0):
    """Non-trivial BN running stats / affine and PReLU slopes, so parity tests exercise them."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))
            m.num_batches_tracked.fill_(123)
        elif isinstance(m, nn.PReLU):
            m.weight.data.fill_(float(0.1 + 0.3 * torch.rand(1, generator=g)))
    return module
