"""Shared pieces of the restated original training steps (each family's `original.py`), for the train-step parity
check (deblurkeras.training.step_parity).

Each family's `run_reference(case, init, batches, opts)` starts from `init` (weights exported from our Keras
models), takes one optimizer step per batch exactly as the original code orders it, and returns
    {"losses": (K, n_terms) array, "grad": {name: first-batch gradient}, "w": {name: weights after K steps}}
Names and layouts are those of `init` (torch state_dict keys for the PyTorch originals, Keras paths for TF ones).
`opts["dtype"]` = "float64" runs a reference in float64 (torch's default dtype, the TF1 graph's dtype; Keras' floatx
for the dense-field GAN, which the caller sets): with float32 rounding gone, a remaining gap is in the algorithm.

PyTorch is imported only when a PyTorch reference runs: `import deblurkeras` never imports this module.
"""
import contextlib
import functools

import numpy as np


def torch_nn():
    import torch
    from torch import nn
    return torch, nn


def load_state(module, state):
    """`module` with the arrays of `state` (torch keys), strictly: a KeyError names any weight the export did not
    provide (num_batches_tracked keeps the module's own)."""
    torch, _ = torch_nn()
    own = module.state_dict()
    state = {k: (torch.from_numpy(np.asarray(state[k])).to(own[k].dtype) if not k.endswith("num_batches_tracked")
                 else own[k]) for k in own}
    module.load_state_dict(state, strict=True)
    return module


def nchw(a):
    """An NHWC array as an NCHW tensor of torch's default dtype."""
    torch, _ = torch_nn()
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))).to(torch.get_default_dtype())


@contextlib.contextmanager
def torch_dtype(opts):
    """torch's default dtype is opts["dtype"] (float32 unless given) inside; the previous one is restored after."""
    torch, _ = torch_nn()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, opts.get("dtype", "float32")))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def torch_run(run):
    """A reference run under torch_dtype(opts)."""
    @functools.wraps(run)
    def wrapped(case, init, batches, opts):
        with torch_dtype(opts):
            return run(case, init, batches, opts)
    return wrapped


def state_arrays(prefix_modules):
    """{prefix + state_dict key: array} of [(prefix, module)], BN's num_batches_tracked left out."""
    return {f"{prefix}{k}": v.detach().numpy().copy() for prefix, mod in prefix_modules
            for k, v in mod.state_dict().items() if not k.endswith("num_batches_tracked")}
