"""`deblurkeras export-torch`: Keras model -> PyTorch twin weights (safetensors) + per-layer parity report.

Exit status 0 when parity holds on every size, 1 when it does not (no output file is then written), 2 on user
errors (bad weights file, unknown model, bad option).
"""
import json

from .rules import add_check_arguments, tol_of


def add_export_arguments(p, out_help, naive_help, sizes_help, set_help, model_choices=None):
    """The arguments export-torch and export-onnx share (each gives its own help where the two differ)."""
    from .. import outputs
    p.add_argument("--model", default=None, choices=model_choices,
                   help="registered model name, e.g. srn-color, dense-gan (default: the one --weights names)")
    p.add_argument("--weights", help="Keras weights (.weights.h5 or .keras); without it the freshly initialised "
                                     "model is exported (with a warning)")
    p.add_argument("--out", required=True, help=out_help)
    add_check_arguments(p, sizes_help=sizes_help)
    p.add_argument("--naive", default="", help=naive_help)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    outputs.add_argument(p)


def export_options(args, models, what="model"):
    """(model name, naive pitfalls, sizes, builder overrides) of an export verb's arguments; BadInputError names
    what cannot work. `models`: the names the verb exports."""
    from ..errors import BadInputError
    from .pipeline import parse_sizes
    from .torch_layers import check_naive
    if args.weights:  # a release name (stack-dmphn-4:gopro) -> its imported file in the cache (deblurkeras.releases)
        from ..releases import resolve
        args.weights = str(resolve(args.weights))
    model = args.model
    if model is None and args.weights:
        from ..weights import resolve_name
        model = resolve_name(args.weights)
    if model not in models:
        raise BadInputError(f"unknown {what} {model!r}; expected one of {models}")
    try:
        naive = check_naive(args.naive)
    except ValueError as err:
        raise BadInputError(str(err)) from None
    return model, naive, parse_sizes(args.sizes) if args.sizes else None, _overrides(args.set)


def add_arguments(p):
    from ..registry import model_names
    add_export_arguments(
        p, out_help="output .safetensors file",
        naive_help="check a hand-port twin with these pitfalls: padding,resize,bn,leaky,shuffle,deconv (comma "
                   "separated)",
        sizes_help="HxW list for the check, e.g. 64x64,63x81 (default: per model)",
        set_help="builder argument override (JSON, else a string), e.g. --set resize_mode=half_pixel",
        model_choices=model_names())
    p.add_argument("--no-check", action="store_true", help="skip the parity check")


def _overrides(items):
    from ..errors import BadInputError
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInputError(f"bad --set {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string
    return out


def run(args):
    from .. import registry
    from .pipeline import export_and_check
    from .report import print_results, print_verdict
    args.model, naive, sizes, overrides = export_options(args, registry.model_names())
    ok, results, paths, seconds = export_and_check(
        args.model, args.out, weights=args.weights, report_dir=args.report, check=not args.no_check, naive=naive,
        sizes=sizes, tol=tol_of(args), overrides=overrides, seed=args.seed, progress=True)
    print_results(results, paths)
    return print_verdict(ok, args.out, tol_of(args), seconds)
