"""Import the official DMPHN and Stack-DMPHN checkpoints (HongguangZhang/DMPHN-cvpr19-master, PyTorch) into Keras.

Accepted layouts (exactly what the official code writes):
- DMPHN: a directory with the per-level files `encoder_lv1.pkl ... decoder_lv<n>.pkl` (3 pairs = DMPHN 1-2-4,
  4 pairs = 1-2-4-8), each `torch.save(encoder.state_dict(), ...)`.
- Stack-DMPHN: an official `checkpoints/SDNet<N>/` directory of `{encoder,decoder}_s<k>_lv<l>.pkl` (l = 1..3). Which
  stacks are read: `--model stack-dmphn-N` says it; with `auto`, a folder named SDNet<N> gives N (what the
  official SDNet<N>_test.py loads from it), any other folder every complete stack s1..sK. The released SDNet3 folder
  also holds an s4 set its test script never loads: every import says in one line (stderr) which stacks it read and
  which files it left unused.
The nested Keras sub-model `encoder_lv<k>` (`encoder_s<k>_lv<l>`) is the file of that name; tensors map by name as
deblurkeras.importers.torch_state says, every file checked before anything is assigned.

CLI: `deblurkeras import DMPHN_1_2_4_8/ --out dmphn.weights.h5` (alias `import-torch`).
"""
import os
import re

from ...errors import BadInputError

FORMAT = "torch"
FORMAT_HELP = "the official DMPHN / SDNet .pkl folders"
DMPHN_FILE = re.compile(r"^(encoder|decoder)_lv(\d+)\.pkl$")
STACK_FILE = re.compile(r"^(encoder|decoder)_s(\d+)_lv(\d+)\.pkl$")
STACK_MODEL = re.compile(r"^encoder_s(\d+)_lv1$")       # a Keras Stack-DMPHN's stack-k sub-model
SDNET_DIR = re.compile(r"^SDNet(\d+)$")


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


# --------------------------------------------------------------------------------------------------- Stack-DMPHN
def stack_files(directory):
    """{'encoder_s1_lv1': path, ...} of every official SDNet file in `directory` (possibly none)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise BadInputError(f"{directory}: not a directory with SDNet encoder_s*_lv*.pkl / decoder_s*_lv*.pkl files")
    return {n[:-len(".pkl")]: os.path.join(directory, n) for n in sorted(os.listdir(directory)) if STACK_FILE.match(n)}


def _listing(names, limit=8):
    """Names for a one-line message: the first `limit`, then how many more (a folder may hold thousands)."""
    names = list(names)
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return (", ".join(names[:limit]) or "none") + more


def _stacks_found(files):
    """{stack number: how many of its 6 files are present}, from SDNet file names."""
    found = {}
    for part in files:
        m = STACK_FILE.match(part + ".pkl")
        found[int(m.group(2))] = found.get(int(m.group(2)), 0) + 1
    return found


def _refuse_stacks(directory, files, n):
    """One line for a folder whose stacks are not a Stack-DMPHN's (N = 0, 1 or more than 4 complete from s1, or
    a folder named SDNet<N> with such an N)."""
    from . import STACKS
    found = _stacks_found(files)
    have = ", ".join(f"s{s}" + ("" if k == 6 else f" ({k} of 6 files)") for s, k in sorted(found.items())[:8])
    more = f" and {len(found) - 8:,} more stacks" if len(found) > 8 else ""
    raise BadInputError(f"{directory}: SDNet files of stacks {have}{more}; Stack-DMPHN reads stacks s1..sN, all "
                        f"6 files each, with N = {', '.join(map(str, STACKS))} (this folder gives N = {n:,})")


def _stack_parts(stacks):
    return [f"{p}_s{s}_lv{lv}" for s in range(1, stacks + 1) for p in ("encoder", "decoder") for lv in (1, 2, 3)]


def auto_stacks(directory):
    """How many stacks `auto` reads: N for a folder named SDNet<N> (as SDNet<N>_test.py), else every complete
    stack s1..sK."""
    m = SDNET_DIR.match(os.path.basename(os.path.normpath(os.fspath(directory))))
    if m:
        return int(m.group(1))
    files, k = stack_files(directory), 0
    while all(p in files for p in _stack_parts(k + 1)[-6:]):
        k += 1
    return k


def model_stacks(model):
    """Stacks of a Keras Stack-DMPHN (0 for any other model)."""
    return sum(1 for layer in model.layers if STACK_MODEL.match(layer.name))


def import_stack_dmphn(directory, model=None, stacks=None):
    """(model, note): Stack-DMPHN (built, or `model` filled) from an official SDNet folder, strictly: every file of
    stacks 1..N present and checked tensor by tensor before anything is assigned. `note`: one line saying which
    stacks were read and which SDNet files were left unused."""
    from ...importers.torch_state import as_state_dict, load_torch_file, plan, weighted_layers
    from . import STACKS
    from .model import build_stack_dmphn

    directory = os.fspath(directory)
    files = stack_files(directory)
    if not files:
        raise BadInputError(f"{directory}: no SDNet encoder_s*_lv*.pkl / decoder_s*_lv*.pkl files")
    have = model_stacks(model) if model is not None else None
    if model is not None and not have:
        raise BadInputError(f"{directory}: an SDNet (Stack-DMPHN) folder cannot fill {model.name}")
    n = stacks or have or auto_stacks(directory)
    if have and n != have:
        raise BadInputError(f"{directory}: asked for {n} stacks, the model {model.name} has {have}")
    if n not in STACKS:
        _refuse_stacks(directory, files, n)
    want = _stack_parts(n)
    missing = [p + ".pkl" for p in want if p not in files]
    if missing:
        raise BadInputError(f"{directory}: stack-dmphn-{n} needs {len(want)} files, missing {_listing(missing)}")
    model = build_stack_dmphn(n) if model is None else model
    plans = []
    for part in want:
        path = files[part]
        plans += plan(weighted_layers(model.get_layer(part)), as_state_dict(load_torch_file(path), path), path)
    for var, value in plans:       # only once every file has been checked
        var.assign(value)
    read = {p + ".pkl" for p in want}   # every other .pkl of the folder (a DMPHN set copied in too) is named
    unused = sorted(n_ for n_ in os.listdir(directory) if n_.endswith(".pkl") and n_ not in read)
    note = f"{directory}: read stacks s1-s{n} ({len(want)} files); unused: {_listing(unused)}"
    return model, note


def _say(note):
    import sys
    print(note, file=sys.stderr)


# --------------------------------------------------------------------------------------------------- loader hook
def accepts(path):
    """A DMPHN folder of encoder_lv*/decoder_lv* .pkl files, or an SDNet folder of encoder_s*_lv*/decoder_s*_lv*."""
    path = os.fspath(path)
    return os.path.isdir(path) and any(DMPHN_FILE.match(f) or STACK_FILE.match(f) for f in os.listdir(path))


def detect_model(source):
    """The registered name the folder's levels (stacks) make."""
    from . import STACKS
    files = stack_files(source)
    if files:
        n = auto_stacks(source)
        if n not in STACKS:
            _refuse_stacks(os.fspath(source), files, n)
        return f"stack-dmphn-{n}"
    return f"dmphn-1-2-4{'-8' if len(dmphn_files(source)) == 8 else ''}"


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    from ...registry import build_model, entry

    name = model_name or detect_model(os.fspath(path))
    stacked = bool(stack_files(path)) or (model is not None and model_stacks(model) > 0)
    if model is None:
        if entry(name).family != "dmphn":
            raise BadInputError(f"{os.fspath(path)}: a DMPHN checkpoint folder cannot fill {name}")
        model = build_model(name)
    if stacked:                     # any model: the stack check says what does not fit
        model, note = import_stack_dmphn(path, model)
        _say(note)
        return model, name
    return import_dmphn(path, model), name
