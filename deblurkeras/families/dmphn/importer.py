"""Import the official DMPHN checkpoints (HongguangZhang/DMPHN-cvpr19-master, PyTorch) into Keras.

Accepted layout (exactly what the official code writes): a directory with the per-level files
`encoder_lv1.pkl ... decoder_lv<n>.pkl` (3 pairs = DMPHN 1-2-4, 4 pairs = 1-2-4-8), each
`torch.save(encoder.state_dict(), ...)`. The nested Keras sub-model `encoder_lv<k>` is the file `encoder_lv<k>.pkl`;
tensors map by name as deblurkeras.importers.torch_state says, every file checked before anything is assigned.

CLI: `deblurkeras import DMPHN_1_2_4_8/ --out dmphn.weights.h5` (alias `import-torch`).
"""
import os
import re

from ...errors import BadInputError

FORMAT = "torch"
FORMAT_HELP = "the official DMPHN .pkl folders"
DMPHN_FILE = re.compile(r"^(encoder|decoder)_lv(\d+)\.pkl$")


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
    from ...importers.torch_state import as_state_dict, load_torch_file, plan, weighted_layers
    from . import LEVELS
    from .model import build_dmphn

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
        plans += plan(weighted_layers(sub), as_state_dict(load_torch_file(path), path), path)
    for var, value in plans:       # only once every file has been checked
        var.assign(value)
    return model


# --------------------------------------------------------------------------------------------------- loader hook
def accepts(path):
    """A DMPHN folder of encoder_lv*/decoder_lv* .pkl files."""
    path = os.fspath(path)
    return os.path.isdir(path) and any(DMPHN_FILE.match(f) for f in os.listdir(path))


def detect_model(source):
    """The registered name the folder's levels make."""
    return f"dmphn-1-2-4{'-8' if len(dmphn_files(source)) == 8 else ''}"


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    from ...registry import build_model, entry

    name = model_name or detect_model(os.fspath(path))
    if model is not None:           # any model: the level check says what does not fit
        return import_dmphn(path, model), name
    if entry(name).family != "dmphn":
        raise BadInputError(f"{os.fspath(path)}: a DMPHN checkpoint folder cannot fill {name}")
    return import_dmphn(path, build_model(name)), name
