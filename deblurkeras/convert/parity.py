"""Per-layer numeric parity between a Keras model and its PyTorch twin.

Same input to both (NHWC for Keras, NCHW for torch), float32, TF32 off. Keras activations come from a functional
model over every call node of every layer (a layer shared by SRN's 3 scales gives 3 rows: `enc2_1@0`, `@1`, `@2`,
node 0 = first call); the twin captures the same (name, node) pairs explicitly. Rows are in the twin's execution
order, so the first row beyond tolerance is the first diverging layer.
"""
import math

import numpy as np
import torch

from .rules import DEFAULT_TOL, allowed, tolerance_rule  # noqa: F401 - DEFAULT_TOL re-exported


def disable_tf32():
    """Full float32 matmuls/convs in both frameworks (only matters on GPUs, harmless on CPU)."""
    import tensorflow as tf
    tf.config.experimental.enable_tensor_float_32_execution(False)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def row_name(layer, node, n_nodes):
    return f"{layer}@{node}" if n_nodes > 1 else layer


def keras_capture_model(model):
    """(functional model returning every layer call's first output then the model outputs, [(layer, node)],
    {layer: n_nodes}): one Keras forward pass gives both."""
    import keras
    keys, tensors, counts = [], [], {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        nodes = layer._inbound_nodes
        counts[layer.name] = len(nodes)
        for k, node in enumerate(nodes):
            keys.append((layer.name, k))
            tensors.append(node.output_tensors[0])
    tensors += list(model.outputs)
    return keras.Model(model.input, tensors, name=f"{model.name}_taps"), keys, counts


def keras_to_torch_array(a):
    """A Keras-layout array in torch layout: channels first from rank 3 on."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if a.ndim >= 3 else np.array(a, copy=True)


def torch_to_keras_array(t):
    """A torch tensor or an NCHW-layout array (ONNX Runtime's) in Keras layout: channels last from rank 3 on."""
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim >= 3 else a


def compare(a, b):
    """Stats of b against a (the reference): max / mean abs diff, the layer's scale (max |a|) and the max relative
    error (max abs diff / scale); all None when the shapes differ."""
    if a.shape != b.shape:
        return {"max_abs": None, "mean_abs": None, "max_rel": None, "scale": None}
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    worst = float(d.max()) if d.size else 0.0
    scale = float(np.abs(a).max()) if a.size else 0.0
    rel = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    return {"max_abs": worst, "mean_abs": float(d.mean()) if d.size else 0.0, "max_rel": rel, "scale": scale}


def agrees(stats, tol):
    """The one verdict of a layer or output (DEFAULT_TOL's rule: `tol` scaled by the layer's magnitude)."""
    return stats["max_abs"] is not None and stats["max_abs"] <= allowed(tol, stats["scale"])


def psnr(a, b, peak):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def output_row(index, a, b, tol, peak=None):
    """One output's row: stats, PSNR (peak: the model's output scale, else the output's own max |a|), verdict."""
    stats = compare(a, b)
    peak = peak or float(np.abs(a).max()) or 1.0
    return {"index": index, "keras_shape": list(a.shape), "torch_shape": list(b.shape), **stats,
            "psnr_db": psnr(a, b, peak) if a.shape == b.shape else None, "ok": agrees(stats, tol)}


def worst_output(outputs):
    """The largest output max abs diff (a shape mismatch counts as inf; an exact 0.0 stays 0.0)."""
    return max((o["max_abs"] if o["max_abs"] is not None else math.inf) for o in outputs) if outputs else None


def add_output(result, row):
    """Append an extra output row (the ONNX file handed out) to a result, keeping its verdict and worst diff."""
    result["outputs"].append(row)
    result["ok"] = result["ok"] and row["ok"]
    result["max_abs_output"] = worst_output(result["outputs"])
    return result


def run_parity(model, twin, x_nhwc, tol=DEFAULT_TOL, peak=1.0, capture=None, diagnose=None):
    """Compare `model` and `twin` on one NHWC float32 batch; returns a dict (rows, outputs, verdict, cause).

    `capture` = keras_capture_model(model) may be passed to reuse it across sizes. `diagnose(key, twin activation,
    Keras activation, row)` -> the likely cause of the first divergence (deblurkeras.convert.causes).
    """
    disable_tf32()
    x_nhwc = np.ascontiguousarray(x_nhwc, dtype=np.float32)
    k_acts, k_outs, counts = keras_activations(model, x_nhwc, capture)
    twin.eval()
    with torch.no_grad(), twin.capturing() as taps:
        t_outs = twin(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy()))
    t_outs = list(t_outs) if isinstance(t_outs, (list, tuple)) else [t_outs]
    result = compare_captured(list(x_nhwc.shape[1:3]), k_acts, k_outs, counts, taps, t_outs, tol, peak)
    return with_cause(result, diagnose, taps, k_acts)


def with_cause(result, diagnose, taps, k_acts):
    """Fill result["cause"] by `diagnose` (see run_parity) when a layer diverges."""
    row = first_row(result)
    if row is not None and diagnose is not None:
        key = (row["layer"], row["node"])
        result["cause"] = diagnose(key, torch_to_keras_array(taps[key]), k_acts[key], row)
    return result


def keras_activations(model, x_nhwc, capture=None):
    """({(layer, node): activation}, [outputs], {layer: n_nodes}) of one Keras forward pass."""
    cap_model, keys, counts = capture or keras_capture_model(model)
    k_all = [np.asarray(a) for a in cap_model(x_nhwc, training=False)]
    return dict(zip(keys, k_all[:len(keys)])), k_all[len(keys):], counts


def compare_captured(size, k_acts, k_outs, counts, taps, t_outs, tol=DEFAULT_TOL, peak=None):
    """The parity result of captured activations, the one comparison engine of compare, export-torch, export-onnx
    and convert-keras: Keras `k_acts` {(layer, node): array} / `k_outs` (the reference) against the other side's
    `taps` {(layer, node): array or tensor, NCHW} in its execution order and `t_outs` (same layouts)."""
    rows = []
    for depth, (key, b) in enumerate(taps.items()):
        if key not in k_acts:
            continue  # a tap of the other side only (none expected); Keras-only layers are listed as unpaired
        a, b = k_acts[key], torch_to_keras_array(b)
        stats = compare(a, b)
        rows.append({"depth": depth, "name": row_name(key[0], key[1], counts[key[0]]), "layer": key[0],
                     "node": key[1], "keras_shape": list(a.shape), "torch_shape": list(b.shape), **stats,
                     "ok": agrees(stats, tol)})
    unpaired = sorted({row_name(n, k, counts[n]) for (n, k) in k_acts if (n, k) not in taps})
    t_outs = [torch_to_keras_array(b) for b in t_outs]
    outputs = [output_row(i, a, b, tol, peak) for i, (a, b) in enumerate(zip(k_outs, t_outs))]
    first = next((r for r in rows if not r["ok"]), None)
    ok = len(k_outs) == len(t_outs) and all(o["ok"] for o in outputs) and first is None
    last_diff = None
    if k_outs and t_outs and k_outs[-1].shape == t_outs[-1].shape and k_outs[-1].ndim == 4:
        last_diff = np.abs(k_outs[-1] - t_outs[-1])[0].mean(axis=-1)  # heatmap of the main output
    return {"size": list(size), "tol": float(tol), "tol_rule": tolerance_rule(tol), "ok": ok, "rows": rows,
            "outputs": outputs, "first_divergence": first["name"] if first else None,
            "first_divergence_layer": first["layer"] if first else None, "cause": None,
            "unpaired_keras_layers": unpaired, "max_abs_output": worst_output(outputs), "output_diff_map": last_diff}


def first_row(result):
    """The row of the first diverging layer (None when every layer agrees)."""
    return next((r for r in result["rows"] if r["name"] == result["first_divergence"]), None)


def randomize_batchnorm(model, seed=0):
    """Give every BatchNormalization non-trivial gamma/beta/moving statistics, in place (for checks and tests).

    A fresh BN layer (mean 0, variance 1, gamma 1, beta 0) is almost the identity, which hides swapped
    statistics and epsilon mistakes; trained models never look like that.
    """
    rng = np.random.RandomState(seed)
    for w in model.weights:
        leaf = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        value = {"gamma": lambda: rng.uniform(0.5, 1.5, shape), "beta": lambda: rng.uniform(-0.2, 0.2, shape),
                 "moving_mean": lambda: rng.uniform(-0.2, 0.2, shape),
                 "moving_variance": lambda: rng.uniform(0.5, 1.5, shape)}.get(leaf)
        if value is not None and len(shape) == 1:
            w.assign(value().astype("float32"))
    return model


def output_to_image_range(model, x, index=-1, limit=1.0):
    """Scale the kernel and bias of the layer producing output `index` so that its largest |value| on `x` is about
    `limit`, in place (for checks and benchmarks). Untrained SRN returns values near +-35 where a trained one returns
    an image in [0, 1]; a tolerance "max abs 1e-4 in the [0, 1] range" is only meant at that scale."""
    y = model(x, training=False)
    y = y[index] if isinstance(y, (list, tuple)) else y
    peak = float(np.abs(np.asarray(y)).max())
    layer = model.outputs[index]._keras_history.operation
    if peak <= 2 * limit or not getattr(layer, "weights", None):
        return model
    for w in layer.weights:
        w.assign(w.numpy() * (limit / peak))
    return model
