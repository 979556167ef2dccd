"""Reading the originals' weight files: what the families' importers share, and the `import` verb.

Each family names its importer modules (FamilySpec.importers). An importer module offers
    FORMAT                                   the file format it reads ("tf1", "torch", "keras2"; several families may
                                             read one format: DMPHN and SR both read PyTorch state_dicts)
    accepts(path) -> bool                    whether the file / folder is one it reads
    import_weights(path, model=None, model_name=None) -> (model, registered name)
and, where the format has options of its own, `add_arguments(parser)` / `run(args)` for its `import-<format>` verb.
`torch_state` holds the safe, strict PyTorch state_dict handling several importers use. This package names no family:
the registry says which importers exist. Submodules import torch / TensorFlow themselves, so this stays cheap.
"""
import importlib


def importers(fmt=None):
    """The importer modules of every family (of one format), in registry order, each once."""
    from ..families import families

    refs = []
    for fam in families().values():
        refs += [ref for ref in fam.importers if ref not in refs]
    mods = [importlib.import_module(ref) for ref in refs]
    return [m for m in mods if fmt is None or m.FORMAT == fmt]


def formats():
    """format -> [importer modules]."""
    out = {}
    for mod in importers():
        out.setdefault(mod.FORMAT, []).append(mod)
    return out


def importer_for(path, fmt=None):
    """The first importer (of format `fmt`) that accepts `path`, else None."""
    for mod in importers(fmt):
        if mod.accepts(path):
            return mod
    return None


def importable_models(fmt=None):
    """Registered names of the models the importers (of format `fmt`) can fill: those of the importers' families."""
    from ..families import families

    mods = {m.__name__ for m in importers(fmt)}
    return [m.name for fam in families().values() if mods & set(fam.importers) for m in fam.models]
