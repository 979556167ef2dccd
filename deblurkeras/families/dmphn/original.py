"""DMPHN and Stack-DMPHN as the original defines them, restated in PyTorch for the parity checks (tests and
experiments; `import deblurkeras` never imports this module). Written from the original definitions; none of their
code is copied here.

- `Encoder` / `Decoder`: `models.Encoder` / `models.Decoder` of HongguangZhang/DMPHN-cvpr19-master (attribute names
  layer1 ... layer24, residual blocks as nn.Sequential(conv, ReLU, conv) so keys read `layer2.0.weight`,
  `layer2.2.weight`), and the patch-hierarchy forward of DMPHN_1_2_4(_8)_test.py, written out level by level like
  the original; Stack-DMPHN: the stacked forward of SDNet2/3/4_test.py (and of the training step of SDNet2/3/4.py),
  stack by stack.
- The training step (train-step parity, deblurkeras.training.step_parity): DMPHN_1_2_4_8.py's - inputs - 0.5,
  nn.MSELoss on the final output, one torch.optim.Adam(lr) per encoder/decoder; SDNet4.py's - the stacked forward
  (released lv2 quirk included), loss mse(sN) + ... + mse(s1), zero_grad on every module, backward, one Adam step
  per encoder/decoder.

The twin (twin.py) is our own PyTorch port, built from the Keras model's layer tables for export; this module is the
original's, kept apart so a parity check never compares the port with itself.
"""
import math

import numpy as np

import torch
from torch import nn

from ...training.original_steps import load_state, nchw, state_arrays, torch_run

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


# ------------------------------------------------------------------------------------- official training step
def dmphn_modules(n_levels):
    """{encoder_lv1: Encoder, decoder_lv1: Decoder, ...}: the official modules, named like our twin's keys."""
    return nn.ModuleDict({f"{p}_lv{k}": (Encoder() if p == "encoder" else Decoder())
                          for k in range(1, n_levels + 1) for p in ("encoder", "decoder")})


def module_dict_forward(m, x):
    """dmphn_forward on the modules of dmphn_modules(); x = image - 0.5 (NCHW)."""
    n = len(m) // 2
    return dmphn_forward({k: m[f"encoder_lv{k}"] for k in range(1, n + 1)},
                                  {k: m[f"decoder_lv{k}"] for k in range(1, n + 1)}, x)


def official_steps(m, batches, lr, loss_of):
    """The official DMPHN / SDNet training step over `batches`: one torch Adam per module of `m`, zero_grad,
    backward, step; `loss_of(blurred_nchw - 0.5, sharp_nchw - 0.5)` is the script's loss. -> the parity record."""
    optims = [torch.optim.Adam(m[name].parameters(), lr=float(lr)) for name in m]
    losses, grad = [], None
    for blurred, sharp in batches:
        loss = loss_of(nchw(blurred) - 0.5, nchw(sharp) - 0.5)
        for mod in m.values():
            mod.zero_grad()
        loss.backward()
        if grad is None:
            grad = {k: p.grad.numpy().copy() for k, p in m.named_parameters()}
        for o in optims:
            o.step()
        losses.append([loss.item()])
    return {"losses": np.array(losses), "grad": grad, "w": state_arrays([("", m)])}


def run_dmphn(init, batches, opts):
    """init: DMPHN twin state (encoder_lv1.layer1.weight ...); batches: [(blurred, sharp)] NHWC in [0, 1]."""
    m = load_state(dmphn_modules(int(opts["levels"])), init).train()
    mse = nn.MSELoss()
    return official_steps(m, batches, opts["lr"], lambda x, gt: mse(module_dict_forward(m, x), gt))


def stack_dmphn_modules(stacks):
    """{encoder_s1_lv1: Encoder, ...}: the official modules, named like the SDNet files (and our twin's keys)."""
    enc, dec = sdnet_modules(stacks, init=False)
    return nn.ModuleDict({f"{p}_s{s}_lv{lv}": mods[s, lv] for (s, lv) in enc
                          for p, mods in (("encoder", enc), ("decoder", dec))})


def run_stack_dmphn(init, batches, opts):
    """init: Stack-DMPHN twin state (encoder_s1_lv1.layer1.weight ...); batches: [(blurred, sharp)] NHWC in [0, 1]."""
    n = int(opts["stacks"])
    m = load_state(stack_dmphn_modules(n), init).train()
    enc = {(s, lv): m[f"encoder_s{s}_lv{lv}"] for s in range(1, n + 1) for lv in (1, 2, 3)}
    dec = {(s, lv): m[f"decoder_s{s}_lv{lv}"] for s in range(1, n + 1) for lv in (1, 2, 3)}
    mse = nn.MSELoss()

    def loss_of(x, gt):
        outs = sdnet_forward(enc, dec, x)
        loss = mse(outs[-1], gt)                     # SDNet4.py: mse(s4) + mse(s3) + mse(s2) + mse(s1)
        for out in reversed(outs[:-1]):
            loss = loss + mse(out, gt)
        return loss

    return official_steps(m, batches, opts["lr"], loss_of)


# ----------------------------------------------------------------------------------------------- train-step parity
def describe(case, trainer, opts, small):
    """step_parity's setup of a DMPHN case: our generator's variables in the twin's torch names and layout."""
    from ...convert.export import build_twin
    from ...training.step_parity import torch_init, torch_params

    g = trainer.generator
    if case == "stack-dmphn":
        stacks = len(g.outputs)
        twin, ref_opts = build_twin(f"stack-dmphn-{stacks}"), {**opts, "stacks": stacks}
    else:
        levels = sum(1 for layer in g.layers if layer.name.startswith("encoder_lv"))
        twin, ref_opts = build_twin(f"dmphn-{'-'.join(str(2 ** i) for i in range(levels))}"), {**opts, "levels": levels}
    return {"trainer": trainer, "params": torch_params(g, twin, "", trainer.optimizer), "skip": set(),
            "init": torch_init(g, twin, ""), "loss_keys": ["loss"], "ref_opts": ref_opts}


@torch_run
def run_reference(case, init, batches, opts):
    return (run_stack_dmphn if case == "stack-dmphn" else run_dmphn)(init, batches, opts)
