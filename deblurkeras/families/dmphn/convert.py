"""DMPHN's layer in the PyTorch converter: the converter of `Halves` and the pure-torch module it stands for (its
source is copied into the generated model.py: torch, nn, F and the tf_same names only)."""
from torch import nn

from ...convert.converters import Converted, call, register_converter, torch_dim


class Halves(nn.Module):
    """DMPHN's patch split: two halves along `dim` at int(size / 2)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        half = x.shape[self.dim] // 2
        return x.narrow(self.dim, 0, half), x.narrow(self.dim, half, x.shape[self.dim] - half)


@register_converter("Halves")
def halves(layer, ctx):
    return Converted(call("Halves", torch_dim(layer.axis, ctx.rank)), helpers=(Halves,))
