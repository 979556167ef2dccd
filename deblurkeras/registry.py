"""The registry of model families, built from their specs: each family is a folder `deblurkeras/families/<name>/`
whose `__init__` holds its FAMILY spec (deblurkeras.spec.FamilySpec).

Everything that lists models - the CLI choices, the twin table, the importers, the trainers, the contract tests - is
derived from the specs. Adding a family = adding its folder and one line in FAMILY_PACKAGES. The family packages are
imported by name (importlib), so the registry sits below them: the shared code asks it, the families never import
each other. Importing it is cheap: specs are plain data; Keras / torch code is imported when it is used.
`deblurkeras.families` hands the same names on (the public face: `from deblurkeras.families import build_model`).
"""
import importlib

from .spec import (IMAGENET_MEAN, IMAGENET_STD, SIGNED, UNIT, Choice, FamilySpec, ModelIO, ModelSpec,  # noqa: F401
                   Typed, resolve)

FAMILIES_PACKAGE = "deblurkeras.families"
FAMILY_PACKAGES = ("srn", "dense_gan", "dmphn", "sr")

_FAMILIES = {}
_MODELS = {}


def _load():
    if _FAMILIES:
        return
    for pkg in FAMILY_PACKAGES:
        fam = importlib.import_module(f"{FAMILIES_PACKAGE}.{pkg}").FAMILY
        _FAMILIES[fam.name] = fam
        for m in fam.models:
            if m.name in _MODELS:
                raise ValueError(f"model {m.name!r} registered twice ({_MODELS[m.name].family}, {fam.name})")
            _MODELS[m.name] = m


def families():
    """name -> FamilySpec."""
    _load()
    return dict(_FAMILIES)


def family(name):
    _load()
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; expected one of {sorted(_FAMILIES)}")
    return _FAMILIES[name]


def model_names(image_only=False):
    _load()
    return sorted(n for n, m in _MODELS.items() if m.io.image or not image_only)


def entry(name):
    """The ModelSpec of a registered model name."""
    _load()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {model_names()}")
    return _MODELS[name]


def model_io(name):
    return entry(name).io


def family_of(name):
    return family(entry(name).family)


def build_model(name, weights=None, **overrides):
    """Build a registered model by name; `overrides` replace the registered defaults. The model remembers its
    registered name and configuration (see `tag_model`). `weights`: a release tag of this model
    (`build_model("stack-dmphn-4", weights="gopro")`, fetched on first use: deblurkeras.releases), a release name
    or a weights file, loaded strictly."""
    spec = entry(name)
    model = spec.build(**overrides)
    tag_model(model, name, {**spec.defaults, **overrides})
    if weights is not None:
        from .weights import load_into
        load_into(model, f"{name}:{weights}" if _is_tag(weights) else weights, name)
    return model


def _is_tag(text):
    """A bare release tag ("gopro"): no path-like character, not an existing file."""
    import os
    return isinstance(text, str) and not any(c in text for c in ":/.\\") and not os.path.exists(text)


# --- a model knows what it is: name + builder config travel inside .keras / .weights.h5 files written by us
IDENTITY_ATTR = "_deblurkeras_identity"


def tag_model(model, name, config):
    setattr(model, IDENTITY_ATTR, {"model": name, "config": _jsonable(config)})
    return model


def model_identity(model):
    """{"model": name, "config": {...}} of a model built by build_model, else None."""
    return getattr(model, IDENTITY_ATTR, None)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def register_keras_layers():
    """Import every family's custom-layer modules so `keras.saving.load_model` finds their classes."""
    for fam in families().values():
        for mod in fam.layer_modules:
            importlib.import_module(mod)


def register_converters():
    """Import every family's PyTorch-converter modules: each registers its layers' converters through
    deblurkeras.convert.register_converter (imports torch)."""
    for fam in families().values():
        for mod in fam.converters:
            importlib.import_module(mod)


def shipped_configs():
    """{"family/name": path} of the YAML configs shipped inside the package (importlib.resources)."""
    from importlib import resources

    out = {}
    for fam in families().values():
        folder = resources.files(f"{FAMILIES_PACKAGE}.{fam.name}").joinpath("configs")
        for name in fam.configs:
            out[f"{fam.name}/{name}"] = str(folder.joinpath(f"{name}.yaml"))
    return out


def config_path(ref):
    """A config given as a file path, or by its shipped name (`srn/gopro_color`, or `gopro_color` if unique)."""
    import os

    if os.path.isfile(ref):
        return ref
    shipped = shipped_configs()
    key = ref[:-5] if ref.endswith(".yaml") else ref
    matches = [k for k in shipped if k == key or k.split("/", 1)[1] == key]
    if len(matches) == 1:
        return shipped[matches[0]]
    hint = "ambiguous, use family/name" if matches else "no such file or shipped config"
    raise FileNotFoundError(f"config {ref!r}: {hint}; shipped configs: {', '.join(sorted(shipped))}")


# --- the importers the families name (FamilySpec.importers): each module has FORMAT, accepts(path),
# import_weights(path, model=None, model_name=None); deblurkeras.weights and the `import` verb ask these
def importers(fmt=None):
    """The importer modules of every family (of one format), in registry order, each once."""
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
    mods = {m.__name__ for m in importers(fmt)}
    return [m.name for fam in families().values() if mods & set(fam.importers) for m in fam.models]
