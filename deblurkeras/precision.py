"""Compute precision: float32 (the faithful default), bfloat16 or float16 through Keras' mixed policies.

    resolve("auto")  -> Precision(name="bfloat16", policy="mixed_bfloat16", reason="auto: CPU has amx_bf16 ...")
    with scope(p):   -> builds made inside use that policy; the previous global policy is restored after

Mixed policies keep the variables in float32 and compute in the low precision; the models' outputs are cast back to
float32 before anything is clipped or rounded (see deblurkeras.inference).
`auto` picks bfloat16 only where the hardware computes it natively: a CPU with the `amx_bf16` or `avx512_bf16` flag,
or a GPU of compute capability 8.0 or newer; elsewhere bfloat16 is emulated (slower than float32), so it picks
float32. It never picks float16: that is a GPU training option named explicitly.

Losses and metrics are computed in `loss_dtype()`: float32 under every policy above (outputs are cast up first), and
float64 only when Keras' floatx is float64 - the float64 parity runs (`experiments/train_parity.py --float64`),
which take float32 rounding out of a comparison with the original training code.

A model loaded from a `.keras` file keeps the dtype policy saved in the file; `apply` rebuilds such a model under
the wanted policy and copies the weights into it.
"""
import contextlib
import dataclasses

NAMES = ("float32", "bfloat16", "float16", "auto")
CLI_CHOICES = ("float32", "bfloat16", "auto")        # inference: float16 is a GPU training setting only
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclasses.dataclass(frozen=True)
class Precision:
    name: str       # float32 | bfloat16 | float16
    policy: str     # the Keras dtype policy name
    reason: str     # one line: what was chosen and why

    def __str__(self):
        return self.reason


def loss_dtype():
    """float64 when Keras' floatx is float64 (models built that way compute in float64), else float32."""
    import keras
    return "float64" if keras.config.floatx() == "float64" else "float32"


def to_loss_dtype(x):
    """`x` (a model output, a batch) cast to `loss_dtype()`."""
    from keras import ops
    return ops.cast(x, loss_dtype())


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU feature flags (the first `flags` line of /proc/cpuinfo); empty where there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpus_with_bf16():
    """[(name, compute capability)] of the visible GPUs that compute bfloat16 natively (capability >= 8.0)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        cc = tuple(details.get("compute_capability") or (0, 0))
        if cc >= (8, 0):
            found.append((details.get("device_name", gpu.name), cc))
    return found


def detect(flags=None, gpus=None):
    """(bfloat16 is native here?, why) - `flags` / `gpus` default to this machine's (injectable for tests)."""
    flags = cpu_flags() if flags is None else set(flags)
    native = [f for f in CPU_BF16_FLAGS if f in flags]
    if native:
        return True, f"the CPU has {' and '.join(native)}"
    gpus = gpus_with_bf16() if gpus is None else list(gpus)
    if gpus:
        name, cc = gpus[0]
        return True, f"GPU {name} (compute capability {cc[0]}.{cc[1]}) computes bfloat16 natively"
    return False, f"neither the CPU ({'/'.join(CPU_BF16_FLAGS)} absent) nor a GPU computes bfloat16 natively"


def resolve(name="float32", flags=None, gpus=None):
    """A precision name (or a Precision, or None = float32) -> Precision with a one-line reason."""
    if isinstance(name, Precision):
        return name
    name = "float32" if name is None else str(name).lower()
    if name not in NAMES:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(NAMES)}")
    if name != "auto":
        what = "the faithful default" if name == "float32" else "as asked; variables stay float32"
        return Precision(name, POLICIES[name], f"precision {name} ({POLICIES[name]} policy, {what})")
    native, why = detect(flags, gpus)
    chosen = "bfloat16" if native else "float32"
    return Precision(chosen, POLICIES[chosen], f"precision auto -> {chosen}: {why}")


@contextlib.contextmanager
def scope(precision="float32"):
    """Set Keras' global dtype policy for the models built inside; restore the previous one on exit."""
    import keras

    p = resolve(precision)
    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(p.policy)
    try:
        yield p
    finally:
        keras.mixed_precision.set_global_policy(old)


def _weighted_layers(model):
    """The layers that compute with weights, nested models included (a functional model's own policy is not
    saved in a .keras file, its layers' policies are)."""
    return [layer for layer in model._flatten_layers(include_self=False) if layer.weights]


def model_policy(model):
    """The dtype policy the model's layers compute in ("float32", "mixed_bfloat16", ...; "mixed" if they differ)."""
    names = {layer.dtype_policy.name for layer in _weighted_layers(model)} or {model.dtype_policy.name}
    return names.pop() if len(names) == 1 else "mixed"


def apply(model, precision="float32"):
    """`model` computing in `precision`: itself if it already does, else a clone built under the policy with the
    same weights (variables float32 either way, so the copy is exact)."""
    import keras

    p = resolve(precision)
    if model_policy(model) == p.policy and model.dtype_policy.name == p.policy:
        return model

    def rebuild(layer):
        config = layer.get_config()
        config["dtype"] = p.policy
        return layer.__class__.from_config(config)

    with scope(p):
        clone = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    clone.set_weights(model.get_weights())
    from .registry import IDENTITY_ATTR  # what the model is (name, builder config) travels with it
    if hasattr(model, IDENTITY_ATTR):
        setattr(clone, IDENTITY_ATTR, getattr(model, IDENTITY_ATTR))
    return clone


def build(make_model, precision="float32", announce=None):
    """`make_model()` (a builder or loader) run under the policy of `precision`, and the result made to compute in
    it (`apply`: a .keras file's saved policy is replaced). `announce(line)` gets the one-line reason unless the
    precision is the default float32."""
    p = resolve(precision)
    if announce is not None and (precision not in (None, "float32")):
        announce(p.reason)
    with scope(p):
        model = make_model()
    return apply(model, p)


def add_argument(parser):
    """The shared `--precision` option of deblur / eval / upscale."""
    parser.add_argument("--precision", choices=CLI_CHOICES, default="float32",
                        help="compute precision: float32 (default, faithful), bfloat16 (Keras mixed_bfloat16: "
                             "variables float32, outputs cast back to float32), or auto (bfloat16 where the CPU has "
                             "amx_bf16/avx512_bf16 or the GPU computes bf16, else float32)")


def from_run_config(run_cfg):
    """`run.precision` of a training config, honouring the deprecated `run.mixed_precision` (true -> float16)."""
    name = run_cfg.get("precision")
    legacy = run_cfg.get("mixed_precision")
    if legacy and (name in (None, "float32")):
        return "float16"
    return name or "float32"
