"""Importers of original weights into the Keras ports, each mapping tensors by name and strict about mismatches.

`tf1_srn`: SRN-DeblurNet TF1 checkpoints (`g_net/<scope>/weights|biases`). Other importers live beside it.
Submodules import TensorFlow / torch themselves, so importing this package stays cheap.
"""


def load_tf1_checkpoint(model_or_none, path, variant="auto", resize_mode="tf1_legacy"):
    """See `deblurkeras.families.srn.importer.load_tf1_checkpoint` (imported lazily: it needs TensorFlow)."""
    from .tf1_srn import load_tf1_checkpoint as load
    return load(model_or_none, path, variant, resize_mode)
