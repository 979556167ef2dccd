"""The likely cause of a first divergence: the one diagnosis of compare, export-torch, export-onnx and convert-keras.

Two ways to reproduce what the other side computed at the first diverging layer, then one fallback:
  * a registered model's twin (export-torch, export-onnx): the twin is rebuilt once per hand-port pitfall
    (torch_layers.PITFALLS) with the same weights and run on the same input; a pitfall whose activation there
    matches the other side's names the cause. A pitfall that computes the same as the exact twin at that layer
    (the 'deconv' output_padding port of a kernel-4 stride-2 conv-transpose is exact) reproduces any small
    difference and proves nothing: it is never named.
  * any Keras model (compare, convert-keras): the diverging Keras layer is converted again once per pitfall (the
    converters' naive options) and run on the Keras input of that call.
  * otherwise, a small relative error (ROUNDING_REL) is named for what it most likely is: float32 rounding and
    summation order, with the way to accept it.
"""
import numpy as np
import torch

from .rules import AbsoluteTol
from .parity import agrees, compare, keras_to_torch_array, torch_to_keras_array

CAUSES = {
    "padding": "asymmetric SAME padding: TF pads the odd pixel bottom/right, the port pads both sides (k//2)",
    "deconv": "conv-transpose 'same' crop: TF crops (k-s) from (k-s)//2, the port uses padding/output_padding",
    "bn": "BN epsilon: the port uses the other framework's default (Keras 1e-3, torch 1e-5)",
    "leaky": "LeakyReLU slope: the port uses torch's default 0.01",
    "shuffle": "pixel-shuffle channel order: tf.nn.depth_to_space (DCR) vs F.pixel_shuffle (CRD)",
    "resize": "resize convention: the port samples half-pixel centres where TF1 samples corners",
    "flatten": "channel order: the port flattens NCHW, Keras flattens (H, W, C) before the Dense",
    "rgb": "channel order: input channels reversed (RGB vs BGR)",
}
RESIZE_MODES = ("half_pixel", "tf1_legacy", "align_corners", "nearest", "nearest_legacy")
# a relative error below this is what float32 rounding of a deep network does; every pitfall is far above it
# (SRN's naive padding: 1.0 at enc2_1; a BN epsilon mix-up: ~5e-4 of the layer)
ROUNDING_REL = 2e-4


def resize_cause(mode):
    return f"resize convention: the port resizes like {mode!r}"


def _close(a, b, tol):
    return a is not None and b is not None and agrees(compare(a, b), tol)


def rounding(row, tol):
    """The fallback: a small relative error is rounding (with the way to accept it), else None."""
    rel = row.get("max_rel") if row else None
    if rel is None or rel > ROUNDING_REL:
        return None
    if isinstance(tol, AbsoluteTol):
        fix = f"drop --absolute-tol, or pass --tol {row['max_abs'] * 1.5:.1g}"
    else:
        fix = f"pass --tol {row['max_abs'] / max(1.0, row['scale']) * 1.5:.1g}"
    return (f"float32 rounding and summation order, most likely (relative error {rel:.2g} of the layer's max |x| "
            f"{row['scale']:.3g}; no hand-port pitfall reproduces it): {fix} to accept it")


# ---- registered models: the twin rebuilt with each pitfall -----------------------------------------------------
def twin_cause(build, state, x_nchw, key, other, keras_act, tol, row=None):
    """Why the other side (`other`, Keras layout) leaves Keras at tap `key`. `build(naive)`: a twin of the model
    (naive: a set of pitfalls); `state`: the weights; `x_nchw`: the input (numpy). Exporter-level: when the exact
    twin matches Keras but the other side does not, the exported graph itself is named."""
    from .torch_layers import PITFALLS

    def act(naive):
        try:
            module = build(naive)
        except ValueError:  # the pitfall does not apply to this model
            return None
        module.load_state_dict(state)
        with torch.no_grad(), module.capturing() as taps:
            module(torch.from_numpy(x_nchw))
        return torch_to_keras_array(taps[key]) if key in taps else None

    exact = act(frozenset())
    for pitfall in PITFALLS:
        variant = act(frozenset({pitfall}))
        if variant is None or _close(variant, exact, tol):
            continue  # computes what the exact layer computes here: it reproduces nothing in particular
        if _close(variant, other, tol) and not _close(variant, keras_act, tol):
            return f"{CAUSES[pitfall]} (the {pitfall!r} hand-port pitfall reproduces this layer)"
    if _close(exact, keras_act, tol) and not _close(exact, other, tol) and not rounding(row, tol):
        return "the exported graph differs from the exact twin at this layer (exporter or runtime)"
    return rounding(row, tol)


def twin_diagnosis(model_name, twin, x_nhwc, tol, overrides=None):
    """parity.run_parity's `diagnose` for a registered model's twin: the twin rebuilt with each pitfall."""
    from .export import build_twin

    def diagnose(key, other, keras_act, row):
        build = lambda naive: build_twin(model_name, overrides, naive=naive)  # noqa: E731
        try:
            return twin_cause(build, twin.state_dict(), np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)), key,
                              other, keras_act, tol, row)
        except Exception as err:  # a detector must never hide the report itself (a twin of another configuration)
            return rounding(row, tol) or f"(no diagnosis: {type(err).__name__}: {str(err)[:200]})"
    return diagnose


# ---- any Keras model: the diverging layer converted again with each pitfall ------------------------------------
def build_module(conv):
    """An nn.Module from a converter's code and weights (the namespace model.py has)."""
    from . import codegen, tf_same
    ns = {k: v for k, v in vars(tf_same).items() if not k.startswith("_")}
    ns.update({"torch": torch, "nn": torch.nn, "F": torch.nn.functional})
    ns.update({h.__name__: h for h in conv.helpers})
    module = eval(conv.code, ns)  # noqa: S307  (code written by our own converters, never read from a file)
    module.load_state_dict(codegen.to_torch_state(conv.weights), strict=True)
    return module.eval()


def _run(module, arrays):
    with torch.no_grad():
        out = module(*[torch.from_numpy(keras_to_torch_array(a)) for a in arrays])
    return torch_to_keras_array(out[0] if isinstance(out, (tuple, list)) else out)


def keras_call_inputs(model, call, inputs):
    """The Keras inputs of one layer call, for the batch `inputs`."""
    import keras
    from .graph import functional
    fn = functional(model)
    sub = keras.Model(fn.inputs, list(call.node.input_tensors))
    out = sub(list(inputs), training=False)
    return [np.asarray(a) for a in (out if isinstance(out, (list, tuple)) else [out])]


def layer_cause(model, graph, call, inputs, keras_out, torch_out, tol, row=None):
    """Name the pitfall whose conversion of this one layer matches the torch output of this call, or say what is
    known."""
    from .converters import convert_call
    from .graph import is_submodel
    layer = call.layer
    if is_submodel(layer):
        return "inside the functional sub-model (compare its layers separately)"
    try:
        x = keras_call_inputs(model, call, inputs)
        exact = convert_call(call)
        exact_out = _run(build_module(exact), x)
        if not _close(exact_out, keras_out, max(float(tol), 1e-5)):
            return (f"the {type(layer).__name__} converter does not reproduce this layer on its own Keras input "
                    "(a converter bug, not the port's)")
        for key, value in [("padding", True), ("deconv", True), ("bn", True), ("leaky", True), ("shuffle", True),
                           ("flatten", True)] + [("resize", m) for m in RESIZE_MODES]:
            variant = convert_call(call, {key: value})
            if variant.code == exact.code:
                continue  # the pitfall does not apply to this layer
            out = _run(build_module(variant), x)
            if _close(out, exact_out, tol):
                continue  # the same numbers as the exact layer here: naming it would be a guess
            if _close(out, torch_out, tol):
                return resize_cause(value) if key == "resize" else CAUSES[key]
        flat = _flatten_source(graph, call)
        if flat is not None:  # a Dense fed by Keras' Flatten: did the port flatten NCHW?
            _, h, w, c = flat
            n = x[0].shape[0]
            perm = x[0].reshape(n, h, w, c).transpose(0, 3, 1, 2).reshape(n, -1)
            if _close(_run(build_module(exact), [perm]), torch_out, tol):
                return CAUSES["flatten"]
        if x and x[0].ndim >= 3 and x[0].shape[-1] in (3, 4):
            if _close(_run(build_module(exact), [x[0][..., ::-1].copy()] + x[1:]), torch_out, tol):
                return CAUSES["rgb"]
    except Exception as err:  # a detector must never hide the report itself
        return f"(no diagnosis: {type(err).__name__}: {err})"
    return rounding(row, tol) or "no known pitfall reproduces it: check this layer's weights and options"


def _flatten_source(graph, call):
    """(N, H, W, C) of the Flatten that feeds this Dense, if any."""
    if type(call.layer).__name__ != "Dense":
        return None
    src = next((c for c in graph.calls if call.inputs and call.inputs[0] in c.outputs), None)
    if src is None or type(src.layer).__name__ != "Flatten" or len(src.input_shapes[0]) != 4:
        return None
    return (1,) + tuple(src.input_shapes[0][1:])
