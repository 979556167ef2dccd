"""`deblurkeras <verb>`: one entry point, each verb implemented in its own module.

A verb module provides `add_arguments(parser)` and `run(args) -> int` (exit status). Modules are imported only
when their verb runs, so `deblurkeras --help` stays fast. User errors (DeblurKerasError, FileNotFoundError)
are printed on one line and give a non-zero exit status.

TensorFlow's C++ log stays quiet unless `deblurkeras --verbose VERB ...`: TF_CPP_MIN_LOG_LEVEL=2 hides its info and
warnings, and the lines printed while TensorFlow loads its CUDA stubs and probes for a GPU ("Could not find cuda
drivers", "failed call to cuInit") - written by absl before TF's log level applies - go to /dev/null: the first
import of TensorFlow runs with file descriptor 2 pointed there (deblurkeras/_quiet.py, for the CLI whatever the
environment says, for `import deblurkeras` unless TF_CPP_MIN_LOG_LEVEL asks for the log).
"""
import argparse
import contextlib
import importlib
import os
import sys


def _family_verbs():
    """The verbs families bring (FamilySpec.verbs: `upscale`), then `import` and its per-format aliases
    `import-<format>` (import-tf1, import-torch, import-keras2), from the families' importers."""
    from .registry import families, formats

    out = {verb: entry for fam in families().values() for verb, entry in fam.verbs.items()}
    out["import"] = ("deblurkeras.importers.cli:", "import an original's weights (" + ", ".join(formats()) + ")")
    for fmt, mods in formats().items():
        out[f"import-{fmt}"] = (f"deblurkeras.importers.cli:{fmt}",
                                f"import {' / '.join(m.FORMAT_HELP for m in mods)}")
    return out


# verb -> (module, one-line help); "module:arg" = the verb object module.verb(arg)
VERBS = {
    "build-hdf5": ("deblurkeras.data.build", "build the HDF5 dataset from side-by-side / GoPro / paired images"),
    "train": ("deblurkeras.training.cli", "train a model from a YAML config"),
    "eval": ("deblurkeras.evaluate", "PSNR/SSIM of a model on an HDF5 file or a folder of pairs"),
    "deblur": ("deblurkeras.inference", "deblur images or folders with a trained model"),
    **_family_verbs(),
    "export-torch": ("deblurkeras.convert.cli", "export to PyTorch (safetensors) with a per-layer parity report"),
    "export-onnx": ("deblurkeras.convert.onnx_export", "export to ONNX (dynamic H x W) with a per-layer parity report "
                    "against ONNX Runtime"),
    "convert-keras": ("deblurkeras.convert.keras_to_torch", "any Keras functional model -> readable PyTorch model.py + "
                      "weights + parity report"),
    "compare": ("deblurkeras.convert.compare_cli", "per-layer diff of a Keras model against any PyTorch module, "
                "with the likely cause of the first divergence"),
    "demo": ("deblurkeras.demo", "the main job: synthetic data -> train -> evaluate -> pictures"),
    "weights": ("deblurkeras.releases.cli", "the originals' released weights by name: list, fetch, verify, path"),
    "serve": ("deblurkeras.serve", "a web page (127.0.0.1 by default) to deblur one photo: before/after slider, PNG "
              "download; needs the [web] extra"),
}


def load_verb(verb):
    """The verb's module, or for "module:arg" the object module.verb(arg) returns: add_arguments + run."""
    module, colon, arg = VERBS[verb][0].partition(":")
    mod = importlib.import_module(module)
    return mod.verb(arg) if colon else mod


def _one_line_warnings(verb):
    """Python warnings (ours: "no --weights given ...", and the libraries') print as one line naming the verb, not
    as `file:line: UserWarning: ...` plus a line of source code; `deblurkeras --verbose` keeps Python's format."""
    import warnings

    from .errors import one_line

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"deblurkeras {verb}: warning: {one_line(str(message))}", file=file or sys.stderr)

    before, warnings.showwarning = warnings.showwarning, show
    return lambda: setattr(warnings, "showwarning", before)


def main(argv=None):
    argv_given, argv = argv, list(sys.argv[1:] if argv is None else argv)
    _tolerant_streams()
    if argv and argv[0] == "--offline":  # no connection for any verb (release names: deblurkeras.releases)
        argv, os.environ["DEBLURKERAS_OFFLINE"] = argv[1:], "1"
    verbose = bool(argv) and argv[0] in ("-v", "--verbose")
    if verbose:
        argv = argv[1:]
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        from ._quiet import uninstall
        uninstall()
    else:
        from ._quiet import quiet_cli
        quiet_cli()
    parser = argparse.ArgumentParser(prog="deblurkeras", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's C++ log (quiet by default)")
    parser.add_argument("--offline", action="store_true", help="open no connection (release names: the cache only)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        sub.add_parser(verb, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        parser.print_help() if (not argv or argv[0] in ("-h", "--help")) else parser.error(f"unknown verb {argv[0]!r}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    verb = argv[0]
    try:
        module = load_verb(verb)  # imports: a Ctrl-C here surfaces as KeyboardInterrupt or an ImportError
    except (KeyboardInterrupt, ImportError) as e:
        if not _interrupted(e):
            raise
        print(f"deblurkeras {verb}: interrupted", file=sys.stderr)
        return 130
    vparser = argparse.ArgumentParser(prog=f"deblurkeras {verb}", description=VERBS[verb][1])
    module.add_arguments(vparser)
    with contextlib.suppress(argparse.ArgumentError):  # a verb with an --offline of its own keeps it
        vparser.add_argument("--offline", dest="offline_mode", action="store_true",
                             help="open no connection: release names from the cache only (DEBLURKERAS_OFFLINE=1)")
    args = vparser.parse_args(argv[1:])
    if getattr(args, "offline_mode", False):
        os.environ["DEBLURKERAS_OFFLINE"] = "1"
    from . import outputs
    from .errors import DeblurKerasError, one_line
    restore = None if verbose else _one_line_warnings(verb)
    try:
        outputs.check(verb, args, module)  # inputs exist, outputs new (or --overwrite): before TensorFlow loads
        return int(module.run(args) or 0)
    except (DeblurKerasError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"deblurkeras {verb}: error: {one_line(e)}", file=sys.stderr)  # a newline in a name: escaped
        return 2
    except OSError as e:
        from .utils import DISK_ERRNOS
        if e.errno not in DISK_ERRNOS:
            raise
        print(f"deblurkeras {verb}: error: {disk_error_line(e, args)}", file=sys.stderr)
        if argv_given is None:  # the program itself: see _exit_now
            _exit_now(2)
        return 2
    except (KeyboardInterrupt, ImportError) as e:  # an ImportError: Ctrl-C while a module loaded lazily
        if not _interrupted(e):
            raise
        print(f"deblurkeras {verb}: interrupted", file=sys.stderr)
        return 130
    finally:
        if restore is not None:
            restore()


def _interrupted(e):
    """Is `e` a Ctrl-C? Also when Ctrl-C came while an extension module initialised: numpy / TensorFlow then raise
    ImportError ("initialization failed") with the KeyboardInterrupt as its cause or context."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _tolerant_streams():
    """Names that are not valid UTF-8 (bytes kept as surrogates by os.fsdecode) print as `\udcff` escapes: a strict
    stdout (PYTHONIOENCODING=utf-8) used to raise UnicodeEncodeError after the output was written (issue 31)."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: leave it
                pass


def disk_error_line(e, args):
    """One line for a write that failed for lack of space or permission, naming the output (not our temporary)."""
    import errno as errno_mod

    from .errors import one_line
    from .utils import target_of_temp
    name = target_of_temp(e.filename) if e.filename else getattr(args, "out", None) or getattr(args, "report", "")
    why = os.strerror(e.errno) if e.errno else "write failed"
    hint = "; free some space or choose another --out" if e.errno in (errno_mod.ENOSPC, errno_mod.EDQUOT) else ""
    return one_line(f"{name}: cannot write ({why}, errno {e.errno}){hint}; the partial output was removed")


def _exit_now(code):
    """Leave without the interpreter's exit handlers. After h5py failed to write a file (a full disk), HDF5 keeps
    the file open with data it cannot flush, and its own exit handler then crashes the process (a segmentation
    fault after the message, issue 31); the message is printed and our temporary is already removed, so nothing is
    left to do at exit but flush the streams."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
