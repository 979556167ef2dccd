"""`deblurkeras convert-keras MODEL.keras --out DIR`: any Keras functional model -> readable PyTorch + parity proof.

DIR gets model.py (generated, readable), tf_same.py (the TF-exact helpers it imports), model.safetensors and
parity.json/.md/.html. Everything is written to a hidden temporary folder next to DIR first and renamed onto DIR
only when the generated module matches Keras on every size: exit 1 and no DIR when it does not (the report still
goes to --report DIR).
"""
import json
import os
import shutil
import time

from ..errors import BadInputError
from ..utils import new_temp_dir, umask_mode
from . import DEFAULT_TOL, tolerance

DEFAULT_SIZES = ((64, 64), (48, 80))
INIT_PY = '"""PyTorch port written by `deblurkeras convert-keras`: `from .model import load`; `load()` is ready."""\n'


def load_keras(path):
    """A .keras file, loaded with safe_mode=True (our own registered layers are importable)."""
    import keras
    from ..registry import register_keras_layers
    register_keras_layers()  # our serializable layers, for models that use them
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such file")
    if not path.endswith(".keras"):
        raise BadInputError(f"{path}: expected a .keras model file (saved with model.save('x.keras'))")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many types for unreadable / unsafe files
        from ..errors import first_line
        raise BadInputError(f"{path}: cannot load the Keras model ({first_line(err)})") from err


def default_sizes(graph):
    """The static input size if the model has one, else DEFAULT_SIZES."""
    shape = graph.inputs[0][2]
    if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
        return [(shape[1], shape[2])]
    return list(DEFAULT_SIZES)


def _meta(model, gen, graph, source):
    from .export import versions
    return {"format": "deblurkeras-converted/1", "class": gen.class_name, "model": model.name,
            "inputs": json.dumps([[name, list(shape)] for _, name, shape in graph.inputs]),
            "layers": str(gen.n_layers), "versions": json.dumps(versions(), sort_keys=True), "config": "",
            "source": os.fspath(source)}


def write_dir(directory, gen, meta):
    from safetensors.torch import save_file
    from . import codegen, tf_same
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "model.py"), "w", encoding="utf-8") as f:
        f.write(gen.source)
    with open(os.path.join(directory, "__init__.py"), "w", encoding="utf-8") as f:
        f.write(INIT_PY)
    shutil.copyfile(tf_same.__file__, os.path.join(directory, "tf_same.py"))
    state = {k: v.contiguous() for k, v in codegen.to_torch_state(gen.state).items()}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata=meta)
    umask_mode(os.path.join(directory, "model.safetensors"))


def convert_keras(model, out, report_dir=None, sizes=None, tol=DEFAULT_TOL, seed=0, force=False, source=None,
                  onnx=False):
    """Convert `model` (a Keras model or a .keras path) into directory `out`; returns
    (ok, results, report paths, seconds, generated). Nothing is left in `out` unless parity holds.
    `onnx`: also write out/model.onnx from the generated module, proven against ONNX Runtime layer by layer
    (deblurkeras.convert.onnx_export; its results follow the torch ones, with "target": "ONNX Runtime")."""
    from . import codegen, compare, report
    from .generated import load_dir
    from .graph import read_graph
    start = time.perf_counter()
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not (force and os.path.isdir(out)):
        raise BadInputError(f"{out}: exists; pass --overwrite to replace it (nothing was written)")
    if not os.path.isdir(os.path.dirname(out)):
        raise BadInputError(f"{out}: parent directory does not exist")
    if isinstance(model, (str, os.PathLike)):
        source, model = source or os.fspath(model), load_keras(model)
    graph = read_graph(model)
    sizes = list(sizes or default_sizes(graph))
    gen = codegen.generate(model)
    meta = _meta(model, gen, graph, source or f"keras model {model.name}")
    tmp = new_temp_dir(out)  # unique: never a folder of the user's (a fixed OUT.partial was once rmtree'd)
    results, paths = [], []
    try:
        write_dir(tmp, gen, meta)
        module = load_dir(tmp)
        capture = compare.keras_capture(model, graph)
        for size in sizes:
            inputs = compare.random_inputs(graph, size, seed)
            results.append(compare.run_parity(model, module, inputs, tol, graph=graph, capture=capture))
        ok = all(r["ok"] for r in results)
        rmeta = {**meta, "naive": ""}
        if report_dir:
            paths = report.write_reports(report_dir, rmeta, results)
        onnx_results, onnx_paths = _onnx(model, module, graph, sizes, tol, seed, capture, rmeta, tmp, report_dir) \
            if onnx else ([], [])
        ok = ok and all(r["ok"] for r in onnx_results)
        if ok and not report_dir:
            paths = [os.path.join(out, os.path.basename(p)) for p in report.write_reports(tmp, rmeta, results)]
        paths, results = paths + onnx_paths, results + onnx_results
        if ok:
            if os.path.exists(out):  # --overwrite: the old directory goes only once the new one is complete
                shutil.rmtree(out)
            os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return ok, results, paths, time.perf_counter() - start, gen


def _onnx(model, module, graph, sizes, tol, seed, capture, rmeta, tmp, report_dir):
    """convert-keras --onnx: tmp/model.onnx (only when parity holds) + parity_onnx reports; (results, paths)."""
    from . import onnx_export, report
    handed, onnx_results = onnx_export.converted_to_onnx(model, module, graph, sizes, tol, seed, capture)
    for r in onnx_results:
        r["target"] = onnx_export.TARGET
    ok = all(r["ok"] for r in onnx_results)
    ometa = {**rmeta, "target": onnx_export.TARGET, "format": "deblurkeras-converted-onnx/1"}
    paths = report.write_reports(report_dir or tmp, ometa, onnx_results, stem="parity_onnx") if report_dir or ok \
        else []
    if ok:
        proto = onnx_export.require("onnx").load_from_string(handed)
        onnx_export.set_metadata(proto, {k: v for k, v in ometa.items() if k != "target"})
        with open(os.path.join(tmp, "model.onnx"), "wb") as f:
            f.write(proto.SerializeToString())
    if not report_dir:  # reports inside the directory are named where it will be
        paths = [os.path.join(tmp[:-len(".partial")], os.path.basename(p)) for p in paths]
    return onnx_results, paths


# ---- CLI ----------------------------------------------------------------------------------------------------
def add_arguments(p):
    p.add_argument("model", help="a Keras 3 functional / Sequential model saved as .keras (loaded with safe_mode)")
    p.add_argument("--out", required=True, help="output directory (model.py, tf_same.py, model.safetensors, "
                                                "parity report); written only when parity holds")
    p.add_argument("--report", metavar="DIR", help="write parity.json / .md / .html here instead of into --out "
                                                   "(also when parity fails)")
    p.add_argument("--sizes", help="HxW list for the check, e.g. 64x64,48x80 (default: the model's static input "
                                   "size, else 64x64,48x80)")
    p.add_argument("--tol", type=tolerance, default=DEFAULT_TOL,
                   help=f"max abs diff per layer (default {DEFAULT_TOL:g})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check input")
    # --overwrite is every verb's word (deblurkeras/outputs.py); --force stays for the scripts that use it
    p.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                   help="replace an existing --out directory (once the new one is complete)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (from the generated module, H / W "
                   "dynamic where the Keras input is) with a per-layer parity report against ONNX Runtime "
                   "(parity_onnx.*; needs `pip install 'deblurkeras[onnx]'`)")


def run(args):
    from .pipeline import parse_sizes
    from .report import print_results, print_verdict

    sizes = parse_sizes(args.sizes) if args.sizes else None
    ok, results, paths, seconds, gen = convert_keras(args.model, args.out, args.report, sizes, args.tol, args.seed,
                                                     args.overwrite, onnx=args.onnx)
    print(f"{gen.class_name}: {gen.n_layers} Keras layers converted")
    print_results(results, paths)
    return print_verdict(ok, args.out, args.tol, seconds)
