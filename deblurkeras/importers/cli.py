"""`deblurkeras import SOURCE --out OUT`: any original weights file the families' importers read -> our Keras file.

`--format` (default auto: the first importer that accepts SOURCE) and `--model` (default: what the file says) come
from the registry. `import-<format>` is the same verb limited to one format (`import-tf1`, `import-torch`,
`import-keras2`); a format whose importer has options of its own (the TF1 variant, the Keras 2 name map) gets its
importer's own arguments there.
"""
import os

import numpy as np

from ..errors import BadInputError
from ..registry import formats, importable_models, importer_for

OUT_HELP = "output Keras file: NAME.weights.h5 or NAME.keras (written atomically)"


def add_out_arguments(parser):
    """--out and --overwrite, as every import verb takes them."""
    parser.add_argument("--out", required=True, help=OUT_HELP)
    from ..outputs import add_argument as add_overwrite_argument
    add_overwrite_argument(parser)


def check_out(out):
    """Our two formats only (weights.save writes them atomically, with the model's identity inside)."""
    if not (out.endswith(".weights.h5") or out.endswith(".keras")):
        raise BadInputError(f"{out}: output must end with .weights.h5 or .keras")


class Verb:
    """One import verb: all formats (`fmt` None) or one."""

    def __init__(self, fmt=None):
        self.fmt = fmt
        mods = formats().get(fmt, []) if fmt else []
        self.own = mods[0] if len(mods) == 1 and hasattr(mods[0], "run") else None

    def add_arguments(self, parser):
        if self.own is not None:
            return self.own.add_arguments(parser)
        parser.add_argument("source", help="the original's weights: a file, a checkpoint prefix or a folder")
        if self.fmt is None:
            parser.add_argument("--format", choices=["auto", *formats()], default="auto",
                                help="which importer reads SOURCE (auto: the first that accepts it)")
        parser.add_argument("--model", choices=["auto", *importable_models(self.fmt)], default="auto",
                            help="what to import (auto: the importer tells from the file)")
        add_out_arguments(parser)

    def run(self, args):
        if self.own is not None:
            return self.own.run(args)
        from .. import weights

        check_out(args.out)
        model, name = import_model(args.source, args.model, self.fmt or getattr(args, "format", "auto"))
        weights.save(model, args.out)
        n = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        print(f"imported {name} from {args.source}: {n:,} trainable parameters -> {args.out}")
        return 0


def import_model(source, model_name="auto", fmt="auto"):
    """(keras model, registry name) from an original's weights file or folder."""
    source = os.fspath(source)
    if not os.path.exists(source) and not os.path.exists(source + ".index"):
        raise BadInputError(f"{source}: not found")
    importer = importer_for(source, None if fmt in (None, "auto") else fmt)
    if importer is None:
        kind = "an original's weights file" if fmt in (None, "auto") else f"a {fmt} checkpoint"
        raise BadInputError(f"{source}: not {kind} this project reads")
    return importer.import_weights(source, model_name=None if model_name == "auto" else model_name)


def verb(fmt=""):
    """The cli's verb object for `import` (fmt "") or `import-<fmt>`."""
    return Verb(fmt or None)
