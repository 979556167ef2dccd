"""One weights loader for every use (inference, eval, export, init_weights, checkpoints), strict by default.

Wherever a path is read, a release name (`stack-dmphn-4:gopro`) may stand instead: deblurkeras.releases fetches,
verifies and imports it once, and hands over the cached Keras file.

Files this project writes (`save`) carry the registered model name and builder config: a root attribute of a
`.weights.h5`, a `deblurkeras.json` member of a `.keras` zip. So a file says what it holds, `--model` can be left out,
and a file holding another model is refused by name before any tensor is compared.
Files of the original code are read by the families' importers (FamilySpec.importers): each importer module offers
`accepts(path) -> bool` and `import_weights(path, model=None, model_name=None) -> (model, name)`.

Strict means: every tensor of the model is filled and every tensor of the file is used; missing, unexpected and
mis-shaped tensors are all named in one WeightsMismatchError. `strict=False` is the explicit way to load what fits.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import BadInputError, WeightsMismatchError, first_line, show
from .utils import atomic_path, clean_stale_temps, require_space

IDENTITY = "deblurkeras"          # .weights.h5 root attribute / .keras member "deblurkeras.json"
_KERAS_MEMBER = "deblurkeras.json"


# --------------------------------------------------------------------------------------------- identity
def _identity_of(model, name=None, config=None):
    from .registry import model_identity

    ident = model_identity(model) or {}
    if name:
        ident = {"model": name, "config": config if config is not None else ident.get("config", {})}
    return ident or None


def read_identity(path):
    """{"model": name, "config": {...}} stored in a file written by `save`, else None. A `.weights.h5` / `.keras`
    file that cannot be opened at all is corrupt (BadInputError saying so, not "pass --model"); an identity that is
    not {"model": str, "config": dict} is refused by name."""
    path = os.fspath(path)
    raw = None
    try:
        if path.endswith(".keras"):
            from .archives import check_zip
            check_zip(path, "Keras .keras", extracts_to_temp=True)  # a bomb: before any member is inflated
            with zipfile.ZipFile(path) as z:
                if _KERAS_MEMBER in z.namelist():
                    raw = z.read(_KERAS_MEMBER)
        elif path.endswith(".h5"):
            import h5py
            with h5py.File(path, "r") as f:
                if IDENTITY in f.attrs:
                    raw = f.attrs[IDENTITY]
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        if is_ours(path) and os.path.isfile(path):
            kind = "Keras .keras (zip)" if path.endswith(".keras") else "Keras .weights.h5 (HDF5)"
            raise BadInputError(f"{show(path)}: corrupt or truncated {kind} file ({first_line(e)})") from None
        return None
    return None if raw is None else _parse_identity(path, raw)


def _parse_identity(path, raw):
    try:
        ident = json.loads(raw)
    except (ValueError, TypeError) as e:
        raise BadInputError(f"{show(path)}: its model identity ({IDENTITY}) is not JSON ({first_line(e)})") from None
    if not (isinstance(ident, dict) and isinstance(ident.get("model"), str)
            and isinstance(ident.get("config", {}), dict)):
        raise BadInputError(f"{show(path)}: its model identity ({IDENTITY}) must be "
                            f'{{"model": NAME, "config": {{...}}}}, not {type(ident).__name__} {str(ident)[:60]!r}')
    return ident


def save(model, path, name=None, config=None):
    """Write `.weights.h5` or `.keras` atomically, with the model's identity inside."""
    path = os.fspath(path)
    if not (path.endswith(".weights.h5") or path.endswith(".keras")):
        raise BadInputError(f"{path}: weights are written as NAME.weights.h5 or NAME.keras")
    ident = _identity_of(model, name, config)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    clean_stale_temps(os.path.dirname(os.path.abspath(path)))  # what a killed import / save left here (ours only)
    require_space(path, save_size_estimate(model), "the weights")
    with atomic_path(path) as tmp:
        if path.endswith(".keras"):
            model.save(tmp)
            if ident:
                with zipfile.ZipFile(tmp, "a") as z:
                    z.writestr(_KERAS_MEMBER, json.dumps(ident))
        else:
            model.save_weights(tmp)
            if ident:
                import h5py
                with h5py.File(tmp, "a") as f:
                    f.attrs[IDENTITY] = json.dumps(ident)
    return path


def save_size_estimate(model):
    """Bytes `save` needs at most: the tensors plus HDF5 / zip overhead (1 MiB and 10 %: srresnet-x4 and dmphn-1-2-4
    files measured 2-7 % over their tensors, .weights.h5 and .keras)."""
    raw = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    return int(raw * 1.1) + (1 << 20)


# --------------------------------------------------------------------------------------------- our formats
def _h5_layout(path):
    """{dataset path: shape}, after refusing data kept outside the file and oversized datasets (h5safe)."""
    import h5py

    from .h5safe import MAX_WEIGHT_ELEMENTS, open_checked
    layout = {}
    with open_checked(path, MAX_WEIGHT_ELEMENTS) as f:
        f.visititems(lambda k, obj: layout.__setitem__(k, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return layout


def _wanted_layout(model):
    """{dataset path: shape} of the `.weights.h5` this model would save, written in memory (Keras' own writer,
    H5IOStore over a BytesIO): a process killed here leaves no copy of the weights in the temp folder (issue 31).
    Another Keras without that writer: through a temporary folder, as before."""
    import io

    import h5py
    try:
        from keras.src.saving import saving_lib
        buf = io.BytesIO()
        store = saving_lib.H5IOStore(buf, mode="w")
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
        store.close()
    except (ImportError, AttributeError, TypeError):
        with tempfile.TemporaryDirectory() as tmp:
            ref = os.path.join(tmp, "ref.weights.h5")
            model.save_weights(ref)
            return _h5_layout(ref)
    layout = {}
    with h5py.File(io.BytesIO(buf.getvalue()), "r") as f:
        f.visititems(lambda k, obj: layout.__setitem__(k, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return layout


def _load_weights_h5(model, path, strict):
    """Keras 3 keys `.weights.h5` by object structure (`layers/conv2d/vars/0`) and silently ignores extra tensors:
    compare with the layout this model itself would save, then load."""
    try:
        have = _h5_layout(path)
    except OSError as e:
        raise BadInputError(f"{show(path)}: not a Keras .weights.h5 file, or corrupt / truncated "
                            f"({first_line(e)})") from None
    want = _wanted_layout(model)
    missing = sorted(set(want) - set(have))
    unexpected = sorted(set(have) - set(want))
    mismatched = [(k, have[k], want[k]) for k in sorted(set(want) & set(have)) if have[k] != want[k]]
    if strict and (missing or unexpected or mismatched):
        raise WeightsMismatchError(path, missing, unexpected, mismatched)
    try:
        model.load_weights(path, skip_mismatch=not strict)
    except Exception as e:  # the layout matched, so this is a damaged file
        raise BadInputError(f"{path}: cannot load weights ({first_line(e)})") from None


def _assign_by_path(model, other, source, strict):
    src = {w.path: w for w in other.weights}
    dst = {w.path: w for w in model.weights}
    missing = sorted(set(dst) - set(src))
    unexpected = sorted(set(src) - set(dst))
    mismatched = [(p, tuple(src[p].shape), tuple(w.shape)) for p, w in dst.items()
                  if p in src and tuple(w.shape) != tuple(src[p].shape)]
    if strict and (missing or unexpected or mismatched):
        raise WeightsMismatchError(source, missing, unexpected, mismatched)
    bad = {m[0] for m in mismatched}
    for p, w in dst.items():
        if p in src and p not in bad:
            w.assign(np.asarray(src[p].numpy(), dtype=w.dtype))


def _read_keras_file(path):
    import keras

    from .registry import register_keras_layers
    register_keras_layers()
    from .archives import check_zip
    check_zip(path, "Keras .keras", extracts_to_temp=True)  # declared sizes before Keras extracts (issue 31)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise BadInputError(f"{path}: cannot load Keras model ({first_line(e)})") from None


# --------------------------------------------------------------------------------------------- dispatch
def is_ours(path):
    path = os.fspath(path)
    return path.endswith(".keras") or path.endswith(".weights.h5")


def _importer_for(path):
    from .registry import importer_for
    return importer_for(path)


def _same_architecture(a, b):
    """Two registered names for one network (srresnet-x4 and srgan-x4's generator): weights move freely."""
    from .registry import entry
    try:
        ea, eb = entry(a), entry(b)
    except ValueError:
        return False
    return (ea.builder, ea.defaults) == (eb.builder, eb.defaults)


def _check_identity(path, model_name):
    ident = read_identity(path)
    stored = (ident or {}).get("model")
    if model_name and stored and stored != model_name and not _same_architecture(stored, model_name):
        raise WeightsMismatchError(path, mismatched=[("model", stored, model_name)]) from None
    return ident


def resolve_name(path, model_name=None):
    """The registered model a weights file is for: `model_name` if given (checked against the file), else what the
    file says. Raises if neither tells."""
    path = _release(path)
    ident = _check_identity(path, model_name) if is_ours(path) and os.path.isfile(path) else None
    name = model_name or (ident or {}).get("model")
    if not name:
        raise BadInputError(f"{path}: the file does not say which model it holds; pass --model")
    return name


def load(path, model_name=None, strict=True, **build_overrides):
    """(model, name): the registered model with the file's weights. `model_name` may be None when the file says it
    (our files) or the importer can tell (original checkpoints)."""
    from .registry import build_model, entry

    if model_name is not None:
        entry(model_name)  # an unknown name fails before anything is read (or fetched)
    path = _release(path)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise BadInputError(f"{path}: no such weights file")
    if is_ours(path):
        ident = _check_identity(path, model_name)
        name = model_name or (ident or {}).get("model")
        if not name:
            raise BadInputError(f"{path}: the file does not say which model it holds; pass --model")
        config = {**((ident or {}).get("config") or {}), **build_overrides} if ident and ident.get("model") == name \
            else build_overrides
        if ident and ident.get("model") == name and ident.get("config"):
            _check_stored_config(path, name, ident["config"])
        try:
            model = build_model(name, **_tuples(config))
        except (TypeError, ValueError) as e:  # an unknown model, an unknown keyword, a bad value (resize_mode)
            raise BadInputError(f"{show(path)}: cannot build {name!r} with the configuration it stores {config} "
                                f"({first_line(e)})") from None
        load_into(model, path, name, strict=strict)
        return model, name
    importer = _importer_for(path)
    if importer is None:
        raise BadInputError(f"{path}: not a weights file this project reads (.weights.h5, .keras, a TF1 checkpoint, "
                            f"a Keras-2 .h5, a PyTorch .pth, a DMPHN .pkl folder)")
    model, name = importer.import_weights(path, model_name=model_name)
    return model, name


def load_into(model, path, model_name=None, strict=True):
    """Fill an existing model (a checkpoint restore, init_weights, an export) from any file `load` reads."""
    from .registry import model_identity

    path = _release(path)
    model_name = model_name or (model_identity(model) or {}).get("model")
    if is_ours(path):
        if not os.path.isfile(path):
            raise BadInputError(f"{path}: no such weights file")
        _check_identity(path, model_name)
        if path.endswith(".keras"):
            _assign_by_path(model, _read_keras_file(path), path, strict)
        else:
            _load_weights_h5(model, path, strict)
        return model
    importer = _importer_for(path)
    if importer is None:
        raise BadInputError(f"{path}: not a weights file this project reads")
    importer.import_weights(path, model=model, model_name=model_name)
    return model


def _release(path):
    """A release name (`stack-dmphn-4:gopro`, deblurkeras.releases) -> its imported file in the cache, fetched
    on first use; a path as it is."""
    from .releases import resolve
    return os.fspath(resolve(os.fspath(path)))


def _check_stored_config(path, name, config):
    """A config read from the file is checked before anything is built from it (config_check: schema, and the
    model it describes against the numbers the file holds)."""
    from .config_check import check_stored_config
    check_stored_config(path, name, config, _stored_elements(path))


def _stored_elements(path):
    """How many numbers a file of ours holds, from its headers only: the HDF5 layout of a `.weights.h5`, the
    declared size of the weights inside a `.keras` zip (float32: 4 bytes each). None when unreadable."""
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                return sum(i.file_size for i in z.infolist() if i.filename.endswith(".h5")) // 4
        return sum(int(np.prod(s)) for s in _h5_layout(path).values())
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def _tuples(config):
    """JSON turned tuples into lists; builders compare some arguments with tuples (DMPHN levels)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
