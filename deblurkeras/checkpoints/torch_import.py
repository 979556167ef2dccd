"""`deblurkeras import-torch`: load the original PyTorch checkpoints of DMPHN and SRResNet / SRGAN into Keras.

Accepted layouts (exactly what the original code writes, once they are plain state_dicts):
- DMPHN: a directory with the official per-level files `encoder_lv1.pkl ... decoder_lv<n>.pkl` (3 pairs = DMPHN
  1-2-4, 4 pairs = 1-2-4-8), each `torch.save(encoder.state_dict(), ...)`.
- SRResNet: `checkpoint_srresnet.pth` = {'model': state_dict, ...} (or a bare state_dict).
- SRGAN: `checkpoint_srgan.pth` = {'generator': state_dict (keys `net.*`), 'discriminator': state_dict, ...}.
Files are read with `torch.load(weights_only=True)`: nothing is unpickled but tensors and plain containers. The
tutorial's own checkpoints pickle whole modules and optimizers; those are refused with a message saying how to
re-save them as state_dicts in the original environment.

Mapping (strict, by name; see the models' docstrings): a Keras layer `P` reads `P.weight` / `P.bias`
(BN: `P.running_mean`, `P.running_var`; `num_batches_tracked` is ignored). Conv and ConvTranspose weights are
permuted (2, 3, 1, 0) (OIHW -> HWIO, and (in, out, kh, kw) -> (kh, kw, out, in)), Linear weights transposed,
one-parameter PReLU weights reshaped. Any missing, unexpected or mis-shaped tensor raises WeightsMismatchError
before a single weight is assigned. A `module.` prefix (DataParallel) is stripped.
"""
import os
import re

import numpy as np

from ..errors import BadInputError, WeightsMismatchError, first_line

DMPHN_FILE = re.compile(r"^(encoder|decoder)_lv(\d+)\.pkl$")
MODELS = ("auto", "dmphn-1-2-4", "dmphn-1-2-4-8", "srresnet-x4", "srgan-x4", "srgan-d")
RESAVE_HINT = ("it pickles whole modules/optimizers, which weights_only=True refuses; in the original environment "
               "re-save plain state_dicts, e.g. `ckpt = torch.load(path); torch.save({'model': "
               "ckpt['model'].state_dict()}, 'checkpoint_srresnet.pth')` (SRGAN: {'generator': "
               "ckpt['generator'].state_dict(), 'discriminator': ckpt['discriminator'].state_dict()}; DMPHN: "
               "`torch.save(model.state_dict(), path)`)")


# --------------------------------------------------------------------------------------------------- reading
def load_torch_file(path):
    """torch.load(weights_only=True) on CPU; a one-line BadInputError for anything else."""
    import pickle

    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            raise BadInputError(f"{path}: {RESAVE_HINT}") from None
        raise BadInputError(f"{path}: not a PyTorch checkpoint ({first_line(e)})") from None
    except Exception as e:  # zip / header errors of torch.load on a non-torch file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BadInputError(f"{path}: not a PyTorch checkpoint ({first})") from None


def _as_state_dict(obj, source):
    """Tensors -> float32 numpy, keys with a DataParallel `module.` prefix stripped."""
    import torch

    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadInputError(f"{source}: expected a state_dict (a dict of tensors)")
    return {k[len("module."):] if k.startswith("module.") else k: v.detach().cpu().numpy() for k, v in obj.items()}


# --------------------------------------------------------------------------------------------------- mapping
def _expected(layer):
    """[(torch key suffix, keras variable, converter from the torch array)] for one Keras layer."""
    import keras

    def conv(w):
        return np.transpose(w, (2, 3, 1, 0))

    ident = np.asarray
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        return [("weight", layer.kernel, conv), ("bias", layer.bias, ident)]
    if isinstance(layer, keras.layers.Dense):
        return [("weight", layer.kernel, np.transpose), ("bias", layer.bias, ident)]
    if isinstance(layer, keras.layers.BatchNormalization):
        return [("weight", layer.gamma, ident), ("bias", layer.beta, ident),
                ("running_mean", layer.moving_mean, ident), ("running_var", layer.moving_variance, ident)]
    if isinstance(layer, keras.layers.PReLU):      # torch (num_parameters,) -> Keras (1, 1, 1) when both hold one
        shape = tuple(layer.alpha.shape)
        return [("weight", layer.alpha, lambda w: w.reshape(shape) if w.size == int(np.prod(shape)) else w)]
    if layer.weights:
        raise TypeError(f"no PyTorch mapping for layer {layer.name} ({type(layer).__name__})")
    return []


def _plan(layers, state_dict, source, prefix=""):
    """Check every tensor (names, shapes) and return [(variable, value)]; raise WeightsMismatchError otherwise."""
    plan, seen, missing, mismatched = [], set(), [], []
    for layer in layers:
        for suffix, var, convert in _expected(layer):
            key = f"{prefix}{layer.name}.{suffix}"
            if key not in state_dict:
                missing.append(key)
                continue
            seen.add(key)
            value = convert(state_dict[key])
            if tuple(value.shape) != tuple(var.shape):
                mismatched.append((key, tuple(state_dict[key].shape), tuple(var.shape)))
                continue
            plan.append((var, value.astype(np.float32)))
        if any(s == "running_mean" for s, _, _ in _expected(layer)):
            seen.add(f"{prefix}{layer.name}.num_batches_tracked")
    unexpected = sorted(k for k in state_dict if k.startswith(prefix) and k not in seen)
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing, unexpected, mismatched)
    return plan


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def assign_state_dict(model, state_dict, source, prefix=""):
    """Load one torch state_dict into a flat Keras model whose layer names are the torch module paths."""
    sd = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
    extra = sorted(set(state_dict) - set(sd))
    if extra:
        raise WeightsMismatchError(source, unexpected=extra)
    for var, value in _plan(_weighted_layers(model), sd, source, prefix):
        var.assign(value)
    return model


# --------------------------------------------------------------------------------------------------- DMPHN
def dmphn_files(directory):
    """{'encoder_lv1': path, ...} of the official per-level files in `directory`; levels checked complete."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise BadInputError(f"{directory}: not a directory with DMPHN encoder_lv*.pkl / decoder_lv*.pkl files")
    files = {f"{m.group(1)}_lv{m.group(2)}": os.path.join(directory, n)
             for n in sorted(os.listdir(directory)) if (m := DMPHN_FILE.match(n))}
    n = len(files) // 2
    want = {f"{p}_lv{k}" for p in ("encoder", "decoder") for k in range(1, n + 1)}
    if n not in (3, 4) or set(files) != want:
        raise BadInputError(f"{directory}: expected encoder_lv1..N.pkl and decoder_lv1..N.pkl with N = 3 (DMPHN "
                            f"1-2-4) or 4 (1-2-4-8), found {sorted(files) or 'none'}")
    return files


def import_dmphn(directory, model=None):
    """Build (or fill `model`) DMPHN from the official per-level state_dict files in `directory`."""
    from ..families.dmphn import LEVELS
    from ..families.dmphn.model import build_dmphn

    files = dmphn_files(directory)
    n = len(files) // 2
    if model is None:
        model = build_dmphn(LEVELS[:n])
    levels = sum(1 for layer in model.layers if layer.name.startswith("encoder_lv"))
    if levels != n:
        raise BadInputError(f"{os.fspath(directory)}: checkpoint has {n} levels, the model {model.name} has {levels}")
    plans = []
    for part, path in files.items():
        try:
            sub = model.get_layer(part)
        except ValueError:
            raise BadInputError(f"{path}: the model has no {part} (checkpoint has {n} levels)") from None
        plans += _plan(_weighted_layers(sub), _as_state_dict(load_torch_file(path), path), path)
    for var, value in plans:       # only once every file has been checked
        var.assign(value)
    return model


# --------------------------------------------------------------------------------------------------- SRResNet / SRGAN
def sr_state_dict(checkpoint, path, part):
    """The state_dict of `part` ('srresnet' | 'generator' | 'discriminator') out of a tutorial checkpoint."""
    import torch

    if isinstance(checkpoint, dict) and checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return _as_state_dict(checkpoint, path), ""        # a bare state_dict
    key = {"srresnet": "model"}.get(part, part)
    if part == "generator" and isinstance(checkpoint, dict) and "generator" not in checkpoint and "model" in checkpoint:
        key = "model"                                      # SRGAN generator initialised from an SRResNet file
    if not isinstance(checkpoint, dict) or key not in checkpoint:
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise BadInputError(f"{path}: no {key!r} entry (found {keys})")
    sd = _as_state_dict(checkpoint[key], f"{path}['{key}']")
    prefix = "net." if key == "generator" or any(k.startswith("net.") for k in sd) else ""
    return sd, prefix


def import_sr(path, part="srresnet", model=None):
    """SRResNet / SRGAN generator / SRGAN discriminator from a tutorial checkpoint (plain state_dicts)."""
    from ..families.sr.model import build_srgan_discriminator, build_srresnet

    if part not in ("srresnet", "generator", "discriminator"):
        raise ValueError(f"unknown part {part!r}")
    sd, prefix = sr_state_dict(load_torch_file(path), os.fspath(path), part)
    if model is None:
        model = build_srgan_discriminator() if part == "discriminator" else build_srresnet(scale=_sr_scale(sd, prefix))
    return assign_state_dict(model, sd, os.fspath(path), prefix)


def _sr_scale(sd, prefix):
    head = f"{prefix}subpixel_convolutional_blocks."
    n = len({k[len(head):].split(".")[0] for k in sd if k.startswith(head)})
    return 2 ** max(n, 1)


# --------------------------------------------------------------------------------------------------- loader hook
_SR_PART = {"srresnet-x4": "srresnet", "srgan-x4": "generator", "srgan-d": "discriminator"}


def accepts(path):
    """A DMPHN folder of encoder_lv*/decoder_lv* .pkl files, or a tutorial .pth checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return any(DMPHN_FILE.match(f) for f in os.listdir(path))
    return os.path.isfile(path) and path.endswith((".pth", ".pt", ".pth.tar"))


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    from ..families import entry, tag_model

    if model is None:
        model, name = import_model(path, model_name or "auto")
        return tag_model(model, name, entry(name).defaults), name
    name = model_name or _auto_model(os.fspath(path))
    if os.path.isdir(path):
        return import_dmphn(path, model), name
    if name not in _SR_PART:
        raise BadInputError(f"{path}: a PyTorch .pth checkpoint cannot fill {name}")
    return import_sr(path, _SR_PART[name], model), name


# --------------------------------------------------------------------------------------------------- CLI
def _auto_model(source):
    if os.path.isdir(source):
        return f"dmphn-1-2-4{'-8' if len(dmphn_files(source)) == 8 else ''}"
    ckpt = load_torch_file(source)
    if isinstance(ckpt, dict) and "generator" in ckpt:
        return "srgan-x4"
    return "srresnet-x4"


def import_model(source, model_name="auto"):
    """(keras model, registry name) from an original checkpoint file or DMPHN directory."""
    source = os.fspath(source)
    if not os.path.exists(source):
        raise BadInputError(f"{source}: not found")
    name = _auto_model(source) if model_name == "auto" else model_name
    if name.startswith("dmphn"):
        from ..families import build_model
        model = import_dmphn(source, build_model(name))
    else:
        model = import_sr(source, _SR_PART[name])
    return model, name


def add_arguments(parser):
    parser.add_argument("source", help="DMPHN: directory of encoder_lv*.pkl/decoder_lv*.pkl; SRResNet/SRGAN: .pth file")
    parser.add_argument("--model", choices=MODELS, default="auto",
                        help="what to import (auto: a directory is DMPHN, a file with 'generator' is SRGAN)")
    parser.add_argument("--out", required=True, help="output Keras file: NAME.weights.h5 or NAME.keras")
    from ..outputs import add_argument as add_overwrite_argument
    add_overwrite_argument(parser)


def run(args):
    if not (args.out.endswith(".weights.h5") or args.out.endswith(".keras")):
        raise BadInputError(f"{args.out}: output must end in .weights.h5 or .keras")
    from .. import weights

    model, name = import_weights(args.source, model_name=None if args.model == "auto" else args.model)
    weights.save(model, args.out)
    n = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    print(f"imported {name} from {args.source}: {n:,} trainable parameters -> {args.out}")
    return 0
