"""Import the SR tutorial's checkpoints (sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution) into Keras.

Accepted layouts (what the tutorial's train scripts write, once they are plain state_dicts):
- SRResNet: `checkpoint_srresnet.pth` = {'model': state_dict, ...} (or a bare state_dict).
- SRGAN: `checkpoint_srgan.pth` = {'generator': state_dict (keys `net.*`), 'discriminator': state_dict, ...}.
The tutorial's own checkpoints pickle whole modules and optimizers; `torch.load(weights_only=True)` refuses those,
with a message saying how to re-save them as state_dicts in the original environment. Tensors map by name as
deblurkeras.importers.torch_state says.

CLI: `deblurkeras import checkpoint_srgan.pth --out srgan.weights.h5` (alias `import-torch`).
"""
import os

from ...errors import BadInputError

FORMAT = "torch"
FORMAT_HELP = "the SR tutorial's .pth (SRResNet, SRGAN)"
RESAVE_HINT = ("it pickles whole modules/optimizers, which weights_only=True refuses; in the original environment "
               "re-save plain state_dicts, e.g. `ckpt = torch.load(path); torch.save({'model': "
               "ckpt['model'].state_dict()}, 'checkpoint_srresnet.pth')` (SRGAN: {'generator': "
               "ckpt['generator'].state_dict(), 'discriminator': ckpt['discriminator'].state_dict()}; DMPHN: "
               "`torch.save(model.state_dict(), path)`)")
_PART = {"srresnet-x4": "srresnet", "srgan-x4": "generator", "srgan-d": "discriminator"}


def _load(path):
    from ...importers.torch_state import load_torch_file
    return load_torch_file(path, hint=RESAVE_HINT)


def sr_state_dict(checkpoint, path, part):
    """The state_dict of `part` ('srresnet' | 'generator' | 'discriminator') out of a tutorial checkpoint."""
    import torch

    from ...importers.torch_state import as_state_dict

    if isinstance(checkpoint, dict) and checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return as_state_dict(checkpoint, path), ""        # a bare state_dict
    key = {"srresnet": "model"}.get(part, part)
    if part == "generator" and isinstance(checkpoint, dict) and "generator" not in checkpoint and "model" in checkpoint:
        key = "model"                                      # SRGAN generator initialised from an SRResNet file
    if not isinstance(checkpoint, dict) or key not in checkpoint:
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise BadInputError(f"{path}: no {key!r} entry (found {keys})")
    sd = as_state_dict(checkpoint[key], f"{path}['{key}']")
    prefix = "net." if key == "generator" or any(k.startswith("net.") for k in sd) else ""
    return sd, prefix


def import_sr(path, part="srresnet", model=None):
    """SRResNet / SRGAN generator / SRGAN discriminator from a tutorial checkpoint (plain state_dicts)."""
    from ...importers.torch_state import assign_state_dict
    from .model import build_srgan_discriminator, build_srresnet

    if part not in ("srresnet", "generator", "discriminator"):
        raise ValueError(f"unknown part {part!r}")
    sd, prefix = sr_state_dict(_load(path), os.fspath(path), part)
    if model is None:
        model = build_srgan_discriminator() if part == "discriminator" else build_srresnet(scale=_sr_scale(sd, prefix))
    return assign_state_dict(model, sd, os.fspath(path), prefix)


def _sr_scale(sd, prefix):
    head = f"{prefix}subpixel_convolutional_blocks."
    n = len({k[len(head):].split(".")[0] for k in sd if k.startswith(head)})
    return 2 ** max(n, 1)


# --------------------------------------------------------------------------------------------------- loader hook
def accepts(path):
    """A tutorial .pth checkpoint."""
    path = os.fspath(path)
    return os.path.isfile(path) and path.endswith((".pth", ".pt", ".pth.tar"))


def detect_model(source):
    """srgan-x4 for a checkpoint with a 'generator', else srresnet-x4."""
    ckpt = _load(source)
    return "srgan-x4" if isinstance(ckpt, dict) and "generator" in ckpt else "srresnet-x4"


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    from ...registry import entry, tag_model

    name = model_name or detect_model(os.fspath(path))
    if name not in _PART:
        raise BadInputError(f"{path}: a PyTorch .pth checkpoint cannot fill {name}")
    if model is None:
        return tag_model(import_sr(path, _PART[name]), name, entry(name).defaults), name
    return import_sr(path, _PART[name], model), name
