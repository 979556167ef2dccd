"""`model.init_weights`: start a run from existing weights (fine-tuning), from any file our importers read.

    .keras / .weights.h5      our own files (any family; .keras loaded in safe_mode)
    TF1 checkpoint prefix     SRN (the official deblur.model-523000, or its directory)
    directory of .pkl files   DMPHN (the official encoder_lv*.pkl / decoder_lv*.pkl)
    .pth / .pt                SRResNet / SRGAN (the tutorial's checkpoints, plain state_dicts)
    Keras-2 .h5               the dense-field GAN (the original's save_weights)
Every load is strict: a missing, unexpected or mis-shaped tensor raises WeightsMismatchError naming it, before
anything is assigned (the importers check the whole file first).
"""
import os

from ..errors import BadInputError, WeightsMismatchError

TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar")


def _is_tf1_checkpoint(path):
    return os.path.exists(path + ".index") or path.endswith(".index") or \
        (os.path.isdir(path) and os.path.exists(os.path.join(path, "checkpoint")))


def _is_keras2_h5(path):
    """Keras 2 save_weights files carry a `layer_names` attribute at the root; Keras 3 .weights.h5 do not."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "layer_names" in f.attrs
    except OSError as e:
        raise BadInputError(f"{path}: not an HDF5 weights file ({e})") from None


def _from_keras_file(model, path):
    """A .keras file's weights into `model`, strictly (through a .weights.h5 and its layout check)."""
    import tempfile

    import keras

    from ..errors import first_line
    from ..families import register_keras_layers
    from ..inference import load_weights_strict

    register_keras_layers()
    try:
        src = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise BadInputError(f"{path}: cannot load Keras model ({first_line(e)})") from None
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = os.path.join(tmp, "init.weights.h5")
        src.save_weights(tmp_path)
        try:
            load_weights_strict(model, tmp_path)
        except WeightsMismatchError as e:  # name the user's file, not the temporary one
            raise WeightsMismatchError(path, e.missing, e.unexpected, e.mismatched) from None


def _family_only(path, kind, family, wanted):
    if family != wanted:
        raise BadInputError(f"{path}: {kind} holds {wanted} weights, not weights for a {family} model")


def load_into(model, path, model_name):
    """Fill `model` (the registered `model_name`) from the weights at `path`; returns the model."""
    from .. import families

    family = families.entry(model_name).family
    path = os.fspath(path)
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise BadInputError(f"{path}: no such weights file")
        _from_keras_file(model, path)
    elif path.endswith(".h5"):
        from ..inference import load_weights_strict

        if not os.path.isfile(path):
            raise BadInputError(f"{path}: no such weights file")
        if not path.endswith(".weights.h5") and _is_keras2_h5(path):
            _family_only(path, "a Keras 2 weights file", family, "dense_gan")
            from ..families.dense_gan.importer import load_keras2_h5
            load_keras2_h5(model, path)
        else:
            load_weights_strict(model, path)
    elif path.endswith(TORCH_SUFFIXES):
        _family_only(path, "a PyTorch tutorial checkpoint", family, "sr")
        from ..checkpoints.torch_import import import_sr
        import_sr(path, "generator" if model_name.startswith("srgan") else "srresnet", model=model)
    elif os.path.isdir(path) and any(n.endswith(".pkl") for n in os.listdir(path)):
        _family_only(path, "a directory of .pkl files", family, "dmphn")
        from ..checkpoints.torch_import import import_dmphn
        import_dmphn(path, model)
    elif _is_tf1_checkpoint(path):
        _family_only(path, "a TF1 checkpoint", family, "srn")
        from ..families.srn.importer import load_tf1_checkpoint
        load_tf1_checkpoint(model, path)
    elif not os.path.exists(path):
        raise BadInputError(f"{path}: model.init_weights not found")
    else:
        raise BadInputError(f"{path}: model.init_weights must be a .keras / .weights.h5 file, a TF1 checkpoint "
                            f"prefix (SRN), a directory of .pkl files (DMPHN), a .pth file (SRResNet/SRGAN) or a "
                            f"Keras 2 .h5 file (dense-field GAN)")
    return model
