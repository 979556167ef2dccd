"""`deblurkeras export-torch`: Keras model -> PyTorch twin weights (safetensors) + per-layer parity report.

Exit status 0 when parity holds on every size, 1 when it does not (no output file is then written), 2 on user
errors (bad weights file, unknown model, bad option).
"""
import json
import os

from . import DEFAULT_TOL, tolerance


def add_arguments(p):
    from ..registry import model_names
    p.add_argument("--model", default=None, choices=model_names(),
                   help="registered model name, e.g. srn-color, dense-gan (default: the one --weights names)")
    p.add_argument("--weights", help="Keras weights (.weights.h5 or .keras); without it the freshly initialised "
                                     "model is exported (with a warning)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--report", metavar="DIR", help="write parity.json / parity.md / parity.html here")
    p.add_argument("--no-check", action="store_true", help="skip the parity check")
    p.add_argument("--naive", default="", help="check a hand-port twin with these pitfalls: "
                                               "padding,resize,bn,leaky,shuffle,deconv (comma separated)")
    p.add_argument("--sizes", help="HxW list for the check, e.g. 64x64,63x81 (default: per model)")
    p.add_argument("--tol", type=tolerance, default=DEFAULT_TOL,
                   help=f"max abs diff per layer (default {DEFAULT_TOL:g})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="builder argument override (JSON, else a string), e.g. --set resize_mode=half_pixel")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check input")
    from .. import outputs
    outputs.add_argument(p)


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
    from ..errors import BadInputError
    from .. import registry
    from .pipeline import export_and_check, parse_sizes
    from .report import print_results
    from .torch_layers import check_naive
    if args.model is None and args.weights:
        from ..weights import resolve_name
        args.model = resolve_name(args.weights)
    if args.model not in registry.model_names():
        raise BadInputError(f"unknown model {args.model!r}; expected one of {registry.model_names()}")
    try:
        naive = check_naive(args.naive)
    except ValueError as err:
        raise BadInputError(str(err)) from None
    sizes = parse_sizes(args.sizes) if args.sizes else None
    ok, results, paths, seconds = export_and_check(
        args.model, args.out, weights=args.weights, report_dir=args.report, check=not args.no_check, naive=naive,
        sizes=sizes, tol=args.tol, overrides=_overrides(args.set), seed=args.seed, progress=True)
    print_results(results, paths)
    if ok:
        print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) in {seconds:.1f} s")
        return 0
    print(f"parity FAILED (tol {args.tol:g}); {args.out} not written")
    return 1
