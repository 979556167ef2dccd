"""One overwrite rule for every verb, checked before any work and before TensorFlow loads (issue 23).

The rule: a verb never replaces an existing output file unless it is given `--overwrite`; it refuses in one line
naming the file, and writes nothing. Output folders that exist are written into. Two verbs keep a rule of their
own: `train` continues a run folder only with `--resume` (a run is continued, not replaced), and `demo` rebuilds
its own `--out` folder each time (a fresh measurement). Parity reports (`--report DIR`) belong to the run that
writes them and are rewritten.

The inputs a verb reads are checked here too (a missing weights file or image is named before TensorFlow's 5-8 s
start-up), so the cheap mistakes cost nothing.
"""
import os

from .errors import BadInputError

# verbs with their own rule (see above) or whose outputs are reports only
OWN_RULE = ("train", "demo", "build-hdf5", "compare")
# argument names holding paths the verb reads; a TF1 checkpoint is given by its prefix (PREFIX.index exists)
READ_ARGS = ("weights", "checkpoint", "source", "input", "inputs", "data")


def add_argument(parser):
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (refused by default, naming the first)")


def _paths(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    return [os.fspath(v) for v in values if isinstance(v, (str, os.PathLike))]


def check_inputs(args):
    """Every path the verb reads exists (a TF1 prefix counts by its .index): else BadInputError naming it."""
    for name in READ_ARGS:
        for p in _paths(getattr(args, name, None)):
            if not (os.path.exists(p) or os.path.exists(p + ".index")):
                flag = name if name in ("input", "inputs", "source", "checkpoint") else f"--{name}"
                raise BadInputError(f"{p}: no such file or folder ({flag}; nothing was run)")


def planned_outputs(verb, args, module=None):
    """The files `verb` is about to write, those it can name before a model loads. A verb module that writes into
    a folder says which by its own `planned_outputs(args)` (deblur, upscale, eval); the others write `--out`."""
    out = getattr(args, "out", None)
    if verb in OWN_RULE or out is None:
        return []
    own = getattr(module, "planned_outputs", None)
    return list(own(args)) if own is not None else [out]  # import-*, export-torch: a file; convert-keras: a folder


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_existing(paths, overwrite, inputs=()):
    """An existing output is refused unless `overwrite`; one that is an input is left to the verb, which refuses
    it by name even with --overwrite (no verb writes over its own input)."""
    existing = [p for p in paths if os.path.lexists(p) and not any(_same_file(p, i) for i in inputs)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise BadInputError(f"{existing[0]}: exists{more}; pass --overwrite to replace it (nothing was written)")


def check(verb, args, module=None):
    """The cheap checks of a parsed command line, in the CLI before TensorFlow loads (`module`: the verb's)."""
    check_inputs(args)
    inputs = [p for name in READ_ARGS if name != "inputs" for p in _paths(getattr(args, name, None))]
    if getattr(args, "inputs", None):
        from .imageio import list_images
        inputs += list_images(args.inputs)  # folders given as inputs: the images in them
    refuse_existing(planned_outputs(verb, args, module), getattr(args, "overwrite", False), inputs)
