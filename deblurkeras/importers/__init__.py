"""Reading the originals' weight files: what the families' importers share, and the `import` verb.

Each family names its importer modules (FamilySpec.importers). An importer module offers
    FORMAT                                   the file format it reads ("tf1", "torch", "keras2"; several families may
                                             read one format: DMPHN and SR both read PyTorch state_dicts)
    accepts(path) -> bool                    whether the file / folder is one it reads
    import_weights(path, model=None, model_name=None) -> (model, registered name)
and, where the format has options of its own, `add_arguments(parser)` / `run(args)` for its `import-<format>` verb.
`torch_state` holds the safe, strict PyTorch state_dict handling several importers use; `cli` the `import` verb.
This package names no family: the registry says which importers exist (deblurkeras.registry.importers). Submodules
import torch / TensorFlow themselves, so this stays cheap.
"""
