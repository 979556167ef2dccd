"""SRResNet / SRGAN as the original defines them (sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution), restated in
PyTorch for the parity checks (tests and experiments; `import deblurkeras` never imports this module). Written from
the original definitions; none of their code is copied here.

- `SRResNet` / `Generator` / `Discriminator` of the tutorial's `models.py`, with the same attribute nesting
  (`conv_block1.conv_block.0`, `residual_blocks.<i>.conv_block1.conv_block.1`, `subpixel_convolutional_blocks.<i>.conv`,
  `net.` for the Generator, `conv_blocks.<i>...`, `fc1`, `fc2`).
- The training steps (train-step parity, deblurkeras.training.step_parity): train_srresnet.py's and
  train_srgan.py's - SRGAN per batch: G step (content MSE of truncated VGG19 i=5 j=4 on ImageNet-normalised images
  + 1e-3 * BCE-with-logits(D(SR), 1)), then D step (D(HR) first, then D(SR.detach())).
"""
import math

import numpy as np

import torch
from torch import nn

from ...spec import IMAGENET_MEAN, IMAGENET_STD
from ...training.original_steps import load_state, nchw, state_arrays, torch_run

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


# ------------------------------------------------------------------------------------ official training steps
def srresnet_module(channels=64, n_blocks=16, scale=4):
    """The tutorial's SRResNet (state_dict keys are the tutorial's)."""
    return SRResNet(ch=channels, n_blocks=n_blocks, scale=scale)


def srgan_discriminator_module(channels=64, n_blocks=8, fc_size=1024):
    return Discriminator(ch=channels, n_blocks=n_blocks, fc_size=fc_size)


def truncated_vgg19(kernels):
    """VGG19 features up to conv5_4 + ReLU (the tutorial's TruncatedVGG19(5, 4)); kernels: 16 (OIHW, bias)."""
    layers, cin, k = [], 3, 0
    for block, n in enumerate((2, 2, 4, 4, 4)):
        for _ in range(n):
            w, b = kernels[k]
            conv = nn.Conv2d(cin, w.shape[0], 3, padding=1)
            conv.weight.data.copy_(torch.from_numpy(w))
            conv.bias.data.copy_(torch.from_numpy(b))
            layers += [conv, nn.ReLU()]
            cin, k = w.shape[0], k + 1
        if block < 4:
            layers.append(nn.MaxPool2d(2, 2))
    vgg = nn.Sequential(*layers).eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    return vgg


def _imagenet(x01):
    """The tutorial's torch.FloatTensor(mean / std) in float32 runs; in float64 runs the same numbers in float64,
    as our side has them (float32-rounded constants would seed a 1e-8 difference that Adam then amplifies)."""
    mean, std = (torch.tensor(a, dtype=x01.dtype).view(1, 3, 1, 1) for a in (IMAGENET_MEAN, IMAGENET_STD))
    return (x01 - mean) / std


def run_srresnet(init, batches, opts):
    """train_srresnet.py: MSE(SRResNet(LR imagenet-normed), HR in [-1, 1]); Adam(lr)."""
    g = load_state(srresnet_module(**opts["g_kw"]), init).train()
    opt = torch.optim.Adam(g.parameters(), lr=float(opts["lr"]))
    mse = nn.MSELoss()
    losses, grad = [], None
    for lr_img, hr in batches:
        loss = mse(g(_imagenet(nchw(lr_img))), nchw(hr) * 2.0 - 1.0)
        opt.zero_grad()
        loss.backward()
        if grad is None:
            grad = {k: p.grad.numpy().copy() for k, p in g.named_parameters()}
        opt.step()
        losses.append([loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": state_arrays([("", g)])}


def run_srgan(init, batches, opts):
    """train_srgan.py per batch: G step, then D step with D(HR) before D(SR.detach()); init keys g./d./vgg.N."""
    g = load_state(srresnet_module(**opts["g_kw"]), {k[2:]: v for k, v in init.items() if k.startswith("g.")}).train()
    d = load_state(srgan_discriminator_module(**opts["d_kw"]),
              {k[2:]: v for k, v in init.items() if k.startswith("d.")}).train()
    vgg = truncated_vgg19([(init[f"vgg.{i}.weight"], init[f"vgg.{i}.bias"]) for i in range(16)])
    opt_g = torch.optim.Adam(g.parameters(), lr=float(opts["lr"]))
    opt_d = torch.optim.Adam(d.parameters(), lr=float(opts["lr"]))
    mse, bce = nn.MSELoss(), nn.BCEWithLogitsLoss()
    beta = float(opts.get("beta", 1e-3))
    losses, grad = [], None
    for lr_img, hr01 in batches:
        hr = _imagenet(nchw(hr01))
        sr = _imagenet((g(_imagenet(nchw(lr_img))) + 1.0) / 2.0)   # convert_image('[-1, 1]' -> 'imagenet-norm')
        content = mse(vgg(sr), vgg(hr).detach())
        sr_d = d(sr)
        adversarial = bce(sr_d, torch.ones_like(sr_d))
        opt_g.zero_grad()
        (content + beta * adversarial).backward()
        g_grad = {f"g.{k}": p.grad.numpy().copy() for k, p in g.named_parameters()}
        opt_g.step()
        hr_d = d(hr)
        sr_d = d(sr.detach())
        d_loss = bce(sr_d, torch.zeros_like(sr_d)) + bce(hr_d, torch.ones_like(hr_d))
        opt_d.zero_grad()
        d_loss.backward()
        if grad is None:
            grad = {**g_grad, **{f"d.{k}": p.grad.numpy().copy() for k, p in d.named_parameters()}}
        opt_d.step()
        losses.append([content.item(), adversarial.item(), d_loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": state_arrays([("g.", g), ("d.", d)])}


# ----------------------------------------------------------------------------------------------- train-step parity
def describe(case, trainer, opts, small):
    """step_parity's setup of an SR case: our models' variables in the twins' torch names and layout (conv biases
    feeding a BatchNorm left out), and for SRGAN the VGG19 convs the reference's content loss uses."""
    from ...convert.export import build_twin
    from ...training.step_parity import bn_fed_biases, torch_init, torch_params

    if case == "srresnet":
        g = trainer.generator
        kw = small.get("srresnet-x4", {})
        twin = build_twin("srresnet-x4", kw)
        params = torch_params(g, twin, "", trainer.optimizer)
        skip = {n for n, v, _, _ in params if v.path in bn_fed_biases(g)}
        return {"trainer": trainer, "params": params, "skip": skip, "init": torch_init(g, twin, ""),
                "loss_keys": ["loss"], "ref_opts": {**opts, "g_kw": kw}}
    if case == "srgan":
        g, d = trainer.generator, trainer.discriminator
        g_kw = small.get("srgan-x4", {})
        d_kw = {**small.get("srgan-d", {}), "size": int(opts["size"])}
        g_twin, d_twin = build_twin("srgan-x4", g_kw), build_twin("srgan-d", d_kw)
        params = torch_params(g, g_twin, "g.", trainer.g_optimizer) + torch_params(d, d_twin, "d.",
                                                                                     trainer.d_optimizer)
        fed = bn_fed_biases(g) | bn_fed_biases(d)
        skip = {n for n, v, _, _ in params if v.path in fed}
        init = {**torch_init(g, g_twin, "g."), **torch_init(d, d_twin, "d.")}
        convs = _convs(trainer.features)
        assert len(convs) == 16, len(convs)
        for i, layer in enumerate(convs):
            init[f"vgg.{i}.weight"] = layer.kernel.numpy().transpose(3, 2, 0, 1).copy()
            init[f"vgg.{i}.bias"] = layer.bias.numpy()
        return {"trainer": trainer, "params": params, "skip": skip, "init": init,
                "loss_keys": ["content", "adversarial", "d_loss"],
                "ref_opts": {**opts, "g_kw": g_kw, "d_kw": {k: v for k, v in d_kw.items() if k != "size"}}}
    raise ValueError(case)


def _convs(model):
    import keras
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _convs(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            out.append(layer)
    return out


@torch_run
def run_reference(case, init, batches, opts):
    return (run_srgan if case == "srgan" else run_srresnet)(init, batches, opts)  # (LR, HR) pairs
