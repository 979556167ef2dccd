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

Rows and verdicts come from the one comparison engine (parity.compare_captured); the likely cause of the first
divergence from deblurkeras.convert.causes (the diverging Keras layer converted again once per hand-port pitfall).
"""
import contextlib

import numpy as np
import torch

from . import codegen, tf_same
from .causes import layer_cause
from .graph import functional, read_graph
from .parity import (DEFAULT_TOL, compare_captured, disable_tf32, first_row, keras_to_torch_array,  # noqa: F401
                     torch_to_keras_array)

# ---- inputs and layouts -------------------------------------------------------------------------------------
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
    t_outs = list(t_outs) if isinstance(t_outs, (list, tuple)) else [t_outs]
    result = compare_captured(inputs[0].shape[1:3] if inputs[0].ndim == 4 else inputs[0].shape[1:2], k_acts, k_outs,
                              counts, taps, t_outs, tol)
    result["layer_map"] = layer_map
    row = first_row(result)
    if row is not None and diagnose:
        key = (row["layer"], row["node"])
        call = next(c for c in graph.calls if (c.name, c.node_index) == key)
        result["cause"] = layer_cause(model, graph, call, inputs, k_acts[key], torch_to_keras_array(taps[key]), tol,
                                      row)
    return result


def compare(keras_model, torch_module, layer_map=None, inputs=None, sizes=((64, 64),), tol=DEFAULT_TOL, seed=0):
    """compare(keras_model, torch_module, layer_map=None) -> list of run_parity results, one per size.

    `inputs`: a list of Keras-layout (channels-last) arrays to use instead of random ones.
    """
    graph = read_graph(keras_model)
    capture = keras_capture(keras_model, graph)
    batches = [inputs] if inputs is not None else [random_inputs(graph, s, seed) for s in sizes]
    return [run_parity(keras_model, torch_module, b, tol, layer_map, graph, capture) for b in batches]
