"""PyTorch state_dicts into Keras, safely and strictly: what the families' PyTorch importers share (DMPHN's .pkl
folders, the SR tutorial's .pth) and the torchvision VGG loader of deblurkeras.losses.

Files are read with `torch.load(weights_only=True)`: nothing is unpickled but tensors and plain containers; a file
that pickles whole modules or optimizers is refused with a message saying how to re-save it as a state_dict.

Mapping (strict, by name): a Keras layer `P` reads `P.weight` / `P.bias` (BN: `P.running_mean`, `P.running_var`;
`num_batches_tracked` is ignored). Conv and ConvTranspose weights are permuted (2, 3, 1, 0) (OIHW -> HWIO, and
(in, out, kh, kw) -> (kh, kw, out, in)), Linear weights transposed, one-parameter PReLU weights reshaped. Any
missing, unexpected or mis-shaped tensor raises WeightsMismatchError before a single weight is assigned. A
`module.` prefix (DataParallel) is stripped.
"""
import os

import numpy as np

from ..errors import BadInputError, WeightsMismatchError, first_line

RESAVE_HINT = ("it pickles whole modules/optimizers, which weights_only=True refuses; in the original environment "
               "re-save plain state_dicts, e.g. `torch.save(model.state_dict(), path)`")


# --------------------------------------------------------------------------------------------------- reading
def load_torch_file(path, hint=RESAVE_HINT):
    """torch.load(weights_only=True) on CPU; a one-line BadInputError for anything else (`hint`: how to re-save
    a file that pickles objects)."""
    import pickle

    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: file not found")
    from ..archives import check_zip
    check_zip(path, "PyTorch checkpoint")  # a deflated storage record (a decompression bomb) before torch inflates it
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            raise BadInputError(f"{path}: {hint}") from None
        raise BadInputError(f"{path}: not a PyTorch checkpoint ({first_line(e)})") from None
    except Exception as e:  # zip / header errors of torch.load on a non-torch file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BadInputError(f"{path}: not a PyTorch checkpoint ({first})") from None


def as_state_dict(obj, source):
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


def plan(layers, state_dict, source, prefix="", paths=None, ignore=()):
    """Check every tensor (names, shapes) and return [(variable, value)]; raise WeightsMismatchError otherwise.
    A Keras layer reads the keys under its torch module path: `paths` {layer name: path} (torchvision VGG's
    `features.0` for `block1_conv1`), else `prefix` + its own name. Keys under `ignore` prefixes (a classifier
    the Keras model has not) are left alone; every other key under `prefix` must be used."""
    out, seen, missing, mismatched = [], set(), [], []
    for layer in layers:
        path = (paths or {}).get(layer.name, f"{prefix}{layer.name}")
        for suffix, var, convert in _expected(layer):
            key = f"{path}.{suffix}"
            if key not in state_dict:
                missing.append(key)
                continue
            seen.add(key)
            value = convert(state_dict[key])
            if tuple(value.shape) != tuple(var.shape):
                mismatched.append((key, tuple(state_dict[key].shape), tuple(var.shape)))
                continue
            out.append((var, value.astype(np.float32)))
        if any(s == "running_mean" for s, _, _ in _expected(layer)):
            seen.add(f"{path}.num_batches_tracked")
    unexpected = sorted(k for k in state_dict if k.startswith(prefix) and k not in seen
                        and not k.startswith(tuple(ignore)))
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing, unexpected, mismatched)
    return out


def weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def assign_state_dict(model, state_dict, source, prefix=""):
    """Load one torch state_dict into a flat Keras model whose layer names are the torch module paths."""
    sd = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
    extra = sorted(set(state_dict) - set(sd))
    if extra:
        raise WeightsMismatchError(source, unexpected=extra)
    for var, value in plan(weighted_layers(model), sd, source, prefix):
        var.assign(value)
    return model
