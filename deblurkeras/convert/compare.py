"""Per-layer diff of any Keras model against any PyTorch module, with the likely cause of the first divergence.

    from deblurkeras.convert import compare
    result = compare(keras_model, torch_module)               # layer map inferred
    result = compare(keras_model, torch_module, {"conv1": "features.0"})
    result["first_divergence"], result["cause"]

Keras activations come from one functional pass over every call of every layer of the graph; torch activations
from forward hooks on the mapped modules (a module called n times gives calls 0..n-1, like Keras nodes), or from
`capturing()` for modules that have it (convert-keras output, export-torch twins). The layer map {keras layer name:
torch module path} is inferred when left out: equal names first (`layer2.0` == `layer2.0`, `conv1/x` == `conv1_x`),
then the remaining Keras layers with weights are paired in execution order with the remaining torch leaf modules
with parameters, while their parameter counts agree.

Causes: the diverging Keras layer is converted again once per known hand-port pitfall (the converters' naive
options) and run on the Keras input of that call; a variant that reproduces the torch output names the cause.
"""
import contextlib
import math

import numpy as np
import torch

from . import codegen, tf_same
from .converters import Context, convert_layer
from .graph import functional, is_submodel, read_graph
from .parity import DEFAULT_TOL, compare as stats, disable_tf32, psnr, row_name

CAUSES = {
    "padding": "asymmetric SAME padding: TF pads the odd pixel bottom/right, the port pads both sides (k//2)",
    "deconv": "conv-transpose 'same' crop: TF crops (k-s) from (k-s)//2, the port uses padding/output_padding",
    "bn": "BN epsilon: the port uses the other framework's default (Keras 1e-3, torch 1e-5)",
    "leaky": "LeakyReLU slope: the port uses torch's default 0.01",
    "shuffle": "pixel-shuffle channel order: tf.nn.depth_to_space (DCR) vs F.pixel_shuffle (CRD)",
    "flatten": "channel order: the port flattens NCHW, Keras flattens (H, W, C) before the Dense",
    "rgb": "channel order: input channels reversed (RGB vs BGR)",
}
RESIZE_MODES = ("half_pixel", "tf1_legacy", "align_corners", "nearest", "nearest_legacy")


def resize_cause(mode):
    return f"resize convention: the port resizes like {mode!r}"


# ---- inputs and layouts -------------------------------------------------------------------------------------
def keras_to_torch_array(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if a.ndim >= 3 else np.array(a, copy=True)


def torch_to_keras_array(t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim >= 3 else a


def random_inputs(graph, size=(64, 64), seed=0):
    """One batch of uniform [0, 1) inputs in Keras layout; unknown spatial dims take `size`."""
    rng = np.random.RandomState(seed)
    out = []
    for _, name, shape in graph.inputs:
        dims = [1]
        for i, d in enumerate(shape[1:]):
            if d is None:
                if i >= len(shape) - 2:
                    raise ValueError(f"input {name!r}: unknown channel count in shape {shape}")
                d = size[min(i, 1)]
            dims.append(int(d))
        out.append(rng.rand(*dims).astype(np.float32))
    return out


# ---- Keras side ---------------------------------------------------------------------------------------------
def keras_capture(model, graph=None):
    """(functional model giving every call's first output then the outputs, [(layer, node)], {layer: calls})."""
    import keras
    graph = graph or read_graph(model)
    fn = functional(model)
    keys = [(c.name, c.node_index) for c in graph.calls]
    counts = {}
    for c in graph.calls:
        counts[c.name] = counts.get(c.name, 0) + 1
    tensors = [c.node.outputs[0] for c in graph.calls] + list(fn.outputs)
    return keras.Model(fn.inputs, tensors, name=f"{model.name}_taps"), keys, counts


def keras_call_inputs(model, call, inputs):
    import keras
    fn = functional(model)
    sub = keras.Model(fn.inputs, list(call.node.input_tensors))
    out = sub(list(inputs), training=False)
    return [np.asarray(a) for a in (out if isinstance(out, (list, tuple)) else [out])]


# ---- torch side ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def hooked(module, layer_map, post=None):
    """Capture {(keras name, call): first output} from forward hooks on the mapped torch modules; `post`
    {keras name: fn} is applied to the captured output (a Keras activation fused into a conv)."""
    acts, counts, handles, post = {}, {}, [], post or {}
    named = dict(module.named_modules())

    def hook_for(kname):
        def hook(m, args, out):
            k = counts.get(kname, 0)
            counts[kname] = k + 1
            first = out[0] if isinstance(out, (tuple, list)) else out
            if isinstance(first, torch.Tensor):
                acts[(kname, k)] = post.get(kname, lambda t: t)(first.detach())
        return hook

    for kname, tname in layer_map.items():
        handles.append(named[tname].register_forward_hook(hook_for(kname)))
    try:
        yield acts
    finally:
        for h in handles:
            h.remove()


def fused_activations(graph, module, layer_map):
    """{keras name: activation} for Keras layers with a fused activation mapped onto a bare torch conv / linear
    (a port applies the activation separately, so its module output is the pre-activation)."""
    from .converters import activation_name
    bare = (torch.nn.modules.conv._ConvNd, torch.nn.Linear)
    named = dict(module.named_modules())
    layers = {c.name: c.layer for c in graph.calls}
    out = {}
    for kname, tname in layer_map.items():
        try:
            act = activation_name(layers[kname]) if hasattr(layers[kname], "activation") else None
        except Exception:  # an activation we cannot name: compare as is
            act = None
        if act and isinstance(named[tname], bare):
            out[kname] = lambda t, act=act: tf_same.activate(t, act)
    return out


def _keras_param_count(layer):
    return int(sum(int(np.prod(w.shape)) for w in layer.weights))


def infer_layer_map(graph, module, torch_inputs):
    """{keras layer name: torch module path}: equal names, then execution order of layers with weights."""
    named = {n: m for n, m in module.named_modules() if n}
    by_ident = {codegen.identifier(n): n for n in named}
    layer_map, order = {}, []
    for c in graph.calls:
        if c.name in layer_map or c.name in order:
            continue
        order.append(c.name)
        hit = c.name if c.name in named else by_ident.get(codegen.identifier(c.name))
        if hit is not None:
            layer_map[c.name] = hit
    # execution order of the torch leaf modules with parameters
    leaves = [n for n, m in named.items() if not list(m.children()) and list(m.parameters(recurse=False))]
    seen, handles = [], []
    for n in leaves:
        handles.append(named[n].register_forward_hook(lambda m, a, o, n=n: seen.append(n) if n not in seen else None))
    try:
        with torch.no_grad():
            module(*torch_inputs)
    finally:
        for h in handles:
            h.remove()
    used = set(layer_map.values())
    t_rest = [n for n in seen if n not in used]
    layers = {c.name: c.layer for c in graph.calls}
    k_rest = [n for n in order if n not in layer_map and layers[n].weights]
    for kname, tname in zip(k_rest, t_rest):
        t_count = sum(p.numel() for p in named[tname].parameters())
        if t_count != _keras_param_count(layers[kname]):
            break
        layer_map[kname] = tname
    return layer_map


# ---- parity -------------------------------------------------------------------------------------------------
def run_parity(model, module, inputs, tol=DEFAULT_TOL, layer_map=None, graph=None, capture=None, diagnose=True):
    """Compare `model` (Keras) and `module` (torch) on one batch `inputs` (list of Keras-layout arrays).

    Returns the parity.run_parity result (rows in torch execution order, outputs, first divergence) plus
    `cause` (likely cause of the first divergence, or None) and `layer_map`.
    """
    disable_tf32()
    graph = graph or read_graph(model)
    cap_model, keys, counts = capture or keras_capture(model, graph)
    try:
        k_all = cap_model(list(inputs), training=False)
    except Exception as err:  # the Keras model itself cannot run on this input: a user error, said on one line
        from ..errors import BadInputError, first_line
        shapes = ", ".join("x".join(map(str, a.shape)) for a in inputs)
        raise BadInputError(f"model {model.name!r} does not run on input {shapes} ({first_line(err)[:200]})") from err
    k_all = [np.asarray(a) for a in (k_all if isinstance(k_all, (list, tuple)) else [k_all])]
    k_acts, k_outs = dict(zip(keys, k_all[:len(keys)])), k_all[len(keys):]
    module.eval()
    t_in = [torch.from_numpy(keras_to_torch_array(a)) for a in inputs]
    if layer_map is None and hasattr(module, "capturing"):
        ctx = module.capturing()
    else:
        if layer_map is None:
            layer_map = infer_layer_map(graph, module, t_in)
        ctx = hooked(module, layer_map, fused_activations(graph, module, layer_map))
    with torch.no_grad(), ctx as taps:
        t_outs = module(*t_in)
    t_outs = [torch_to_keras_array(o) for o in (t_outs if isinstance(t_outs, (list, tuple)) else [t_outs])]

    rows = []
    for depth, (key, t_act) in enumerate(taps.items()):
        if key not in k_acts:
            continue
        a, b = k_acts[key], torch_to_keras_array(t_act)
        s = stats(a, b)
        ok = s["max_abs"] is not None and s["max_abs"] <= tol
        rows.append({"depth": depth, "name": row_name(key[0], key[1], counts[key[0]]), "layer": key[0],
                     "node": key[1], "keras_shape": list(a.shape), "torch_shape": list(b.shape), **s, "ok": ok})
    unpaired = sorted({row_name(n, k, counts[n]) for (n, k) in k_acts if (n, k) not in taps})
    outputs = []
    for i, (a, b) in enumerate(zip(k_outs, t_outs)):
        s = stats(a, b)
        ok = s["max_abs"] is not None and s["max_abs"] <= tol
        peak = float(np.abs(a).max()) or 1.0
        outputs.append({"index": i, "keras_shape": list(a.shape), "torch_shape": list(b.shape), **s,
                        "psnr_db": psnr(a, b, peak) if a.shape == b.shape else None, "ok": ok})
    first = next((r for r in rows if not r["ok"]), None)
    ok = len(k_outs) == len(t_outs) and all(o["ok"] for o in outputs) and first is None
    diff_map = None
    if k_outs and t_outs and k_outs[-1].shape == t_outs[-1].shape and k_outs[-1].ndim == 4:
        diff_map = np.abs(k_outs[-1] - t_outs[-1])[0].mean(axis=-1)
    cause = None
    if first is not None and diagnose:
        call = next(c for c in graph.calls if (c.name, c.node_index) == (first["layer"], first["node"]))
        cause = likely_cause(model, graph, call, inputs, k_acts[(first["layer"], first["node"])],
                             torch_to_keras_array(taps[(first["layer"], first["node"])]), tol)
    size = list(inputs[0].shape[1:3]) if inputs[0].ndim == 4 else list(inputs[0].shape[1:2])
    return {"size": size, "tol": tol, "ok": ok, "rows": rows, "outputs": outputs,
            "first_divergence": first["name"] if first else None,
            "first_divergence_layer": first["layer"] if first else None, "cause": cause,
            "unpaired_keras_layers": unpaired, "layer_map": layer_map,
            "max_abs_output": max((o["max_abs"] if o["max_abs"] is not None else math.inf) for o in outputs)
            if outputs else None, "output_diff_map": diff_map}


def compare(keras_model, torch_module, layer_map=None, inputs=None, sizes=((64, 64),), tol=DEFAULT_TOL, seed=0):
    """compare(keras_model, torch_module, layer_map=None) -> list of run_parity results, one per size.

    `inputs`: a list of Keras-layout (channels-last) arrays to use instead of random ones.
    """
    graph = read_graph(keras_model)
    capture = keras_capture(keras_model, graph)
    batches = [inputs] if inputs is not None else [random_inputs(graph, s, seed) for s in sizes]
    return [run_parity(keras_model, torch_module, b, tol, layer_map, graph, capture) for b in batches]


# ---- likely causes ------------------------------------------------------------------------------------------
def build_module(conv):
    """An nn.Module from a converter's code and weights (the namespace model.py has)."""
    ns = {k: v for k, v in vars(tf_same).items() if not k.startswith("_")}
    ns.update({"torch": torch, "nn": torch.nn, "F": torch.nn.functional})
    ns.update({h.__name__: h for h in conv.helpers})
    module = eval(conv.code, ns)  # noqa: S307  (code written by our own converters)
    module.load_state_dict(codegen.to_torch_state(conv.weights), strict=True)
    return module.eval()


def _run(module, arrays):
    with torch.no_grad():
        out = module(*[torch.from_numpy(keras_to_torch_array(a)) for a in arrays])
    return torch_to_keras_array(out[0] if isinstance(out, (tuple, list)) else out)


def _close(a, b, tol):
    return a.shape == b.shape and float(np.abs(a.astype(np.float64) - b).max()) <= tol


def likely_cause(model, graph, call, inputs, keras_out, torch_out, tol=DEFAULT_TOL):
    """Name the pitfall whose reproduction matches the torch output of this call, or say what is known."""
    layer = call.layer
    if is_submodel(layer):
        return "inside the functional sub-model (compare its layers separately)"
    try:
        x = keras_call_inputs(model, call, inputs)
        ctx = Context(call.input_shapes, call.output_shapes)
        exact = convert_layer(layer, ctx)
        if not _close(_run(build_module(exact), x), keras_out, max(tol, 1e-5)):
            return (f"the {type(layer).__name__} converter does not reproduce this layer on its own Keras input "
                    "(a converter bug, not the port's)")
        for key, value in [("padding", True), ("deconv", True), ("bn", True), ("leaky", True), ("shuffle", True),
                           ("flatten", True)] + [("resize", m) for m in RESIZE_MODES]:
            variant = convert_layer(layer, Context(call.input_shapes, call.output_shapes, {key: value}))
            if variant.code == exact.code:
                continue  # the pitfall does not apply to this layer
            out = _run(build_module(variant), x)
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
    return "no known pitfall reproduces it: check this layer's weights and options"


def _flatten_source(graph, call):
    """(N, H, W, C) of the Flatten that feeds this Dense, if any."""
    if type(call.layer).__name__ != "Dense":
        return None
    src = next((c for c in graph.calls if call.inputs and call.inputs[0] in c.outputs), None)
    if src is None or type(src.layer).__name__ != "Flatten" or len(src.input_shapes[0]) != 4:
        return None
    return (1,) + tuple(src.input_shapes[0][1:])
