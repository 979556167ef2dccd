"""`deblurkeras convert-keras MODEL.keras --out DIR`: any Keras functional model -> readable PyTorch + parity proof.

DIR gets model.py (generated, readable), tf_same.py (the TF-exact helpers it imports), model.safetensors,
parity.json/.md/.html and a MARK listing them. Everything is written to a hidden temporary folder next to DIR first
and renamed onto DIR only when the generated module matches Keras on every size: exit 1 and no DIR when it does not
(the report still goes to --report DIR). DIR is never a folder holding the input, and --overwrite replaces only a
folder convert-keras wrote (its MARK), never a folder of the user's.
"""
import json
import os
import shutil
import time

from ..errors import BadInputError
from ..utils import new_temp_dir, umask_mode
from .rules import DEFAULT_SIZES, DEFAULT_TOL, add_check_arguments, tol_of

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


MARK = ".deblurkeras-convert-keras.json"  # in every folder convert-keras writes: what it wrote there


def check_output_dir(out, inputs, overwrite, report_dir=None):
    """Refuse, before any work, an --out convert-keras must not write or replace: one that is or holds an input
    (`inputs`: paths), one that exists without --overwrite, and (even with it) one convert-keras did not create
    (no MARK) or that holds anything its MARK does not list. `--out .` or `--out proj --overwrite` next to the
    model would otherwise be deleted whole. A --report inside --out would be replaced with it: refused too."""
    real = os.path.realpath(out)
    for path in inputs:
        if path and os.path.commonpath([real, os.path.realpath(path)]) == real:
            raise BadInputError(f"{out}: holds the input {path}; choose an output folder of its own")
    if report_dir and os.path.commonpath([real, os.path.realpath(report_dir)]) == real:
        raise BadInputError(f"--report {report_dir}: inside --out {out}, which is replaced whole; put it elsewhere")
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise BadInputError(f"{out}: exists; pass --overwrite to replace it (nothing was written)")
    if os.path.islink(out) or not os.path.isdir(out):
        raise BadInputError(f"{out}: not a folder convert-keras wrote; --overwrite replaces only those")
    written = _marked(out)
    if written is None:
        raise BadInputError(f"{out}: not written by convert-keras (no {MARK}); --overwrite replaces only folders "
                            "convert-keras created: choose a new --out")
    other = sorted(set(os.listdir(out)) - written)
    if other:
        raise BadInputError(f"{out}: holds {len(other)} file(s) convert-keras did not write ({', '.join(other[:3])}); "
                            "move them out or choose a new --out")


def _marked(folder):
    """The names the MARK of `folder` lists (with the MARK itself), or None when it has no readable MARK."""
    try:
        with open(os.path.join(folder, MARK), encoding="utf-8") as f:
            doc = json.load(f)
        return set(doc["files"]) | {MARK}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _mark(folder):
    """Record in `folder` every name convert-keras wrote there (read by the next --overwrite)."""
    names = sorted(os.listdir(folder))
    with open(os.path.join(folder, MARK), "w", encoding="utf-8") as f:
        json.dump({"format": "deblurkeras-convert-keras-mark/1", "files": names}, f, indent=1)


def _replace(tmp, out, inputs):
    """Move the finished `tmp` onto `out`. An old `out` is checked again (it may have changed during the export),
    then emptied of exactly what its MARK lists; a folder still holding anything else is never removed."""
    if os.path.lexists(out):
        check_output_dir(out, inputs, True)
        for name in _marked(out):
            path = os.path.join(out, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)  # __pycache__ of the import check
            elif os.path.lexists(path):
                os.remove(path)
        os.rmdir(out)
    os.replace(tmp, out)


def convert_keras(model, out, report_dir=None, sizes=None, tol=DEFAULT_TOL, seed=0, force=False, source=None,
                  onnx=False):
    """Convert `model` (a Keras model or a .keras path) into directory `out`; returns
    (ok, results, report paths, seconds, generated). Nothing is left in `out` unless parity holds. `force`
    (--overwrite) replaces only a folder an earlier convert-keras created (check_output_dir).
    `onnx`: also write out/model.onnx from the generated module, proven against ONNX Runtime layer by layer
    (deblurkeras.convert.onnx_export; its results follow the torch ones, with "target": "ONNX Runtime")."""
    from . import codegen, compare, report
    from .export import check_room, check_writable
    from .generated import load_dir
    from .graph import read_graph
    start = time.perf_counter()
    out = os.path.abspath(os.fspath(out))
    if isinstance(model, (str, os.PathLike)):
        source = source or os.fspath(model)
    check_output_dir(out, [source] if source else [], force, report_dir)
    report.check_report_dir(report_dir)
    check_writable(out)
    if isinstance(model, (str, os.PathLike)):
        model = load_keras(model)
    check_room(out, 4 * model.count_params() * (2 if onnx else 1))
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
            paths = report.write_reports(tmp, rmeta, results)
        paths, results = paths + onnx_paths, results + onnx_results
        if ok:
            _mark(tmp)
            _replace(tmp, out, [source] if source else [])
            # reports written inside the folder are named where they now are, not in the temporary folder
            paths = [os.path.join(out, os.path.basename(p)) if os.path.dirname(p) == tmp else p for p in paths]
    except OSError as err:  # a full disk or a folder gone read-only during the export: one line, no temporary left
        raise BadInputError(f"{out}: cannot be written ({err.strerror or err})") from None
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)  # ours: a fresh, uniquely named folder this call made
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
    return onnx_results, paths


# ---- CLI ----------------------------------------------------------------------------------------------------
def add_arguments(p):
    p.add_argument("model", help="a Keras 3 functional / Sequential model saved as .keras (loaded with safe_mode)")
    p.add_argument("--out", required=True, help="output directory (model.py, tf_same.py, model.safetensors, "
                                                "parity report); written only when parity holds")
    add_check_arguments(p, report_help="write parity.json / .md / .html here instead of into --out (also when "
                                       "parity fails)")
    # --overwrite is every verb's word (deblurkeras/outputs.py); --force stays for the scripts that use it
    p.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                   help="replace an existing --out directory that convert-keras wrote (once the new one is "
                        "complete); a folder it did not create, or holding other files, is refused")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (from the generated module, H / W "
                   "dynamic where the Keras input is) with a per-layer parity report against ONNX Runtime "
                   "(parity_onnx.*; needs `pip install 'deblurkeras[onnx]'`)")


def run(args):
    from .pipeline import parse_sizes
    from .report import print_results, print_verdict

    sizes = parse_sizes(args.sizes) if args.sizes else None
    ok, results, paths, seconds, gen = convert_keras(args.model, args.out, args.report, sizes, tol_of(args), args.seed,
                                                     args.overwrite, onnx=args.onnx)
    print(f"{gen.class_name}: {gen.n_layers} Keras layers converted")
    print_results(results, paths)
    return print_verdict(ok, args.out, tol_of(args), seconds)
