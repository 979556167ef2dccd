"""Import the original SRN-DeblurNet TF1 checkpoints (`jiangsutx/SRN-Deblur`, e.g. `checkpoints/color/deblur.model-523000`).

The official graph keeps every generator variable under `g_net/`: `g_net/<scope>/weights` and `g_net/<scope>/biases`
(ResBlocks `g_net/enc1_2/conv1/weights`, the ConvLSTM `g_net/convLSTM/LSTM_conv/weights`). The Keras port
(`deblurkeras.families.srn.model`) names its weights after the same scopes (`enc1_2/conv1/kernel`), so the mapping is by
name only: `g_net/` dropped, `weights` -> `kernel`, `biases` -> `bias`. Conv kernels are `[kh, kw, in, out]` and
conv-transpose kernels `[kh, kw, out, in]` in both, so values are copied as they are.

Strict: every model weight must be found with its exact shape and every checkpoint tensor must be used, otherwise
`WeightsMismatchError` lists the missing, unexpected and mis-shaped tensors by name. The only tensors skipped, on
purpose, are training state that is not part of the model: optimizer slots (`.../Adam`, `.../Adam_1`,
`beta1_power`, `beta2_power`) and the step counter (`global_step`, or the official code's unnamed integer scalar
`Variable`). The released checkpoints hold only `g_net/*`.

CLI: `deblurkeras import-tf1 CKPT --variant auto --out model.weights.h5` (or `--out model.keras`).
"""
import os
import re

import numpy as np

from ...errors import BadInputError, WeightsMismatchError, first_line

FORMAT = "tf1"
FORMAT_HELP = "an original SRN-Deblur TF1 checkpoint"
SCOPE = "g_net/"
_IGNORED = re.compile(r"(^|/)(Adam|Adam_\d+)$|^beta[12]_power(_\d+)?$|^global_step$")
_SUFFIX = {"weights": "kernel", "biases": "bias"}


def _is_training_state(name, reader):
    if _IGNORED.search(name):
        return True
    # the official code's step counter: tf.Variable(0, dtype=tf.int32) without a name -> "Variable", int scalar
    return name == "Variable" and reader.get_variable_to_shape_map()[name] == [] and \
        reader.get_variable_to_dtype_map()[name].is_integer


def open_checkpoint(path):
    """A `tf.train.load_checkpoint` reader for a prefix, a directory (latest checkpoint) or a `.index` file."""
    import tensorflow as tf
    path = os.fspath(path)
    for ext in (".index", ".meta"):
        if path.endswith(ext):
            path = path[: -len(ext)]
    path = re.sub(r"\.data-\d+-of-\d+$", "", path)
    if os.path.isdir(path) and tf.train.latest_checkpoint(path) is None:
        raise BadInputError(f"{path}: directory without a TF checkpoint (no 'checkpoint' file)")
    if not os.path.isdir(path) and not os.path.exists(path + ".index"):
        raise BadInputError(f"{path}: not a TF1 checkpoint prefix ({path}.index not found)")
    try:
        return tf.train.load_checkpoint(path)
    except Exception as e:  # corrupt index/data files surface as various tf.errors
        raise BadInputError(f"{path}: cannot read TF checkpoint ({first_line(e)})") from None


def tf1_to_keras_name(name):
    """`g_net/enc1_2/conv1/weights` -> `enc1_2/conv1/kernel`; None for names outside the generator."""
    if not name.startswith(SCOPE):
        return None
    scope, _, leaf = name[len(SCOPE):].rpartition("/")
    if leaf not in _SUFFIX or not scope:
        return None
    return f"{scope}/{_SUFFIX[leaf]}"


def keras_to_tf1_name(path):
    """Inverse of tf1_to_keras_name: `dec1_0/bias` -> `g_net/dec1_0/biases`."""
    scope, _, leaf = path.rpartition("/")
    return f"{SCOPE}{scope}/{ {v: k for k, v in _SUFFIX.items()}[leaf] }"


def read_generator_tensors(reader):
    """({checkpoint name: shape} of the generator tensors, [names that are neither generator nor training state])."""
    shapes = reader.get_variable_to_shape_map()
    model, foreign = {}, []
    for name, shape in sorted(shapes.items()):
        if tf1_to_keras_name(name) is not None:
            model[name] = tuple(shape)
        elif not _is_training_state(name, reader):
            foreign.append(name)
    return model, foreign


def detect_variant(shapes, source="checkpoint"):
    """SRN variant from the checkpoint shapes: output channels of dec1_0 (3 colour, 1 gray) and the ConvLSTM."""
    out = shapes.get(SCOPE + "dec1_0/weights")
    if out is None or len(out) != 4 or out[-1] not in (1, 3):
        raise WeightsMismatchError(source, missing=[SCOPE + "dec1_0/weights"] if out is None else [],
                                   mismatched=[] if out is None else [(SCOPE + "dec1_0/weights", out, "(5, 5, 32, 1|3)")])
    lstm = SCOPE + "convLSTM/LSTM_conv/weights" in shapes
    return {(3, False): "color", (1, False): "gray", (1, True): "lstm", (3, True): "color_lstm"}[(out[-1], lstm)]


def load_tf1_checkpoint(model_or_none, path, variant="auto", resize_mode="tf1_legacy"):
    """Fill an SRN Keras model from an original TF1 checkpoint; build one when `model_or_none` is None.

    `variant="auto"` detects the variant from the checkpoint shapes; a named variant is built as asked and any
    disagreement with the checkpoint then shows up as a WeightsMismatchError naming the tensors. Returns the model.
    """
    reader = open_checkpoint(path)
    source = os.fspath(path)
    shapes, foreign = read_generator_tensors(reader)
    if model_or_none is None:
        from .model import build_srn
        model_or_none = build_srn(detect_variant(shapes, source) if variant == "auto" else variant, resize_mode)
    model = model_or_none
    wanted = {keras_to_tf1_name(w.path): w for w in model.weights}
    missing = sorted(set(wanted) - set(shapes))
    unexpected = sorted(set(shapes) - set(wanted)) + foreign
    mismatched = [(n, shapes[n], tuple(wanted[n].shape)) for n in sorted(set(wanted) & set(shapes))
                  if tuple(shapes[n]) != tuple(wanted[n].shape)]
    if missing or unexpected or mismatched:
        err = WeightsMismatchError(source, missing, unexpected, mismatched)
        try:  # say which variant the checkpoint does hold, when that is clear
            err.args = (f"{err.args[0]} [the checkpoint holds SRN '{detect_variant(shapes, source)}']",)
        except WeightsMismatchError:
            pass
        raise err
    import tensorflow as tf
    try:  # the index lists the tensors; their bytes are in the .data files, which may be missing or cut short
        values = {name: reader.get_tensor(name) for name in wanted}
    except (tf.errors.OpError, ValueError, RuntimeError, IndexError) as e:  # IndexError: "Read less bytes"
        raise BadInputError(f"{source}: cannot read the checkpoint's tensor data (a missing or truncated "
                            f".data-* file?): {first_line(e)}") from None
    for name, var in wanted.items():
        var.assign(np.asarray(values[name], dtype=var.dtype))
    return model


def accepts(path):
    """A TF1 checkpoint: a prefix with its `.index`, the `.index`/`.meta` file, or a folder with `checkpoint`."""
    path = os.fspath(path)
    return os.path.exists(path + ".index") or path.endswith((".index", ".meta")) or \
        (os.path.isdir(path) and os.path.exists(os.path.join(path, "checkpoint")))


def import_weights(path, model=None, model_name=None):
    """The weights-loader hook (deblurkeras.weights): (model, registered name)."""
    from ...registry import build_model, entry

    if model is None:
        if model_name is None:
            shapes, _ = read_generator_tensors(open_checkpoint(path))
            model_name = "srn-" + detect_variant(shapes, os.fspath(path)).replace("_", "-")
        if entry(model_name).family != "srn":
            raise BadInputError(f"{path}: a TF1 SRN checkpoint cannot fill {model_name}")
        model = build_model(model_name)
    return load_tf1_checkpoint(model, path), model_name


# ---------------------------------------------------------------------------------------------------- CLI verb
def add_arguments(parser):
    from ...importers.cli import add_out_arguments

    parser.add_argument("checkpoint", help="TF1 checkpoint prefix (deblur.model-523000) or its directory")
    parser.add_argument("--variant", default="auto", choices=["auto", "color", "gray", "lstm", "color_lstm"],
                        help="SRN variant; auto detects it from the tensor shapes (default)")
    parser.add_argument("--resize-mode", default="tf1_legacy", choices=["tf1_legacy", "half_pixel"],
                        help="bilinear resize semantics stored in a .keras output (default: tf1_legacy, the original)")
    add_out_arguments(parser)


def run(args):
    from ... import weights
    from ...importers.cli import check_out
    from ...registry import build_model, entry
    out = args.out
    check_out(out)
    if args.variant == "auto":
        shapes, _ = read_generator_tensors(open_checkpoint(args.checkpoint))
        variant = detect_variant(shapes, os.fspath(args.checkpoint))
    else:
        variant = args.variant
    name = "srn-" + variant.replace("_", "-")
    entry(name)
    model = load_tf1_checkpoint(build_model(name, resize_mode=args.resize_mode), args.checkpoint)
    weights.save(model, out)
    print(f"{args.checkpoint}: SRN {variant}, {len(model.weights)} tensors, {model.count_params():,} parameters "
          f"-> {out}")
    return 0
