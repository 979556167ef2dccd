"""Keras -> PyTorch export with exact TF numerics and per-layer parity reports.

Importing this package imports neither TensorFlow nor torch; `load_torch` needs only torch + safetensors.
    twin = deblurkeras.convert.load_torch("srn.safetensors")   # nn.Module in eval mode, NCHW in / out
"""


def load_torch(path, naive=None):
    """A ready PyTorch module (eval mode) from a file written by `deblurkeras export-torch`."""
    from .export import load_torch as _load
    return _load(path, naive=naive)


def export_torch(*args, **kwargs):
    """See deblurkeras.convert.pipeline.export_and_check."""
    from .pipeline import export_and_check
    return export_and_check(*args, **kwargs)
