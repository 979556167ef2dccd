"""A builder config stored in a file (a `.weights.h5` / `.keras` identity, a `.safetensors` metadata) is checked
before anything is built from it (issue 31, item 8): `channels: 65536` or `n_blocks: 1000000` used to build as
such (ResourceExhaustedError after 110 s and 4.9 GB).

Two checks, neither naming a family:
1. Schema: every key is a keyword of the model's registered builder, every value has the type of its default
   (the registered one, else the builder's), and a positive integer default is exceeded at most MAX_FACTOR times
   (per element for a tuple of integers). Cheap; needs nothing but the registry.
2. Size: the model the config describes holds about as many numbers as the file does. The count comes from the
   model's PyTorch twin built on torch's "meta" device (shapes only, no memory, well under a second), where torch is
   installed; without torch, check 1 alone bounds the build.
"""
import inspect

from .errors import BadInputError, show

MAX_FACTOR = 16          # a stored integer may be up to 16x its default (channels 64 -> 1024, n_blocks 16 -> 256)
SIZE_SLACK = 2.0         # the config's model may hold at most twice the file's numbers (+ SIZE_EXTRA)
SIZE_EXTRA = 1 << 20


def _type_ok(value, default):
    if default is None:
        return value is None or isinstance(value, (bool, int, float, str, list, tuple))
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple)) and all(v is None or _type_ok(v, d) for v, d in
                                                       zip(value, list(default) * len(value)))
    return True


def _too_large(value, default):
    """The first integer of `value` over MAX_FACTOR times its default's, or None."""
    if isinstance(value, bool) or isinstance(default, bool):
        return None
    if isinstance(value, int) and isinstance(default, int) and default > 0 and value > MAX_FACTOR * default:
        return value
    if isinstance(value, int) and isinstance(default, int) and value < 0:
        return value
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)) and default:
        top = max((d for d in default if isinstance(d, int) and not isinstance(d, bool)), default=None)
        for v in value:
            if top is not None and isinstance(v, int) and not isinstance(v, bool) and (v > MAX_FACTOR * top or v < 0):
                return v
    return None


def check_schema(path, name, config):
    """Step 1 of the module docstring: BadInputError naming the file and the key."""
    from .registry import entry
    from .spec import resolve

    spec = entry(name)
    params = inspect.signature(resolve(spec.builder)).parameters
    for key, value in config.items():
        if key not in params or params[key].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise BadInputError(f"{show(path)}: the stored config of {name} has an unknown key {key!r} "
                                f"(known: {', '.join(p for p in params if p != 'name')})")
        default = spec.defaults.get(key, params[key].default)
        if default is inspect.Parameter.empty:
            default = None
        if not _type_ok(value, default):
            raise BadInputError(f"{show(path)}: the stored config of {name} has {key}={str(value)[:40]!r}, not a "
                                f"{type(default).__name__} like its default {default!r}")
        big = _too_large(value, default)
        if big is not None:
            raise BadInputError(f"{show(path)}: the stored config of {name} has {key}={str(value)[:40]} (default "
                                f"{default!r}; at most {MAX_FACTOR}x a default, never negative); refused before "
                                f"building")


def _all_defaults(name, config):
    """Every stored value is its default (the registered one, else the builder's): the model is the registered one."""
    from .registry import entry
    from .spec import resolve

    spec = entry(name)
    params = inspect.signature(resolve(spec.builder)).parameters

    def same(a, b):
        return (list(a) == list(b)) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b
    return all(same(v, spec.defaults.get(k, params[k].default)) for k, v in config.items() if k != "name")


def predicted_elements(name, config):
    """Numbers in the model `name` built with `config`, counted on its PyTorch twin on the meta device; None when
    torch or a twin is missing or the twin cannot be built there."""
    import importlib.util

    from .registry import entry
    from .spec import resolve

    spec = entry(name)
    if spec.twin is None or importlib.util.find_spec("torch") is None:
        return None
    import torch

    kwargs = {**spec.defaults, **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}}
    kwargs.pop("name", None)
    try:
        with torch.device("meta"):
            twin = resolve(spec.twin)(**kwargs)
        return sum(t.numel() for t in twin.state_dict().values())
    except Exception:  # noqa: BLE001 - a twin that needs real tensors to build: no count, step 1 still holds
        return None


def check_stored_config(path, name, config, file_elements=None):
    """Both checks; `file_elements`: how many numbers the file's tensors hold (read from its headers)."""
    check_schema(path, name, config)
    if file_elements is None or _all_defaults(name, config):
        return  # the registered model itself (the common case): no torch import, no count
    want = predicted_elements(name, config)
    if want is not None and want > SIZE_SLACK * file_elements + SIZE_EXTRA:
        raise BadInputError(f"{show(path)}: the stored config of {name} {config} describes a model of {want:,} "
                            f"numbers, but the file holds {file_elements:,}; refused before building")


def safetensors_elements(path):
    """How many numbers a `.safetensors` file holds, from its header (shapes only); None when unreadable."""
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="numpy") as f:
            total = 0
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= int(d)
                total += n
            return total
    except Exception:  # noqa: BLE001 - read_safetensors has already named a corrupt file
        return None
