"""Keras -> ONNX through the verified PyTorch twin, with the per-layer proof against ONNX Runtime.

Route: Keras weights -> the PyTorch twin (already proven layer by layer against Keras; TF SAME padding and TF1
resizes are explicit ops there) -> `torch.onnx.export(dynamo=False)`. The legacy TorchScript exporter keeps the
shape arithmetic of SRN's levels (round(h * 0.5)) as graph ops, so one file serves every size; the dynamo exporter
specialises it to the sample size (measured: an SRN file from it fails at a second size with a Concat mismatch).

Two graphs are exported from the same module and weights:
  * the file handed out: input `input` (N, C, H, W), output `output` (the model's image output), H / W dynamic,
    a size check on the input (`size_check_*` Reshape: sizes that are not multiples of the model's `multiples`
    are refused by the runtime instead of giving a wrong output), metadata (model, config, multiples, versions);
  * a checking copy, never written next to it: every twin tap (Keras layer, call) is also a graph output, so ONNX
    Runtime's activations are compared with Keras' layer by layer (deblurkeras.convert.parity rows).
Parity failing at any size -> nothing written (exit 1 in the CLI), the report still goes to --report DIR.
"""
import io
import json
import os
import time
import warnings

import numpy as np

from ..errors import BadInputError, DeblurKerasError

FORMAT = "deblurkeras-onnx/1"
OPSET = 17
INPUT, OUTPUT = "input", "output"
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "openvino": "openvino"}
TARGET = "ONNX Runtime"


class MissingEngineError(DeblurKerasError):
    """An optional runtime (onnx, onnxruntime, openvino) is not installed."""


def require(module):
    """Import an optional package, or a one-line error naming the extra that installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "onnx")
        raise MissingEngineError(f"{module} is not installed: pip install 'deblurkeras[{extra}]'") from None


# ---- torch -> ONNX bytes ------------------------------------------------------------------------------------
def _graph_module(module, output_index=None, tap_keys=None):
    import torch

    class Exported(torch.nn.Module):
        """What torch.onnx traces: the image output only, or (checking copy) every output then every tap."""

        def __init__(self):
            super().__init__()
            self.module = module

        def forward(self, *xs):
            if tap_keys is None:
                return _outputs(self.module(*xs), output_index)
            with self.module.capturing() as taps:
                ys = _outputs(self.module(*xs), None)
            return (*ys, *[taps[k] for k in tap_keys])

    return Exported().eval()


def _outputs(y, index):
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    return ys[index] if index is not None else tuple(ys)


def tap_keys(module, sample):
    """The (layer, node) keys the module captures, in execution order (one eager run)."""
    import torch
    with torch.no_grad(), module.capturing() as taps:
        module(*sample)
    return list(taps)


def export_bytes(module, sample, output_names, input_names=(INPUT,), dynamic=True, output_index=None, keys=None):
    """The ONNX bytes of `module` traced on `sample` (tuple of NCHW tensors); the batch axis is always dynamic,
    H / W too if `dynamic`."""
    import torch
    graph = _graph_module(module, output_index, keys)
    spatial = lambda t, h, w: {0: "batch", 2: h, 3: w} if dynamic and t.dim() == 4 else {0: "batch"}  # noqa: E731
    axes = {name: spatial(x, "height", "width") for name, x in zip(input_names, sample)}
    with torch.no_grad():
        outs = graph(*sample)
    for i, (name, y) in enumerate(zip(output_names, outs if isinstance(outs, tuple) else (outs,))):
        axes[name] = spatial(y, f"h{i}", f"w{i}")
    buf = io.BytesIO()
    with warnings.catch_warnings():  # TracerWarnings on the shape branches: the parity check at other sizes
        warnings.simplefilter("ignore")  # is what proves the trace generalises
        with torch.no_grad():
            torch.onnx.export(graph, tuple(sample), buf, dynamo=False, opset_version=OPSET, do_constant_folding=True,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=axes)
    return buf.getvalue()


def add_size_guard(proto, multiples, input_name=INPUT):
    """Make the graph refuse an input whose H / W are not multiples of `multiples`: Reshape to
    (N, C, H/mh, mh, W/mw, mw) and back, named `size_check_H_multiple_of_mh_W_multiple_of_mw` (the runtime's error
    names the node). A no-op for (1, 1)."""
    onnx = require("onnx")
    from onnx import helper, TensorProto
    mh, mw = multiples
    if (mh, mw) == (1, 1):
        return proto
    g = proto.graph
    checked = f"{input_name}_size_checked"
    for node in g.node:
        node.input[:] = [checked if i == input_name else i for i in node.input]
    const = lambda name, vals: helper.make_node(  # noqa: E731
        "Constant", [], [name], name=name, value=helper.make_tensor(name, TensorProto.INT64, [len(vals)], vals))
    tag = f"size_check_H_multiple_of_{mh}_W_multiple_of_{mw}"
    nodes = [const("sc_0", [0]), const("sc_2", [2]), const("sc_3", [3]), const("sc_4", [4]),
             const("sc_mh", [mh]), const("sc_mw", [mw]),
             helper.make_node("Shape", [input_name], ["sc_shape"], name="sc_shape"),
             helper.make_node("Slice", ["sc_shape", "sc_0", "sc_2"], ["sc_nc"], name="sc_nc"),
             helper.make_node("Slice", ["sc_shape", "sc_2", "sc_3"], ["sc_h"], name="sc_h"),
             helper.make_node("Slice", ["sc_shape", "sc_3", "sc_4"], ["sc_w"], name="sc_w"),
             helper.make_node("Div", ["sc_h", "sc_mh"], ["sc_hq"], name="sc_hq"),
             helper.make_node("Div", ["sc_w", "sc_mw"], ["sc_wq"], name="sc_wq"),
             helper.make_node("Concat", ["sc_nc", "sc_hq", "sc_mh", "sc_wq", "sc_mw"], ["sc_target"], axis=0,
                              name="sc_target"),
             helper.make_node("Reshape", [input_name, "sc_target"], ["sc_blocks"], name=tag),
             helper.make_node("Reshape", ["sc_blocks", "sc_shape"], [checked], name=f"{tag}_back")]
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(proto)
    return proto


def set_metadata(proto, meta):
    del proto.metadata_props[:]
    for k, v in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(k), v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    proto.producer_name = "deblurkeras"
    return proto


def finish(data, meta=None, multiples=(1, 1)):
    """Exported bytes -> bytes with the size guard and (for the file handed out) the metadata."""
    onnx = require("onnx")
    proto = onnx.load_from_string(data)
    add_size_guard(proto, multiples)
    if meta is not None:
        set_metadata(proto, meta)
    return proto.SerializeToString()


def read_metadata(path):
    """{key: value} of an ONNX file's metadata_props (values as written: strings)."""
    onnx = require("onnx")
    try:
        proto = onnx.load(os.fspath(path), load_external_data=False)
    except Exception as err:  # protobuf raises DecodeError and friends
        raise BadInputError(f"{path}: not a readable ONNX file ({str(err).splitlines()[0] if str(err) else err})")
    return {p.key: p.value for p in proto.metadata_props}


def ort_session(model, threads=None):
    """An ONNX Runtime CPU session over a path or bytes (default optimisations, as a user gets them)."""
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # failures still raise, with the message; no duplicate red log line
    if threads:
        opts.intra_op_num_threads = int(threads)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


# ---- the proof ------------------------------------------------------------------------------------------------
def run_onnx_parity(model_name, model, checking, handed, keys, x_nhwc, tol, capture, output_index, diagnose=None):
    """One size: Keras (reference) against the checking copy's taps and outputs and the handed-out file's output."""
    from .. import registry
    from . import parity
    peak = float(registry.model_io(model_name).out_scale)
    k_acts, k_outs, counts = parity.keras_activations(model, x_nhwc, capture)
    x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    got = checking.run(None, {INPUT: x})
    n_out = len(got) - len(keys)
    taps = dict(zip(keys, got[n_out:]))
    result = parity.compare_captured(x_nhwc.shape[1:3], k_acts, k_outs, counts, taps, got[:n_out], tol, peak)
    file_out = parity.torch_to_keras_array(handed.run([OUTPUT], {INPUT: x})[0])
    parity.add_output(result, parity.output_row("file", k_outs[output_index], file_out, tol, peak))
    result["file_max_abs"] = result["outputs"][-1]["max_abs"]
    return parity.with_cause(result, diagnose, taps, k_acts)


def check_size_guard(handed, multiples, size, channels):
    """The handed-out graph must refuse a size that is not a multiple: returns the runtime's message (or raises)."""
    mh, mw = multiples
    if (mh, mw) == (1, 1):
        return None
    bad = np.zeros((1, channels, size[0] + (1 if mh > 1 else 0), size[1] + (1 if mw > 1 else 0)), np.float32)
    try:
        handed.run([OUTPUT], {INPUT: bad})
    except Exception as err:  # onnxruntime's Fail / InvalidArgument
        return str(err).splitlines()[0]
    raise DeblurKerasError(f"the exported graph accepted {bad.shape[2]}x{bad.shape[3]}, not a multiple of "
                           f"{mh}x{mw}: the size check is missing")


def onnx_meta(model_name, config, weights, naive=()):
    from .. import registry
    from .export import versions
    io_ = registry.model_io(model_name)
    vers = versions()
    vers["onnx_opset"] = OPSET
    try:
        import onnxruntime
        vers["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return {"format": FORMAT, "model": model_name, "config": json.dumps(config, sort_keys=True),
            "multiples": json.dumps(list(io_.multiples)), "scale": str(io_.scale), "channels": str(io_.channels),
            "layout": "NCHW float32; values in the model's range (ModelIO of the registry)",
            "naive": ",".join(sorted(naive)), "versions": json.dumps(vers, sort_keys=True),
            "source": os.fspath(weights) if weights else "freshly initialised"}


def export_onnx(model_name, out, weights=None, report_dir=None, naive=None, sizes=None, tol=None, overrides=None,
                seed=0, progress=False, keras_model=None):
    """Write `out` (ONNX) only if Keras and ONNX Runtime agree at every size; returns
    (ok, results, report paths, seconds). `keras_model`: an already built model of `model_name` to use instead of
    building one (its weights are the ones exported; `weights` is then only recorded as the source)."""
    import torch
    from .. import registry
    from ..utils import atomic_path
    from . import export, parity
    from .pipeline import parity_input
    from .causes import twin_diagnosis
    from .torch_layers import check_naive
    require("onnx"), require("onnxruntime")
    tol = parity.DEFAULT_TOL if tol is None else tol
    start = time.perf_counter()
    io_ = registry.model_io(model_name)
    if not io_.image:
        raise BadInputError(f"{model_name} does not produce images: export-onnx exports the image models")
    naive = check_naive(naive)
    if sizes is not None and len(sizes) < 2:
        raise BadInputError("export-onnx checks at least two sizes (the file has dynamic H / W)")
    config, twin, model = export.prepare(model_name, out, weights, overrides, naive, sizes, keras_model, report_dir)
    sizes = [tuple(s) for s in (sizes or twin.parity_sizes())]
    parity.disable_tf32()
    sample = (torch.from_numpy(parity_input(model_name, sizes[0], seed).transpose(0, 3, 1, 2).copy()),)
    keys = tap_keys(twin, sample)
    n_out = len(_outputs(twin(*sample), None))
    meta = onnx_meta(model_name, config, weights, naive)
    handed = finish(export_bytes(twin, sample, [OUTPUT], output_index=io_.output_index), meta, io_.multiples)
    checking = finish(export_bytes(twin, sample, [f"out_{i}" for i in range(n_out)] +
                                   [f"tap_{i}" for i in range(len(keys))], keys=keys), None, io_.multiples)
    s_handed, s_checking = ort_session(handed), ort_session(checking)
    capture = parity.keras_capture_model(model)
    it = sizes
    if progress:
        from tqdm import tqdm
        it = tqdm(sizes, desc="onnx parity", unit="size")
    results = []
    for size in it:
        x = parity_input(model_name, size, seed)
        diagnose = twin_diagnosis(model_name, twin, x, tol, overrides)  # the pitfalls tried against the exact twin
        results.append(run_onnx_parity(model_name, model, s_checking, s_handed, keys, x, tol, capture,
                                       io_.output_index, diagnose))
    guard = check_size_guard(s_handed, io_.multiples, sizes[0], io_.channels)
    for r in results:
        r["size_check"] = guard
    ok = all(r["ok"] for r in results)
    paths = []
    if report_dir:
        from . import report
        paths = report.write_reports(report_dir, {**meta, "target": TARGET}, results)
    if ok:
        try:
            with atomic_path(out) as tmp, open(tmp, "wb") as f:
                f.write(handed)
        except OSError as err:  # the disk filled up since the check: one line, no temporary left
            raise BadInputError(f"{out}: cannot be written ({err.strerror or err})") from None
    return ok, results, paths, time.perf_counter() - start


def size_check_line(model_name, results):
    """What export-onnx says of the file's size check on success: the rule it enforces, not the runtime's refusal
    message (that is in parity.json); None for a model that runs at any size."""
    from .. import registry
    mh, mw = registry.model_io(model_name).multiples
    if not results or not results[0].get("size_check"):
        return None
    return (f"size check: the file refuses an input whose H x W is not a multiple of {mh} x {mw} "
            f"(tried at {results[0]['size'][0] + (mh > 1)}x{results[0]['size'][1] + (mw > 1)}: refused)")


# ---- CLI: deblurkeras export-onnx ---------------------------------------------------------------------------
def add_arguments(p):
    from ..registry import model_names
    from .cli import add_export_arguments
    add_export_arguments(
        p, out_help="output .onnx file (written only when parity holds)",
        naive_help="export a hand-port twin with these pitfalls (to see the report catch them): "
                   "padding,resize,bn,leaky,shuffle,deconv",
        sizes_help="HxW list for the check, at least two, e.g. 64x64,48x80 (default: per model)",
        set_help="builder argument override (JSON, else a string)", model_choices=model_names(image_only=True))


def run(args):
    from .. import registry
    from .rules import tol_of
    from .cli import export_options
    from .report import print_results, print_verdict
    models = registry.model_names(image_only=True)
    args.model, naive, sizes, overrides = export_options(args, models, what="image model")
    ok, results, paths, seconds = export_onnx(args.model, args.out, args.weights, args.report, naive, sizes, tol_of(args),
                                              overrides, args.seed, progress=True)
    line = size_check_line(args.model, results)
    if line:
        print(line)
    print_results(results, paths)
    return print_verdict(ok, args.out, tol_of(args), seconds, extra="dynamic H x W")


# ---- convert-keras --onnx: any Keras model through its generated torch module ---------------------------------
def converted_to_onnx(model, module, graph, sizes, tol, seed=0, capture=None):
    """ONNX bytes of a convert-keras module (inputs named as the Keras inputs, outputs output_0...; H / W dynamic
    when the Keras input leaves them open) and its per-layer parity against ONNX Runtime at every size.
    Returns (bytes, results)."""
    import torch
    from . import compare, parity
    require("onnx"), require("onnxruntime")
    capture = capture or compare.keras_capture(model, graph)
    names = [name for _, name, _ in graph.inputs]
    dynamic = any(len(shape) == 4 and (shape[1] is None or shape[2] is None) for _, _, shape in graph.inputs)
    first = compare.random_inputs(graph, sizes[0], seed)
    sample = tuple(torch.from_numpy(compare.keras_to_torch_array(a)) for a in first)
    keys = tap_keys(module, sample)
    with torch.no_grad():
        n_out = len(_outputs(module(*sample), None))
    outs = [f"output_{i}" for i in range(n_out)]
    handed = export_bytes(module, sample, outs, names, dynamic)
    checking = export_bytes(module, sample, [f"out_{i}" for i in range(n_out)] +
                            [f"tap_{i}" for i in range(len(keys))], names, dynamic, keys=keys)
    s_handed, s_checking = ort_session(handed), ort_session(checking)
    cap_model, _, counts = capture
    results = []
    for size in sizes:
        inputs = compare.random_inputs(graph, size, seed)
        k_all = cap_model(list(inputs), training=False)
        k_all = [np.asarray(a) for a in (k_all if isinstance(k_all, (list, tuple)) else [k_all])]
        k_acts, k_outs = dict(zip(capture[1], k_all[:len(capture[1])])), k_all[len(capture[1]):]
        feeds = {n: compare.keras_to_torch_array(a) for n, a in zip(names, inputs)}
        got = s_checking.run(None, feeds)  # NCHW, as the engine compares them
        r = parity.compare_captured(list(inputs[0].shape[1:3]), k_acts, k_outs, counts, dict(zip(keys, got[n_out:])),
                                    got[:n_out], tol)
        for i, (a, b) in enumerate(zip(k_outs, s_handed.run(None, feeds))):
            parity.add_output(r, parity.output_row(f"file {i}", a, compare.torch_to_keras_array(b), tol))
        results.append(r)
    return handed, results
