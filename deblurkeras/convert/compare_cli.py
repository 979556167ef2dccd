"""`deblurkeras compare KERAS_MODEL TORCH [--map mapping.json]`: diff any Keras model against any PyTorch module.

KERAS_MODEL: a .keras file (loaded with safe_mode=True).
TORCH: a `deblurkeras convert-keras` directory, an `export-torch` .safetensors file, or `path/to/file.py:Name`
where Name is an nn.Module class (or a function returning a module) called with no arguments. A directory's
weights are loaded into a module generated here from KERAS_MODEL (its model.py is not run unless --run-model-py).
The file.py form IMPORTS AND RUNS YOUR OWN PYTHON FILE (as `python file.py` would): point it only at code you
trust. Weights for
it come from --torch-weights (.safetensors, or .pt/.pth read with torch.load(weights_only=True)).
Exit status 0 when every paired layer and output agrees within --tol, 1 when they diverge, 2 on user errors.
"""
import importlib.util
import json
import os

from ..errors import BadInputError, WeightsMismatchError, first_line
from .rules import add_check_arguments, tol_of


def add_arguments(p):
    p.add_argument("keras_model", metavar="KERAS_MODEL", help="a .keras model file, or a release name "
                                                             "(stack-dmphn-4:gopro: `deblurkeras weights list`)")
    p.add_argument("torch", metavar="TORCH_MODULE_OR_FILE",
                   help="convert-keras DIR (its model.safetensors in a module generated here from KERAS_MODEL; "
                        "DIR/model.py is not run), export-torch .safetensors, or file.py:ClassName (IMPORTS AND "
                        "RUNS that file: only code you trust)")
    p.add_argument("--run-model-py", action="store_true",
                   help="for a convert-keras DIR: import and run DIR/model.py (e.g. edited by hand) instead of a "
                        "module generated here; only for folders you trust")
    p.add_argument("--torch-weights", help="state dict for file.py:ClassName (.safetensors, or .pt/.pth loaded "
                                           "with weights_only=True)")
    p.add_argument("--map", metavar="JSON", help='layer map {"keras layer name": "torch module path"}; default: '
                                                 "inferred from equal names, then execution order")
    add_check_arguments(p)


def load_user_module(spec, weights=None):
    """`file.py:Name` -> Name() (an nn.Module), with an optional state dict; runs the user's file."""
    import torch
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise BadInputError(f"{spec}: expected a directory, a .safetensors file or path/to/file.py:ClassName")
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such file")
    mod_spec = importlib.util.spec_from_file_location(f"deblurkeras_user_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise BadInputError(f"{path}: has no {name!r}")
    obj = getattr(module, name)()
    if not isinstance(obj, torch.nn.Module):
        raise BadInputError(f"{spec}: {name}() is a {type(obj).__name__}, not a torch.nn.Module")
    if weights:
        obj.load_state_dict(checked_state(obj, weights), strict=True)
    return obj.eval()


def read_state(path):
    import torch
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such file")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except Exception as err:  # noqa: BLE001 - SafetensorError, OSError, ...: a corrupt or foreign file
            raise BadInputError(f"{path}: not a readable safetensors file ({first_line(err)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # anything that is not a plain tensor file is refused, never unpickled
        raise BadInputError(f"{path}: not a weights-only torch file ({type(err).__name__})") from err


def checked_state(module, path):
    """The state dict in `path`, refused with every missing / unexpected / mis-shaped key named."""
    state = read_state(path)
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in set(own) & set(state)
           if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        raise WeightsMismatchError(path, missing=missing, unexpected=unexpected, mismatched=bad)
    return state


def load_torch_side(spec, weights=None, keras_model=None, run_model_py=False):
    """The torch side of `compare`. A convert-keras folder is, by default, our own module generated afresh from the
    Keras model with the folder's model.safetensors loaded strictly: its model.py is not run (--run-model-py runs
    it, e.g. after editing it by hand)."""
    from . import load_torch
    if os.path.isdir(spec) or spec.endswith(".safetensors"):
        if weights:
            raise BadInputError("--torch-weights applies only to file.py:ClassName")
        if os.path.isdir(spec) and not run_model_py and keras_model is not None:
            return generated_with_weights(keras_model, os.path.join(spec, "model.safetensors"))
        return load_torch(spec)
    return load_user_module(spec, weights)


def generated_with_weights(model, weights):
    """convert-keras' module for the Keras `model`, generated here (never read from a folder), with the state dict of
    `weights` (.safetensors) loaded strictly."""
    import shutil
    import tempfile
    from . import codegen
    from .generated import load_dir
    from .graph import read_graph
    from .keras_to_torch import _meta, write_dir
    gen = codegen.generate(model)
    tmp = tempfile.mkdtemp(prefix="deblurkeras-compare-")
    try:
        write_dir(tmp, gen, _meta(model, gen, read_graph(model), "compare"))
        module = load_dir(tmp)
    finally:
        shutil.rmtree(tmp)
    module.load_state_dict(checked_state(module, weights), strict=True)
    return module.eval()


def read_map(path, graph, module):
    if not os.path.isfile(path):
        raise BadInputError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            layer_map = json.load(f)
    except json.JSONDecodeError as err:
        raise BadInputError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(layer_map, dict):
        raise BadInputError(f"{path}: expected an object {{keras layer name: torch module path}}")
    keras_names = {c.name for c in graph.calls}
    torch_names = {n for n, _ in module.named_modules() if n}
    for k, t in layer_map.items():
        if k not in keras_names:
            raise BadInputError(f"{path}: {k!r} is not a layer of the Keras model")
        if t not in torch_names:
            raise BadInputError(f"{path}: {t!r} is not a submodule of the torch module")
    return layer_map


def run(args):
    from . import compare, report
    from .graph import read_graph
    from .keras_to_torch import default_sizes, load_keras
    from .pipeline import parse_sizes
    from ..releases import is_release_name
    from ..weights import load
    model = load(args.keras_model)[0] if is_release_name(args.keras_model) else load_keras(args.keras_model)
    module = load_torch_side(args.torch, args.torch_weights, model, args.run_model_py)
    graph = read_graph(model)
    layer_map = read_map(args.map, graph, module) if args.map else None
    sizes = parse_sizes(args.sizes) if args.sizes else default_sizes(graph)
    capture = compare.keras_capture(model, graph)
    results = []
    for size in sizes:
        inputs = compare.random_inputs(graph, size, args.seed)
        results.append(compare.run_parity(model, module, inputs, tol_of(args), layer_map, graph, capture))
    for r in results:
        mapped = len(r["rows"])
        print(f"{'x'.join(map(str, r['size']))}: {'PASS' if r['ok'] else 'FAIL'}  {mapped} layer calls paired, "
              f"output max abs diff [{', '.join(_fmt(o['max_abs']) for o in r['outputs'])}]")
        if r["first_divergence"]:
            print(f"  first divergence: {report.divergence(r)}")
    if args.report:
        meta = {"model": model.name, "config": args.torch, "naive": "", "source": args.keras_model}
        for p in report.write_reports(args.report, meta, results):
            print(f"report: {p}")
    return 0 if all(r["ok"] for r in results) else 1


def _fmt(v):
    return "shape!" if v is None else f"{v:.3g}"
