"""A Keras model and its PyTorch twin with the same weights, the parity assertion the converter tests share, and the
NHWC <-> NCHW moves every test comparing Keras with PyTorch makes."""
import numpy as np

from deblurkeras.convert import export
from deblurkeras.convert.parity import randomize_batchnorm
from deblurkeras.families import build_model


def pair(name, naive=None, model=None, **overrides):
    model = model if model is not None else randomize_batchnorm(build_model(name, **overrides), seed=1)
    twin = export.build_twin(name, overrides, naive=naive)
    twin.load_state_dict(export.keras_to_torch_state(model, twin))
    return model, twin


def assert_parity(results, atol=1e-5):
    for r in results:
        assert r["ok"] and r["first_divergence"] is None, r["first_divergence"]
        for o in r["outputs"]:
            assert o["max_abs"] <= atol, o


def nchw(a):
    """An NHWC array as an NCHW torch tensor of the same dtype."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2))))


def nhwc(t):
    """An NCHW torch tensor as an NHWC array."""
    return np.transpose(t.detach().numpy(), (0, 2, 3, 1))
