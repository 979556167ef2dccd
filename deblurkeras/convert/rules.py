"""The parity rules every converter verb shares, torch-free: the per-layer tolerance, the default check sizes and
the command-line arguments that set them (imported by the verbs' argument parsers: no torch, no TensorFlow)."""


def tolerance(text):
    """argparse type of --tol: a finite number >= 0 (`nan` would make every comparison fail: exit 1, "diverged",
    for what is a typing error, exit 2)."""
    import argparse
    import math
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number >= 0")
    return value


# The per-layer tolerance: a layer agrees when its max abs difference is <= tol * max(1, max |Keras activation|),
# i.e. an absolute 1e-4 on layers in the [0, 1] image range, a relative 1e-4 on larger ones. float32 rounding grows
# with a layer's magnitude (the released SDNet4's features reach |x| ~ 40: a max relative error of 4.6e-6 is 1.8e-4
# absolute there), while a hand-port pitfall is off by a large fraction of the layer (SRN's naive padding: 100 %
# at enc2_1). Here, not in parity.py (which imports torch), so the verbs' argument parsers load no torch.
DEFAULT_TOL = 1e-4


class AbsoluteTol(float):
    """A tolerance compared with the max abs difference as it is, whatever the layer's scale (--absolute-tol)."""


def allowed(tol, scale):
    """The largest max abs difference a layer of max |activation| `scale` may show under `tol`."""
    if isinstance(tol, AbsoluteTol) or scale is None:
        return float(tol)
    return float(tol) * max(1.0, float(scale))


def tolerance_rule(tol):
    """How `tol` is applied, in words (reports, verdict lines)."""
    return f"max abs diff <= {float(tol):g}" + ("" if isinstance(tol, AbsoluteTol) else " x max(1, layer's max |x|)")


# The check sizes of compare and convert-keras when the model's input leaves H / W open: one even square, one
# non-square whose sides are not multiples of 16 (a port that only works on square or aligned sizes fails). The
# registered models' export verbs check their twins' own sizes instead (PARITY_SIZES: multiples the model needs).
DEFAULT_SIZES = ((64, 64), (48, 80))


def add_check_arguments(p, report_help="write parity.json / .md / .html here", sizes_help=None):
    """--report, --sizes, --tol, --absolute-tol and --seed, as every parity verb (export-torch, export-onnx,
    convert-keras, compare) has them."""
    p.add_argument("--report", metavar="DIR", help=report_help)
    default = ",".join(f"{h}x{w}" for h, w in DEFAULT_SIZES)
    p.add_argument("--sizes", help=sizes_help or f"HxW list for the check, e.g. 64x64,63x81 (default: the model's "
                                                 f"static input size, else {default})")
    p.add_argument("--tol", type=tolerance, default=DEFAULT_TOL,
                   help=f"per-layer tolerance (default {DEFAULT_TOL:g}): a layer agrees when its max abs diff is <= "
                        "tol x max(1, the layer's max |Keras value|), so float32 rounding on large features passes")
    p.add_argument("--absolute-tol", action="store_true",
                   help="compare each layer's max abs diff with --tol as is, whatever the layer's scale")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check input")


def tol_of(args):
    """The tolerance object of parsed --tol / --absolute-tol."""
    return AbsoluteTol(args.tol) if getattr(args, "absolute_tol", False) else args.tol
