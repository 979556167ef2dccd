"""Import weights saved by the original Keras 2 dense-field GAN (`g.save_weights(...)`, `d.save_weights(...)`).

Keras 2 `save_weights` HDF5 layout: the root (or `model_weights/` in a full-model file) has the attribute
`layer_names` (every layer, in model order); group `<layer>` has the attribute `weight_names`
(e.g. `conv2d_3/kernel:0`) and the arrays at those paths. A nested model (the discriminator's `PatchGAN`) is one
group whose weight names carry the inner layers' names. Arrays are channels-last with the same layouts as Keras 3
(Conv2D kernel HWIO, Dense (in, out), BN gamma/beta/moving_mean/moving_variance), so values are copied as they are.

Names: the original never named its layers, so its files hold Keras 2 auto-names (`conv2d_1`, `batch_normalization_1`,
`dense_1`, numbered per class in creation order, across the whole session). The port creates its layers in the
same order, so by default the file's layers of each class, sorted by their number, map in order onto the model's
layers of that class (`conv2d_1` -> `head`, `conv2d_2` -> `d1_conv1x1`, ... see models/dense_gan.py); this also
covers a discriminator saved after a generator (`conv2d_25`...). A file whose names are already the port's maps by
identity. `name_map` ({file name: model layer name}) overrides any of it.

Strict: every model weight must get an array of its exact shape and every array in the file must be used, otherwise
`WeightsMismatchError` lists what is missing, unexpected or mis-shaped; nothing is assigned unless all of it fits.

CLI: `deblurkeras import-keras2 generator_weights.h5 --out dense_gan.weights.h5` (or `--out NAME.keras`);
`--model auto|dense-gan|dense-gan-d` (auto: a file with a Dense layer is a discriminator); widths and patch size are
read from the array shapes.
"""
import json
import os
import re

import numpy as np

from ...errors import BadInputError, WeightsMismatchError, first_line

FORMAT = "keras2"
FORMAT_HELP = "weights saved by the original Keras 2 dense-field GAN"

_AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|dense)_(\d+)$")
_KERAS_CLASS = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization", "Dense": "dense"}


def _text(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def _names(path, what, value):
    """A name-list attribute (Keras 2 writes 1-D arrays of bytes) as strings; anything else is refused by name."""
    value = np.asarray(value)
    if value.ndim != 1 or not all(isinstance(v, (bytes, str, np.bytes_, np.str_)) for v in value):
        raise BadInputError(f"{path}: attribute {what} must be a list of names, not {value.dtype} of shape "
                            f"{value.shape}")
    return [_text(v) for v in value]


def read_keras2_h5(path):
    """{owner layer name: {weight name (kernel, bias, gamma, ...): array}}, in file order."""
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: weights file not found")
    from ...h5safe import MAX_WEIGHT_ELEMENTS, open_checked
    try:
        f = open_checked(path, MAX_WEIGHT_ELEMENTS)  # nothing read from other files, no 10 GB dataset (issue 31)
    except OSError as e:
        raise BadInputError(f"{path}: not an HDF5 file ({first_line(e)})") from e
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise BadInputError(f"{path}: not a Keras 2 weights file (no 'layer_names' attribute)")
        tensors = {}
        for layer in _names(path, "layer_names", root.attrs["layer_names"]):
            if layer not in root or not isinstance(root[layer], h5py.Group):
                raise BadInputError(f"{path}: layer group {layer!r} listed in layer_names is missing")
            group = root[layer]
            for wname in _names(path, f"{layer}/weight_names", group.attrs.get("weight_names", [])):
                parts = wname.split("/")
                if len(parts) < 2 or wname not in group or not isinstance(group[wname], h5py.Dataset):
                    raise BadInputError(f"{path}: bad weight entry {layer}/{wname}")
                owner, attr = parts[-2], parts[-1].split(":")[0]
                tensors.setdefault(owner, {})[attr] = np.asarray(group[wname])
    return tensors


def weighted_layers(model):
    """The model's layers that own weights, nested models flattened, in model (= creation) order."""
    import keras

    out, seen = [], set()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner = [lyr for lyr in weighted_layers(layer) if id(lyr) not in seen]
            out.extend(inner)
            seen.update(map(id, inner))
        elif layer.weights and id(layer) not in seen:
            out.append(layer)
            seen.add(id(layer))
    return out


def default_name_map(file_names, layers, fixed=None):
    """{file layer name: model layer name}: `fixed` first, then exact names, then Keras 2 auto-names by class.

    Auto-names `<class>_<n>` map to the model's not yet mapped layers of that class in creation order, at index
    n - (the smallest n of that class in the file): a discriminator saved after a generator (conv2d_25...) maps
    as well as a fresh one, and a layer missing from the middle of the file stays missing instead of shifting
    the rest.
    """
    model_names = [lyr.name for lyr in layers]
    mapping = dict(fixed or {})
    taken = set(mapping.values())
    for n in file_names:
        if n not in mapping and n in model_names and n not in taken:
            mapping[n] = n
            taken.add(n)
    by_class = {}
    for name in file_names:
        m = _AUTO_NAME.match(name)
        if m and name not in mapping:
            by_class.setdefault(m.group(1), []).append((int(m.group(2)), name))
    for cls, entries in by_class.items():
        targets = [lyr.name for lyr in layers if _KERAS_CLASS.get(type(lyr).__name__) == cls
                   and lyr.name not in taken]
        first = min(k for k, _ in entries)
        for k, name in entries:
            i = k - first
            if i < len(targets):
                mapping[name] = targets[i]
                taken.add(targets[i])
    return mapping


def load_keras2_h5(model, path, name_map=None):
    """Assign the arrays of a Keras 2 `save_weights` file to `model` (strict, see the module docstring)."""
    tensors = read_keras2_h5(path)
    layers = weighted_layers(model)
    mapping = default_name_map(list(tensors), layers, name_map)
    by_name = {lyr.name: lyr for lyr in layers}
    missing, unexpected, mismatched, plan = [], [], [], []
    used = set()
    for fname, arrays in tensors.items():
        target = by_name.get(mapping.get(fname))
        if target is None:
            unexpected.extend(f"{fname}/{a}" for a in arrays)
            continue
        used.add(target.name)
        variables = {v.path.split("/")[-1]: v for v in target.weights}
        for attr, arr in arrays.items():
            var = variables.pop(attr, None)
            if var is None:
                unexpected.append(f"{fname}/{attr}")
            elif tuple(arr.shape) != tuple(var.shape):
                mismatched.append((f"{fname}/{attr} -> {target.name}/{attr}", tuple(arr.shape), tuple(var.shape)))
            else:
                plan.append((var, arr))
        missing.extend(f"{target.name}/{a}" for a in variables)
    missing.extend(f"{n}/{v.path.split('/')[-1]}" for n, lyr in by_name.items() if n not in used for v in lyr.weights)
    if missing or unexpected or mismatched:
        raise WeightsMismatchError(os.fspath(path), missing, unexpected, mismatched)
    for var, arr in plan:
        var.assign(arr.astype(var.dtype))
    return model


# ------------------------------------------------------------------------------------------ model from the file
def infer_model(tensors, source="<file>"):
    """(registry name, builder overrides) read from the arrays: discriminator iff a Dense layer is present."""
    first = next((a["kernel"] for a in tensors.values() if "kernel" in a and a["kernel"].ndim == 4), None)
    if first is None:
        raise BadInputError(f"{source}: no convolution kernel: not a dense-field GAN weights file")
    dense = [a["kernel"] for a in tensors.values() if "kernel" in a and a["kernel"].ndim == 2]
    if not dense:
        return "dense-gan", {"channel_rate": int(first.shape[-1]) // 4}
    filters = int(first.shape[-1])
    side = int(round((dense[0].shape[0] / (4 * filters)) ** 0.5))
    return "dense-gan-d", {"filters": filters, "patch_size": 16 * side}


def load_file(path, model_name="auto", name_map=None):
    """Build the right model for a Keras 2 weights file and load it: (model, registry name).

    The discriminator is built for 256x256 images (the original's) when 256 is a multiple of the patch size,
    else with batch_patches=True for any size; the weights (all in the shared patch model) are the same.
    """
    from ...registry import build_model

    name, overrides = infer_model(read_keras2_h5(path), os.fspath(path))
    from ...config_check import check_schema
    check_schema(path, name, overrides)  # widths read from the arrays: a 400,000-channel kernel is not built
    if model_name != "auto" and model_name != name:
        raise BadInputError(f"{path}: holds a {name} model, not {model_name}")
    if name == "dense-gan-d" and 256 % overrides["patch_size"]:
        overrides.update(image_shape=(None, None, 3), batch_patches=True)
    return load_keras2_h5(build_model(name, **overrides), path, name_map), name


def accepts(path):
    """A Keras 2 `save_weights` HDF5 file (root attribute `layer_names`), not one of our `.weights.h5`."""
    path = os.fspath(path)
    if not path.endswith((".h5", ".hdf5")) or path.endswith(".weights.h5") or not os.path.isfile(path):
        return False
    import h5py
    try:
        with h5py.File(path, "r") as f:
            return "layer_names" in f.attrs
    except OSError:
        return False


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    if model is not None:
        return load_keras2_h5(model, path), model_name
    model, name = load_file(path, model_name or "auto")
    return model, name


# ---------------------------------------------------------------------------------------------------- CLI verb
def add_arguments(parser):
    from ...importers.cli import add_out_arguments

    parser.add_argument("weights", help="HDF5 file written by the original Keras 2 code's save_weights")
    parser.add_argument("--model", default="auto", choices=["auto", "dense-gan", "dense-gan-d"],
                        help="which network the file holds (auto: a file with a Dense layer is the discriminator)")
    parser.add_argument("--name-map", help="JSON file {file layer name: model layer name} overriding the default")
    add_out_arguments(parser)


def run(args):
    from ... import weights
    from ...importers.cli import check_out

    out = args.out
    check_out(out)
    name_map = None
    if args.name_map:
        try:
            with open(args.name_map) as fh:
                name_map = json.load(fh)
        except (OSError, ValueError) as e:
            raise BadInputError(f"{args.name_map}: not a readable JSON name map ({first_line(e)})") from e
        if not isinstance(name_map, dict) or not all(isinstance(v, str) for v in name_map.values()):
            raise BadInputError(f"{args.name_map}: the name map must be a JSON object of strings")
    model, name = load_file(args.weights, args.model, name_map)
    weights.save(model, out)
    print(f"{args.weights}: {name}, {len(model.weights)} tensors, {model.count_params():,} parameters -> {out}")
    return 0
