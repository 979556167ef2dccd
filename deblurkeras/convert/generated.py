"""Load a directory written by `deblurkeras convert-keras` (model.py, tf_same.py, model.safetensors).

Needs only torch and safetensors. It imports DIR/model.py, i.e. runs Python code from DIR: load only
directories you wrote or trust (the weights themselves are safetensors, never unpickled).
"""
import hashlib
import importlib
import importlib.util
import json
import os
import sys

from ..errors import BadInputError, WeightsMismatchError

FORMAT = "deblurkeras-converted/1"
FILES = ("__init__.py", "model.py", "tf_same.py", "model.safetensors")


def is_converted_dir(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.py"))


def import_package(directory):
    """DIR as a package under a name unique to its absolute path, so model.py's `from .tf_same import` works."""
    directory = os.path.abspath(directory)
    name = "deblurkeras_converted_" + hashlib.sha1(directory.encode()).hexdigest()[:12]
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]  # a re-written directory is imported afresh
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, "__init__.py"),
                                                  submodule_search_locations=[directory])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.model")


def read_meta(directory):
    from safetensors import safe_open
    path = os.path.join(directory, "model.safetensors")
    if not os.path.isfile(path):
        raise BadInputError(f"{directory}: no model.safetensors (not a convert-keras directory)")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise BadInputError(f"{path}: not a readable safetensors file ({err})") from err
    if meta.get("format") != FORMAT:
        raise BadInputError(f"{path}: not a convert-keras export (metadata format {meta.get('format')!r})")
    return meta


def load_dir(directory):
    """The converted module in eval mode, weights loaded strictly; `.export_metadata` holds the file metadata."""
    from safetensors.torch import load_file
    directory = os.fspath(directory)
    missing = [f for f in FILES if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise BadInputError(f"{directory}: not a convert-keras directory (missing {', '.join(missing)})")
    meta = read_meta(directory)
    module = import_package(directory)
    model = getattr(module, meta.get("class", "MODEL"))()
    state = load_file(os.path.join(directory, "model.safetensors"))
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsMismatchError(directory, missing=result.missing_keys, unexpected=result.unexpected_keys)
    model.export_metadata = {**meta, "inputs": json.loads(meta.get("inputs", "[]"))}
    return model.eval()
