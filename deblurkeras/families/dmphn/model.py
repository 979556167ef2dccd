"""DMPHN (Zhang et al., CVPR 2019), faithful to the official PyTorch code `HongguangZhang/DMPHN-cvpr19-master`;
and Stack-DMPHN (the official SDNet2/3/4), `build_stack_dmphn` at the end of this module.

Value range: the model works on images shifted by -0.5 (the official `ToTensor() - 0.5`); its output is the
deblurred image in the same shifted range (add 0.5). The shift lives OUTSIDE the model, in the registry io
(`in_offset=-0.5, out_offset=-0.5`) and in the trainer (targets are `sharp - 0.5`).

Structure (levels=(1, 2, 4, 8), the official DMPHN_1_2_4_8): level 1 sees the whole image, level 2 its top/bottom
halves, level 3 the four quadrants, level 4 eight patches (each quadrant split top/bottom). Every level has its own
encoder/decoder pair (no sharing between levels; 1,808,131 parameters per pair). Finest level first: each patch is
encoded, neighbouring features are concatenated spatially and decoded to a residual image that is added to the next
coarser level's input patches; the (concatenated) features are added to the next level's encoder outputs.
Because concatenation and addition commute, this module adds the finer features per patch before concatenating,
which is the official sum element for element.

Weight names map mechanically to the official per-level state_dicts: the nested sub-model `encoder_lv<k>` /
`decoder_lv<k>` is the file `encoder_lv<k>.pkl` / `decoder_lv<k>.pkl`, and its inner layer `layer2.0` holds
`layer2.0.weight` (kernel, OIHW <-> HWIO) and `layer2.0.bias`. Transposed convs `layer16`/`layer20` hold
ConvTranspose2d weights (in, out, kh, kw) <-> Keras (kh, kw, out, in), no spatial flip.

Padding: the 3x3 stride-1 convs use 'same' (symmetric 1 pixel, identical to PyTorch padding=1); the stride-2 convs
use explicit ZeroPadding2D(1) + 'valid' (TF SAME would pad (0, 1) on even sizes); the 4x4 stride-2 transposed convs
are 'valid' followed by a 1-pixel crop per side (PyTorch padding=1). Official weights give official outputs.
"""
import math

import keras

from . import DECODER as _DECODER, ENCODER as _ENCODER, LEVELS, split_axis  # shared with the twin
from . import LV2_RESIDUAL, STACKS
from .layers import Halves


def _official_init(kernel, out_channels):
    """The official `weight_init`: N(0, 0.5*sqrt(2/n)), n = kh*kw*out_channels (also for the transposed convs)."""
    return keras.initializers.RandomNormal(stddev=0.5 * math.sqrt(2.0 / (kernel * kernel * out_channels)))


def _conv(filters, name, stride=1, kernel=3):
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same" if stride == 1 else "valid",
                               kernel_initializer=_official_init(kernel, filters), bias_initializer="zeros",
                               name=name)


def _apply(x, spec):
    name, kind, _, out, stride = spec
    if kind == "res":
        y = _conv(out, f"{name}.0")(x)
        y = keras.layers.ReLU(name=f"{name}.1")(y)
        y = _conv(out, f"{name}.2")(y)
        return keras.layers.Add(name=f"{name}.add")([y, x])
    if kind == "deconv":
        y = keras.layers.Conv2DTranspose(out, 4, strides=2, padding="valid", name=name,
                                         kernel_initializer=_official_init(4, out), bias_initializer="zeros")(x)
        return keras.layers.Cropping2D(1, name=f"{name}.crop")(y)
    if stride != 1:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}.pad")(x)
    return _conv(out, name, stride)(x)


def _build_part(specs, channels, name):
    x = inputs = keras.Input((None, None, channels), name=f"{name}_in")
    for spec in specs:
        x = _apply(x, spec)
    return keras.Model(inputs, x, name=name)


def build_encoder(name="encoder"):
    """The official `models.Encoder`: (N, H, W, 3) -> (N, H/4, W/4, 128)."""
    return _build_part(_ENCODER, 3, name)


def build_decoder(name="decoder"):
    """The official `models.Decoder`: (N, h, w, 128) -> (N, 4h, 4w, 3)."""
    return _build_part(_DECODER, 128, name)


def _split_axis(level):
    """NHWC axis along which level `level` (1-based) patches are cut out of level `level-1`'s."""
    return 1 if split_axis(level) == "h" else 2


def _patches(image, n_levels):
    """Per level (1-based index), the list of patches in the official order (top-left first, rows before columns)."""
    patches = {1: [image]}
    for level in range(2, n_levels + 1):
        axis = _split_axis(level)
        patches[level] = []
        for k, parent in enumerate(patches[level - 1]):
            patches[level].extend(Halves(axis, name=f"split_lv{level}_{k + 1}")(parent))
    return patches


def build_dmphn(levels=LEVELS, name=None):
    """DMPHN as a functional model: (N, H, W, 3) image - 0.5 -> deblurred image - 0.5 (same size).

    `levels`: patches per level, (1, 2, 4) or (1, 2, 4, 8). H and W must be divisible by 4 * 2**(levels-1 split
    along that axis); the registry asks for multiples of 8 (1-2-4) and 16 (1-2-4-8).
    """
    levels = tuple(int(v) for v in levels)
    if levels not in (LEVELS[:n] for n in range(1, len(LEVELS) + 1)):
        raise ValueError(f"DMPHN levels must be a prefix of {LEVELS}, got {levels}")
    n = len(levels)
    encoders = {k: build_encoder(f"encoder_lv{k}") for k in range(1, n + 1)}
    decoders = {k: build_decoder(f"decoder_lv{k}") for k in range(1, n + 1)}
    image = keras.Input((None, None, 3), name="blurred")
    patches = _patches(image, n)

    residuals, passed = None, None           # from the finer level, one per patch of the current level
    for level in range(n, 0, -1):
        feats = []
        for k, patch in enumerate(patches[level]):
            tag = f"lv{level}_{k + 1}"
            x = patch if residuals is None else keras.layers.Add(name=f"input_{tag}")([patch, residuals[k]])
            f = encoders[level](x)
            if passed is not None:
                f = keras.layers.Add(name=f"feature_{tag}")([f, passed[k]])
            feats.append(f)
        if level == 1:
            out = decoders[1](feats[0])
            break
        # Concatenate sibling features along the axis their patches were cut on; decode each to a residual.
        axis = _split_axis(level)
        passed = [keras.layers.Concatenate(axis=axis, name=f"cat_lv{level}_{k + 1}")(feats[2 * k: 2 * k + 2])
                  for k in range(len(feats) // 2)]
        residuals = [decoders[level](f) for f in passed]
    return keras.Model(image, out, name=name or "dmphn_" + "_".join(map(str, levels)))


# ------------------------------------------------------------------------------------------------ Stack-DMPHN
def _stack(s, x, prev, lv2_skip):
    """Stack `s` of SDNet<N>_test.py on `x` (the blurred image for s = 1, stack s-1's output after): a DMPHN 1-2-4
    whose features at every level also get stack s-1's (`prev`), and whose lv2 residual gets `lv2_skip`.
    Returns (output, features {"lv3": [top, bottom], "lv2": [top, bottom], "lv1": whole})."""
    enc = {lv: build_encoder(f"encoder_s{s}_lv{lv}") for lv in (1, 2, 3)}
    dec = {lv: build_decoder(f"decoder_s{s}_lv{lv}") for lv in (1, 2, 3)}
    t = f"s{s}_"
    halves = Halves(1, name=f"{t}split_lv2")(x)                         # [:, :, 0:int(H/2)], [int(H/2):H]
    quads = []
    for k, half in enumerate(halves):                                   # lv3_1..4: rows first, then columns
        quads += Halves(2, name=f"{t}split_lv3_{k + 1}")(half)
    f3 = [enc[3](q) for q in quads]
    rows = []
    for r, tag in enumerate(("top", "bot")):                            # feature[s]['lv3_top'] / ['lv3_bot']
        f = keras.layers.Concatenate(axis=2, name=f"{t}cat_lv3_{tag}")(f3[2 * r:2 * r + 2])
        if prev is not None:
            f = keras.layers.Add(name=f"{t}feature_lv3_{tag}")([f, prev["lv3"][r]])
        rows.append(f)
    r3 = [dec[3](f) for f in rows]
    f2 = []
    for k in range(2):                                                  # enc(half + r3) + f3 (+ stack s-1's)
        y = enc[2](keras.layers.Add(name=f"{t}input_lv2_{k + 1}")([halves[k], r3[k]]))
        terms = [y, rows[k]] + ([prev["lv2"][k]] if prev is not None else [])
        f2.append(keras.layers.Add(name=f"{t}feature_lv2_{k + 1}")(terms))
    f2_all = keras.layers.Concatenate(axis=1, name=f"{t}cat_lv2")(f2)
    r2 = dec[2](f2_all)
    if lv2_skip is not None:
        r2 = keras.layers.Add(name=f"{t}residual_lv2")([r2, lv2_skip])
    y = enc[1](keras.layers.Add(name=f"{t}input_lv1")([x, r2]))
    terms = [y, f2_all] + ([prev["lv1"]] if prev is not None else [])
    f1 = keras.layers.Add(name=f"{t}feature_lv1")(terms)
    return dec[1](f1), {"lv3": rows, "lv2": f2, "lv1": f1}


def build_stack_dmphn(stacks=4, lv2_residual="first", name=None):
    """Stack-DMPHN, the official SDNet<stacks>: (N, H, W, 3) image - 0.5 -> [stack 1's, ..., the last stack's
    deblurred image - 0.5]; the last is the model's image (ModelIO output_index -1), the others are what the
    original's loss also sees (SDNet<N>.py: the sum of every stack's MSE).

    Every stack is a DMPHN 1-2-4 with its own 3 encoder/decoder pairs (`encoder_s<k>_lv<l>` = the official file
    `encoder_s<k>_lv<l>.pkl`). Stack k > 1 runs on stack k-1's output and adds stack k-1's features at every level
    (lv3 top/bottom, lv2 halves, lv1). `lv2_residual` is what stack k > 1 adds to its lv2 decoder output:
      "first" (default): stack 1's output. This is the released code's quirk, `residual[s]['lv2'] =
          decoder[s]['lv2'](feature[s]['lv2']) + residual['s1']['lv1']` in both SDNet<N>.py (training) and
          SDNet<N>_test.py, for every s > 1 - not stack k-1's. The released weights were trained with it.
      "previous": stack k-1's output (what the quirk presumably meant; identical to "first" for 2 stacks);
      "none": nothing (the in-training test pass of SDNet<N>.py computes it so).
    H and W must be multiples of 8, as DMPHN 1-2-4.
    """
    stacks = int(stacks)
    if stacks not in STACKS:
        raise ValueError(f"Stack-DMPHN stacks must be one of {STACKS}, got {stacks}")
    if lv2_residual not in LV2_RESIDUAL:
        raise ValueError(f"lv2_residual must be one of {LV2_RESIDUAL}, got {lv2_residual!r}")
    image = keras.Input((None, None, 3), name="blurred")
    outs, prev = [], None
    for s in range(1, stacks + 1):
        skip = None if s == 1 or lv2_residual == "none" else outs[0 if lv2_residual == "first" else -1]
        out, prev = _stack(s, image if s == 1 else outs[-1], prev, skip)
        outs.append(out)
    return keras.Model(image, outs, name=name or f"stack_dmphn_{stacks}")
