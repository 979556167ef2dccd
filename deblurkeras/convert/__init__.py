"""Keras -> PyTorch export with exact TF numerics and per-layer parity reports.

Importing this package imports neither TensorFlow nor torch; `load_torch` needs only torch + safetensors.
    twin = deblurkeras.convert.load_torch("srn.safetensors")   # nn.Module in eval mode, NCHW in / out
    port = deblurkeras.convert.load_torch("converted_dir/")     # a `deblurkeras convert-keras` directory
    from deblurkeras.convert.compare import compare              # any Keras model vs any torch module
"""
import os

# the tolerance rule and the check arguments, torch-free (the verbs' argument parsers load no torch)
from .rules import (DEFAULT_SIZES, DEFAULT_TOL, AbsoluteTol, add_check_arguments, allowed, tol_of,  # noqa: F401
                    tolerance, tolerance_rule)


def load_torch(path, naive=None):
    """A ready PyTorch module (eval mode, NCHW in / out, tuples for several) from a file written by `deblurkeras
    export-torch` or a directory written by `deblurkeras convert-keras` (the latter runs its model.py)."""
    if os.path.isdir(path):
        if naive:
            raise ValueError("naive modes apply to export-torch twins, not to convert-keras directories")
        from .generated import load_dir
        return load_dir(path)
    from .export import load_torch as _load
    return _load(path, naive=naive)


def convert_keras(*args, **kwargs):
    """See deblurkeras.convert.keras_to_torch.convert_keras."""
    from .keras_to_torch import convert_keras as _convert
    return _convert(*args, **kwargs)


def register_converter(*keys):
    """See deblurkeras.convert.converters.register_converter (imports Keras-free code only)."""
    from .converters import register_converter as _register
    return _register(*keys)


def __getattr__(name):
    if name == "Converted":
        from .converters import Converted
        return Converted
    raise AttributeError(name)


def export_torch(*args, **kwargs):
    """See deblurkeras.convert.pipeline.export_and_check."""
    from .pipeline import export_and_check
    return export_and_check(*args, **kwargs)


def export_onnx(*args, **kwargs):
    """See deblurkeras.convert.onnx_export.export_onnx (needs the onnx extra)."""
    from .onnx_export import export_onnx as _export
    return _export(*args, **kwargs)
