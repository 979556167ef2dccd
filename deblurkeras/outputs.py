"""One overwrite rule for every verb, checked before any work and before TensorFlow loads.

The rule: a verb never replaces an existing output file unless it is given `--overwrite`; it refuses in one line
naming the file, and writes nothing. Output folders that exist are written into. Two verbs keep a rule of their
own: `train` continues a run folder only with `--resume` (a run is continued, not replaced), and `demo` rebuilds
its own `--out` folder each time (a fresh measurement). Parity reports (`--report DIR`) belong to the run that
writes them and are rewritten.

The inputs a verb reads are checked here too (a missing weights file or image is named before TensorFlow's 5-8 s
start-up), so the cheap mistakes cost nothing.
"""
import os

from .errors import BadInputError, DiskError
from .utils import file_id, unwritable_reason

# verbs with their own rule (see above) or whose outputs are reports only
OWN_RULE = ("train", "demo", "build-hdf5", "compare")
# argument names holding paths the verb reads; a TF1 checkpoint is given by its prefix (PREFIX.index exists).
# `--config` is read too but may be a shipped name (srn/demo): it is not checked for existence.
READ_ARGS = ("weights", "checkpoint", "source", "input", "inputs", "data")
INPUT_ARGS = READ_ARGS + ("config",)
OUTPUT_ARGS = ("out", "report")
WRITE_ARGS = OUTPUT_ARGS + ("run_dir",)  # places a verb writes in (train: its run folder)


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
            if name == "weights" and _is_release(p):  # a release name (stack-dmphn-4:gopro): fetched on use
                continue
            if not (os.path.exists(p) or os.path.exists(p + ".index")):
                flag = name if name in ("input", "inputs", "source", "checkpoint") else f"--{name}"
                raise BadInputError(f"{p}: no such file or folder ({flag}; nothing was run)")


def check_not_overwriting_inputs(args):
    """No verb writes over one of its own inputs (`export-torch --weights W --out W`), --overwrite or not.
    Folder outputs are left to the verbs that write into them (deblur, upscale: `not_inputs`)."""
    inputs = {}
    for name in INPUT_ARGS:
        for p in _paths(getattr(args, name, None)):
            inputs.setdefault(file_id(p), (name, p))
    inputs.pop(None, None)
    for out_name in OUTPUT_ARGS:
        for out in _paths(getattr(args, out_name, None)):
            if os.path.isfile(out) and file_id(out) in inputs:
                in_name, p = inputs[file_id(out)]
                raise BadInputError(f"--{out_name.replace('_', '-')} {out} is the input {p} "
                                    f"({in_name}); writing it would destroy the input: choose another path")


def _is_release(text):
    from .releases import get, is_release_name, looks_like_release
    if looks_like_release(text) and not is_release_name(text):
        get(text)  # MODEL:TAG with an unknown tag: refused here, naming the close releases
    return is_release_name(text)


def not_inputs(outputs, inputs):
    """`outputs` less those that are one of `inputs` (any name of the same file): a verb leaves those to its own
    by-name refusal, which holds even with --overwrite."""
    ids = {file_id(p) for p in inputs} - {None}
    return [p for p in outputs if file_id(p) not in ids] if ids else list(outputs)


def planned_outputs(verb, args, module=None):
    """The files `verb` is about to write, those it can name before a model loads. A verb module that writes into
    a folder says which by its own `planned_outputs(args)` (deblur, upscale, eval); the others write `--out`."""
    out = getattr(args, "out", None)
    if verb in OWN_RULE or out is None:
        return []
    own = getattr(module, "planned_outputs", None)
    return list(own(args)) if own is not None else [out]  # import-*, export-torch: a file; convert-keras: a folder


def refusal(path, overwrite):
    """The rule for one output file: None where it may be written, else the line refusing it."""
    if os.path.lexists(path) and not overwrite:
        return f"{path}: exists; pass --overwrite to replace it"
    return None


def same_file(a, b):
    """Whether `a` and `b` are one existing file (under any name)."""
    ida = file_id(a)
    return ida is not None and ida == file_id(b)


def refuse_existing(paths, overwrite):
    """An existing output is refused unless `overwrite` (the first named, the others counted)."""
    refused = [p for p in paths if refusal(p, overwrite)]
    if refused:
        more = f" (and {len(refused) - 1} more outputs)" if len(refused) > 1 else ""
        raise BadInputError(f"{refused[0]}: exists{more}; pass --overwrite to replace it (nothing was written)")


def check_writable(args):
    """Every output place (`--out`, `--report`, `--run-dir`) can be written: not on a read-only file system, the folder ours to
    write in. Only reads (statvfs, access): a read-only output fails here in one line, before any work, instead
    of after a whole export (issue 31). A file or a folder: a path with an extension is a file's."""
    for name in WRITE_ARGS:
        for out in _paths(getattr(args, name, None)):
            is_folder = os.path.isdir(out) or not os.path.splitext(out)[1]
            why = unwritable_reason(out, is_folder)
            if why:
                raise DiskError(f"--{name.replace('_', '-')} {out}: cannot be written ({why}); nothing was run")


def check(verb, args, module=None):
    """The cheap checks of a parsed command line, in the CLI before TensorFlow loads (`module`: the verb's)."""
    check_not_overwriting_inputs(args)
    check_inputs(args)
    refuse_existing(planned_outputs(verb, args, module), getattr(args, "overwrite", False))
    check_writable(args)
