"""Keras weights -> PyTorch twin state, by layer NAME, with layouts transposed; safetensors files both ways.

Torch key `enc1_2.conv1.weight` <-> Keras weight path `enc1_2/conv1/kernel`. Strict: every Keras weight is used
once and every torch parameter/buffer filled once; anything left over raises WeightsMismatchError naming it.
"""
import json
import os
import platform
import shutil
import warnings

import numpy as np
import torch
from torch import nn

from ..errors import BadInputError, WeightsMismatchError, first_line
from .. import registry
from ..utils import atomic_path, clean_stale_temps, umask_mode

FORMAT = "deblurkeras-torch-twin/1"


_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def model_config(model_name, overrides=None):
    """The builder keyword arguments of a registered model (registry defaults + overrides)."""
    return {**registry.entry(model_name).defaults, **(overrides or {})}


def twin_class(model_name):
    """The PyTorch twin class named by the model's family spec."""
    spec = registry.entry(model_name)
    if not spec.twin:
        raise BadInputError(f"{model_name}: no PyTorch twin")
    try:
        return registry.resolve(spec.twin)
    except (ImportError, AttributeError) as err:
        raise BadInputError(f"{model_name}: PyTorch twin {spec.twin} is not available ({err})") from err


def build_twin(model_name, overrides=None, naive=None):
    """The PyTorch twin of a registered model, built with the same configuration (and optional naive pitfalls)."""
    return twin_class(model_name)(**model_config(model_name, overrides), naive=naive).eval()


def prepare(model_name, out, weights=None, overrides=None, naive=(), sizes=(), keras_model=None, report_dir=None):
    """The setup export-torch and export-onnx share, user errors first (before the slow Keras build): a valid
    configuration, a writable output folder with room for the weights (stale temporaries of killed runs removed),
    a --report that can be a folder, sizes the model can run, an existing weights file. Returns (config, twin with
    the Keras weights, Keras model). `keras_model`: an already built model whose weights are exported (`weights`
    then only names them)."""
    from .report import check_report_dir
    config = model_config(model_name, overrides)
    try:
        twin = build_twin(model_name, overrides, naive=naive)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"{model_name}: bad configuration {config} ({err})") from None
    check_writable(out, state_bytes(twin))
    check_report_dir(report_dir)
    for size in sizes or ():
        twin.check_size(*size)
    if weights and not os.path.isfile(weights):
        raise BadInputError(f"{weights}: no such weights file")
    model = keras_model
    if model is None:
        model = registry.build_model(model_name, **config)
        if weights:
            load_keras_weights(model, weights)
        else:
            warnings.warn(f"{model_name}: no --weights given, exporting the freshly initialised model", stacklevel=3)
    twin.load_state_dict(keras_to_torch_state(model, twin, source=os.fspath(weights) if weights else model.name))
    return config, twin.eval(), model


def check_writable(out, need_bytes=0):
    """Refuse, before any work, an output whose folder is missing, read-only or without room for `need_bytes`
    (one line naming it); temporaries a killed export left there (ours only, of dead processes) are removed."""
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise BadInputError(f"{out}: directory {folder} does not exist")
    clean_stale_temps(folder)
    try:
        with atomic_path(os.path.join(folder, "write-test")) as tmp, open(tmp, "wb") as f:
            f.write(b"\0" * 4096)  # a block: a full disk refuses it
            raise _Probe()
    except _Probe:
        pass
    except OSError as err:
        raise BadInputError(f"{out}: cannot write in {folder} ({err.strerror or err})") from None
    check_room(out, need_bytes)


def check_room(out, need_bytes):
    """Refuse an output whose file system has less than `need_bytes` free (one line)."""
    folder = os.path.dirname(os.path.abspath(out))
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise BadInputError(f"{out}: {folder} has {free / 2**20:.1f} MiB free, the export needs about "
                            f"{need_bytes / 2**20:.1f} MiB")


class _Probe(Exception):
    """Internal: undo the writability probe (atomic_path removes its temp when the block raises)."""


def state_bytes(module):
    """Bytes of a module's float32 state: about the size of its safetensors or ONNX file."""
    return sum(t.numel() * 4 for t in module.state_dict().values())


def keras_variables(model):
    """{name: variable} of a built Keras model. Layers of nested functional sub-models are prefixed with the
    sub-model's name (`encoder_lv1/layer2.0/kernel`: Keras' own paths repeat across DMPHN's per-level models);
    a variable shared by two places is listed once; a name clash is an error."""
    import keras
    out, seen = {}, set()

    def walk(layer, prefix):
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth") and prefix is not None:
            for sub in layer.layers:
                walk(sub, f"{prefix}{layer.name}/")
            return
        for w in layer.weights:
            if id(w) in seen:
                continue
            seen.add(id(w))
            name = f"{prefix or ''}{w.path}"
            if name in out:
                raise WeightsMismatchError(model.name, unexpected=[f"{name} (duplicated)"])
            out[name] = w

    for layer in model.layers:
        walk(layer, "")
    return out


def keras_weights(model):
    """{weight name: numpy array}, names as keras_variables."""
    return {k: np.asarray(v.numpy()) for k, v in keras_variables(model).items()}


def keras_path(twin, key):
    """Keras weight path for a torch state key, from the kind of module that owns it."""
    prefix, _, leaf = key.rpartition(".")
    module = twin.get_submodule(prefix) if prefix else twin
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        leaf = _BN.get(leaf, leaf)
    elif isinstance(module, nn.PReLU):
        leaf = {"weight": "alpha"}.get(leaf, leaf)
    elif leaf == "weight":
        leaf = "kernel"
    prefix = twin.keras_prefix(prefix)      # the twin's rule (TwinModule.keras_prefix)
    return f"{prefix}/{leaf}" if prefix else leaf


def to_torch_layout(array, torch_shape):
    """Conv HWIO / ConvTranspose (kh,kw,out,in) -> (O,I,kh,kw) / (in,out,kh,kw); Dense kernel.T; PReLU flattened."""
    if array.ndim == 4:
        array = array.transpose(3, 2, 0, 1)
    elif array.ndim == 2 and len(torch_shape) == 2:
        array = array.T
    elif array.ndim == 3 and len(torch_shape) == 1:  # PReLU alpha (1, 1, C) with shared_axes [1, 2]
        array = array.reshape(-1)
    return np.ascontiguousarray(array)


def to_keras_layout(array, keras_shape):
    if array.ndim == 4:
        array = array.transpose(2, 3, 1, 0)
    elif array.ndim == 2:
        array = array.T
    return np.ascontiguousarray(array.reshape(keras_shape))


def _torch_targets(twin):
    """State entries a Keras weight must fill (parameters and BN running stats, not the batch counter)."""
    return {k: v for k, v in twin.state_dict().items() if not k.endswith("num_batches_tracked")}


def keras_to_torch_state(model, twin, source="keras model"):
    """Map a Keras model's weights onto the twin's state dict by name; strict both ways."""
    weights = keras_weights(model)
    state, used, missing, mismatched = {}, set(), [], []
    for key, ref in _torch_targets(twin).items():
        path = keras_path(twin, key)
        if path not in weights or path in used:
            missing.append(f"{key} (keras {path})")
            continue
        used.add(path)
        array = to_torch_layout(weights[path], tuple(ref.shape))
        if tuple(array.shape) != tuple(ref.shape):
            mismatched.append((f"{key} (keras {path})", tuple(array.shape), tuple(ref.shape)))
            continue
        state[key] = torch.from_numpy(array.astype(np.float32))
    unexpected = sorted(set(weights) - used)
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing=missing, unexpected=unexpected, mismatched=mismatched)
    for key, ref in twin.state_dict().items():  # counters are not weights: keep the twin's own
        if key.endswith("num_batches_tracked"):
            state[key] = ref.clone()
    return state


def torch_state_to_keras(state, model, twin, source="safetensors"):
    """Assign a twin state dict back onto a Keras model by name (the inverse of keras_to_torch_state)."""
    by_path = keras_variables(model)
    targets = {keras_path(twin, k): k for k in _torch_targets(twin)}
    missing = sorted(p for p in by_path if p not in targets or targets[p] not in state)
    unexpected = sorted(k for k in state if not k.endswith("num_batches_tracked") and keras_path(twin, k) not in by_path)
    mismatched = []
    arrays = {}
    for path, var in by_path.items():
        if path in missing:
            continue
        array = state[targets[path]].detach().cpu().numpy()
        if array.size != int(np.prod(var.shape)):
            mismatched.append((path, tuple(array.shape), tuple(var.shape)))
            continue
        arrays[path] = to_keras_layout(array, tuple(var.shape))
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(source, missing=missing, unexpected=unexpected, mismatched=mismatched)
    for path, var in by_path.items():
        var.assign(arrays[path])


def versions():
    import keras
    import safetensors
    import tensorflow as tf
    from .. import __version__
    return {"deblurkeras": __version__, "keras": keras.__version__, "tensorflow": tf.__version__,
            "torch": torch.__version__, "safetensors": safetensors.__version__, "python": platform.python_version()}


def save_safetensors(state, path, model_name, config, source, naive=()):
    """Write the twin state with str->str metadata (model, config, versions, source); atomic."""
    from safetensors.torch import save_file
    meta = {"format": FORMAT, "model": model_name, "config": json.dumps(config, sort_keys=True),
            "naive": ",".join(sorted(naive)), "versions": json.dumps(versions(), sort_keys=True),
            "source": os.fspath(source) if source else "freshly initialised"}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=meta)
        umask_mode(tmp)
    return meta


def read_safetensors(path):
    """(state dict, metadata) of a file written by save_safetensors; a foreign or corrupt file is BadInputError."""
    from safetensors import safe_open
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise BadInputError(f"{path}: not a readable safetensors file ({err})") from err
    if meta.get("format") != FORMAT or "model" not in meta:
        raise BadInputError(f"{path}: not a deblurkeras export (metadata format {meta.get('format')!r})")
    return state, meta


def _meta_config(path, meta):
    """The builder config a file's metadata stores, for a registered model: BadInputError naming the file when the
    metadata was edited into something else (not JSON, not an object, an unknown model)."""
    try:
        config = json.loads(meta.get("config", "{}"))
    except ValueError as err:
        raise BadInputError(f"{path}: metadata 'config' is not JSON ({first_line(err)})") from None
    if not isinstance(config, dict):
        raise BadInputError(f"{path}: metadata 'config' must be a JSON object, not {type(config).__name__}")
    if meta["model"] not in registry.model_names():
        raise BadInputError(f"{path}: metadata names an unknown model {meta['model']!r}")
    from ..config_check import check_stored_config, safetensors_elements
    check_stored_config(path, meta["model"], config, safetensors_elements(path))  # before building (issue 31)
    return config


def _build(path, what, factory, config, **extra):
    try:
        return factory(**config, **extra)
    except (TypeError, ValueError) as err:  # an unknown keyword, a bad value
        raise BadInputError(f"{path}: cannot build the {what} from its metadata config {config} "
                            f"({first_line(err)})") from None


def load_torch(path, naive=None):
    """A ready PyTorch module (eval mode) from an exported safetensors file; strict load."""
    state, meta = read_safetensors(path)
    config = _meta_config(path, meta)
    twin = _build(path, "PyTorch twin", twin_class(meta["model"]), config,
                  naive=naive if naive is not None else meta.get("naive"))
    own = twin.state_dict()
    bad = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items() if k in own and v.shape != own[k].shape]
    if bad:
        raise WeightsMismatchError(path, mismatched=bad)
    result = twin.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsMismatchError(path, missing=result.missing_keys, unexpected=result.unexpected_keys)
    twin.export_metadata = meta
    return twin.eval()


def load_keras_from_safetensors(path, model=None):
    """Round trip: a Keras model (built from the file's metadata unless given) with the file's weights."""
    state, meta = read_safetensors(path)
    config = _meta_config(path, meta)
    if model is None:
        model = _build(path, "Keras model", lambda **c: registry.build_model(meta["model"], **c), config)
    twin = _build(path, "PyTorch twin", twin_class(meta["model"]), config)
    torch_state_to_keras(state, model, twin, source=os.fspath(path))
    return model


def load_keras_weights(model, weights_path):
    """Strict load of `.weights.h5` / `.keras` (safe_mode) into `model`: every tensor named on a mismatch."""
    from ..weights import load_into
    return load_into(model, weights_path, strict=True)
