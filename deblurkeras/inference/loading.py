"""Loading a model for inference: the registered model with a weights file, refused when any weight is NaN/Inf or
the input channels do not match (every output would be garbage, with exit 0 otherwise)."""
import numpy as np

from ..errors import BadInputError, WeightsMismatchError, show


def load_model(name, weights):
    """(The registered model `name` with the weights of `weights`): a `.weights.h5`, a `.keras` file (safe_mode) or
    an original checkpoint its family's importer reads. The file must hold that model: our files say which model they
    hold, every other tensor layout is compared tensor by tensor. `name` None: the model the file says."""
    from .. import registry
    from ..weights import load

    model, name = load(weights, name)
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w.numpy(), dtype=np.float32)))]
    if bad:  # every output would be NaN: a black image and exit 0 otherwise
        raise BadInputError(f"{show(weights)}: {len(bad)} of {len(model.weights)} weight tensors hold NaN/Inf "
                            f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); the file is unusable")
    channels = model.inputs[0].shape[-1]
    if channels is not None and channels != registry.model_io(name).channels:
        raise WeightsMismatchError(weights, mismatched=[("input channels", channels, registry.model_io(name).channels)])
    return model
