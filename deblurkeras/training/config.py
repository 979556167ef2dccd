"""Training configs: a small family-independent base, merged with the family's own defaults (FamilySpec.config),
the YAML file and `--set section.key=value` overrides; then validated.

Validation refuses nonsense with one line naming the key, the value and what was expected: unknown sections and
keys (`trian.lr`, `train.lrr`), wrong types (`train.lr=abc`), unknown models, crops the model cannot take.
A key's type is its default's type (an int key takes 3 or 3.0, a float key takes 1e-3 or 1); `Typed` and
`Choice` defaults (deblurkeras.spec) say more where the default alone cannot.
"""
import copy
import difflib
import math

import yaml

from ..errors import BadInputError, first_line
from ..spec import Choice, Typed
from ..precision import NAMES as PRECISIONS

REQUIRED = object()  # a base default meaning: the config must give it

# Keys every family shares. Everything about the model, its loss and its optimizer comes from the family's spec.
BASE = {
    "model": {"name": Typed(REQUIRED, str), "family": Typed(None, str),
              "init_weights": Typed(None, str)},   # fine-tune: start from these weights (any file we import)
    "data": {"path": Typed(None, str), "split": "train", "val_split": Typed("test", str, None), "flips": False,
             "shuffle": True, "val_batch_size": 4, "val_batches": 2, "num_parallel_calls": 2},
    "train": {"seed": 0, "ckpt_every": 1000, "keep_last": 2, "log_every": 100, "n_preview": 4, "jit_compile": False,
              "warmup_steps": 0, "global_clipnorm": Typed(None, float),
              # parameters of the schedules (used only by the schedule that names them)
              "end_lr": 0.0, "power": 1.0, "boundaries": [], "factor": 0.1},
    "run": {"dir": "runs/default", "strategy": Choice("default", "default", "mirrored", "multiworker"),
            "precision": Choice("float32", *PRECISIONS), "progress": True, "time_budget_s": Typed(None, float),
            "deterministic": False,  # TensorFlow op determinism for the run (the demo): same steps -> same weights
            "mixed_precision": Typed(None, bool)},  # mixed_precision: deprecated, true = float16
}
# Sections validated only when a config has them (the `demo` verb's own section).
OPTIONAL_SECTIONS = {
    "demo": {"n_train": 200, "n_test": 16, "size": 128, "max_len": Typed(None, int), "exposures": Typed(None, list),
             "n_kernels": Typed(None, int), "seed": 0, "grid_rows": 6,
             # the expected duration printed before it starts: s per training step on `measured_on`, + the rest
             "s_per_step": Typed(None, float), "other_s": 0.0, "measured_on": Typed(None, str)},
}
# Keys whose value must be >= 1 (and at most MAX_COUNT: TensorFlow counts steps in int64, Keras' loop in smaller).
POSITIVE = {"data.batch_size", "data.val_batch_size", "train.total_steps", "train.ckpt_every", "train.keep_last",
            "train.log_every", "data.num_parallel_calls"}
MAX_COUNT = 2 ** 31 - 1
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
               type(None): "null"}


# ----------------------------------------------------------------------------------------------- reading
def _merge(base, override):
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def parse_value(text):
    """YAML scalar, but `3e-4` is a float (YAML 1.1 would keep it a string)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def apply_override(cfg, item):
    """Apply one `section.key=value` (value parsed as YAML: numbers, booleans, null, lists)."""
    if "=" not in item:
        raise BadInputError(f"--set {item!r}: expected key=value (e.g. train.total_steps=1000)")
    key, value = item.split("=", 1)
    *parents, leaf = key.strip().split(".")
    if not parents or not all(parents) or not leaf:  # `--set model=x` would replace the whole section
        raise BadInputError(f"--set {item!r}: expected section.key=value (e.g. train.total_steps=1000)")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise BadInputError(f"--set {item!r}: {p!r} is not a section")
    node[leaf] = parse_value(value)
    return cfg


def read_yaml(path):
    from ..registry import config_path

    path = config_path(path)
    try:
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise BadInputError(f"{path}: not valid YAML ({first_line(e)})") from None
    except UnicodeDecodeError as e:
        raise BadInputError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
        raise BadInputError(f"{path}: a config must be a mapping of sections (model, data, train, run)")
    return loaded


def load_config(path=None, overrides=(), base=None):
    """YAML file (or `base` dict, or both: base over the file) <- `--set` overrides, over the family's defaults.
    Returns a plain, validated dict; raises BadInputError naming the first bad key."""
    user = read_yaml(path) if path is not None else {}
    user = _merge(user, base)
    for item in overrides:
        apply_override(user, item)
    return resolve(user)


# ----------------------------------------------------------------------------------------------- defaults
def family_spec(cfg):
    """The FamilySpec of a (partial) config: `model.family`, else the family of `model.name`."""
    from .. import registry

    model = cfg.get("model") or {}
    if not isinstance(model, dict):
        raise BadInputError(f"config: model={model!r}: expected a section (name: ..., family: ...)")
    name, fam_name = model.get("name"), model.get("family")
    trainable = trainable_models()
    if name is not None and name not in trainable:
        raise BadInputError(f"config: model.name={name!r}: expected one of {', '.join(trainable)}")
    if fam_name is not None and fam_name not in registry.families():
        raise BadInputError(f"config: model.family={fam_name!r}: expected one of {', '.join(registry.families())}")
    if name is None:
        raise BadInputError("config: model.name is missing: expected one of " + ", ".join(trainable))
    fam = registry.family_of(name)
    if fam_name is not None and fam_name != fam.name:
        raise BadInputError(f"config: model.family={fam_name!r} but model.name={name!r} is of family {fam.name!r}")
    return fam


def trainable_models():
    """Model names the runner can train: image models of families with a trainer."""
    from .. import registry

    fams = registry.families()
    return [n for n in registry.model_names(image_only=True) if fams[registry.entry(n).family].trainer]


def schema(fam):
    """section -> {key: raw default (possibly Typed / Choice)} for a family: the base under the family's own."""
    out = copy.deepcopy(BASE)
    for section, keys in fam.config.items():
        out.setdefault(section, {}).update(keys)
    return out


def _default(raw):
    return raw.default if isinstance(raw, (Typed, Choice)) else copy.deepcopy(raw)


def defaults(fam):
    """The family's full default config (plain values)."""
    return {s: {k: _default(v) for k, v in keys.items()} for s, keys in schema(fam).items()}


# ----------------------------------------------------------------------------------------------- validation
def _fail(key, value, expected):
    raise BadInputError(f"config: {key}={value!r}: expected {expected}")


def _number(value):
    """int/float/numeric string -> float; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_type(value, kind):
    """`value` as `kind`, or raise ValueError."""
    if kind is type(None):
        if value is None:
            return None
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # exact (a float round trip would change a huge one)
        num = _number(value)
        if num is not None and math.isfinite(num) and num == int(num):
            return int(num)
    elif kind is float:
        num = _number(value)
        if num is not None:
            return num
    elif isinstance(value, kind):
        return value
    raise ValueError


def coerce(key, value, raw):
    """The value of `key` checked (and converted: 1 -> 1.0 for a float key) against its raw default."""
    if isinstance(raw, Choice):
        if not any(o == value and type(o) is type(value) for o in raw.options):  # 1 is not True here
            _fail(key, value, "one of " + ", ".join(repr(o) for o in raw.options))
        return value
    if isinstance(raw, Typed):
        kinds = [type(None) if k is None else k for k in raw.types]
        if raw.default is None or raw.default is REQUIRED:
            kinds.append(type(None))
    else:
        kinds = [type(raw)]
    for kind in kinds:
        try:
            return _as_type(value, kind)
        except ValueError:
            continue
    _fail(key, value, " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds))


def _unknown(what, name, value, known):
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise BadInputError(f"config: unknown {what} {name}={value!r}{hint}; expected one of {', '.join(known)}")


def resolve(user):
    """Validate a user config (file + overrides) against its family's schema and fill in the defaults."""
    if not isinstance(user, dict):
        raise BadInputError("config: expected a mapping of sections (model, data, train, run)")
    fam = family_spec(user)
    sch = schema(fam)
    sections = {**sch, **{k: v for k, v in OPTIONAL_SECTIONS.items() if k in user}}
    out = {s: {k: _default(v) for k, v in keys.items()} for s, keys in sections.items()}
    for section, values in user.items():
        if section not in sections:
            first = next(iter(values.items()), ("", None)) if isinstance(values, dict) else ("", values)
            _unknown("section", f"{section}.{first[0]}" if first[0] else section, first[1], list(sections))
        if not isinstance(values, dict):
            raise BadInputError(f"config: {section}={values!r}: expected a section (key: value mapping)")
        for key, value in values.items():
            if isinstance(value, (Typed, Choice)):  # a family's spec passed as a config: its defaults
                value = value.default
            if key not in sections[section]:
                _unknown("key", f"{section}.{key}", value, [f"{section}.{k}" for k in sections[section]])
            out[section][key] = coerce(f"{section}.{key}", value, sections[section][key])
    for section, keys in out.items():
        for key, value in keys.items():
            if value is REQUIRED:
                raise BadInputError(f"config: {section}.{key} is missing")
    _check_values(out)
    return out


def validate(cfg):
    """Re-check an already resolved config (a dict passed straight to the runner); returns it resolved."""
    return resolve(cfg)


def _check_values(cfg):
    from .. import registry

    for key in POSITIVE:
        section, name = key.split(".")
        value = cfg.get(section, {}).get(name)
        if value is not None and value < 1:
            _fail(key, value, "an integer >= 1")
        if value is not None and value > MAX_COUNT:
            _fail(key, value, f"an integer from 1 to {MAX_COUNT}")
    t = cfg["train"]
    lr = t.get("lr")  # NaN / Inf / negative would "diverge" at the first step, with advice to --resume
    if isinstance(lr, float) and not (math.isfinite(lr) and lr > 0):
        _fail("train.lr", lr, "a finite number > 0")
    for key in ("end_lr", "global_clipnorm"):
        v = t.get(key)
        if isinstance(v, float) and not (math.isfinite(v) and v >= 0):
            _fail(f"train.{key}", v, "a finite number >= 0")
    name = cfg["model"]["name"]
    io = registry.model_io(name)
    step = math.lcm(*io.multiples) * io.scale
    for key in ("crop", "val_crop"):
        crop = cfg["data"].get(key)
        if isinstance(crop, int) and crop < 0:
            _fail(f"data.{key}", crop, f"a positive multiple of {step} for {name}")
        if crop and crop % step:
            _fail(f"data.{key}", crop, f"a multiple of {step} for {name}")
    if t.get("schedule") == "piecewise":
        bounds = t.get("boundaries")
        if not bounds or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) \
                or list(bounds) != sorted(bounds):
            _fail("train.boundaries", bounds, "a non-empty increasing list of step numbers for schedule piecewise")
    if t.get("schedule") == "time_polynomial" and not cfg["run"].get("time_budget_s"):
        _fail("run.time_budget_s", cfg["run"].get("time_budget_s"), "seconds (schedule time_polynomial needs it)")


def family_module(cfg):
    """The trainer module of the config's family."""
    import importlib

    fam = family_spec(cfg)
    if not fam.trainer:
        raise BadInputError(f"model family {fam.name!r} has no trainer")
    return importlib.import_module(fam.trainer)
