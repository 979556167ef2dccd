"""Train-step parity: each family's trainer against an independent restatement of its original's training step
(the family's `original` module; its cases are the family spec's `parity`, deblurkeras.spec.ParityCase).

Printed by `python experiments/train_parity.py` (experiments/README.md), held by tests/test_train_parity.py.
Both sides start from the same weights (ours exported with deblurkeras.convert.export for the PyTorch originals,
by Keras path for the TF ones) and take the same K batches of real crops from the sample set (SR: HR crops of the
sharp halves, LR = bicubic /4). Columns:
  gradient  rel. L2 difference of the first-batch gradients (ours: Adam's first moment / (1 - beta_1))
  loss      worst relative difference of the per-step losses over K steps (every loss term of a GAN); the JSON
            rows also give it per step ("loss_per_step")
  change    rel. L2 difference of the weight CHANGE after K steps, ||dW_ours - dW_ref|| / ||dW_ref||
            (relative to the weights any gap would hide under the initial values). Conv biases that feed straight
            into a BatchNorm are left out: their gradient is 0 by construction and Adam turns float noise into
            full-size steps on both sides.
  weights   max over tensors of max|W_ours - W_ref| / max|W_ref| after K steps
  floor     the same reference run again in a subprocess with other numerics (TF_ENABLE_ONEDNN_OPTS=0, one
            thread, torch without mkldnn): what float32 on this CPU cannot tell apart.
Targets: loss <= 1e-5 (2e-5 for DMPHN / SRResNet / SRGAN), change <= 3x the floor's change.
--float64 runs both sides in float64 (Keras floatx, torch's default dtype, the TF1 graph's dtype) and adds the
max relative weight difference after K steps ("weights"): with float32 rounding gone, what remains is a difference
in the algorithm. The float64 targets: loss <= 1e-5, weights <= 1e-4 (the floor, if not --no-floor,
is then float64's own: the same other numerics, in float64).
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(os.path.dirname(REPO), "shared", "data", "side_by_side_small", "train")
WEIGHTS_TOL = 1e-4  # float64 runs: max relative difference of the weights after K steps


def cases():
    """case name -> (FamilySpec, ParityCase), every registered family's, in registry order."""
    from .. import registry

    return {c.name: (fam, c) for fam in registry.families().values() for c in fam.parity}


def case_spec(name):
    all_cases = cases()
    if name not in all_cases:
        raise ValueError(f"unknown parity case {name!r}; expected one of {list(all_cases)}")
    return all_cases[name]


def original(name):
    """The module restating the original of case `name`'s family (describe, run_reference)."""
    return importlib.import_module(case_spec(name)[0].original)


# ----------------------------------------------------------------------------------------------- data
def real_batches(k, batch, size, seed=0, folder=SAMPLES, dtype=np.float32):
    """K (blurred, sharp) batches of random size x size crops of the side-by-side sample set, in [0, 1]."""
    from deblurkeras.imageio import load_image

    files = sorted(os.listdir(folder))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        xs, ys = [], []
        for name in rng.choice(files, batch, replace=False):
            img = np.asarray(load_image(os.path.join(folder, name)), dtype) / 255.0
            half = img.shape[1] // 2
            sharp, blurred = img[:, :half], img[:, half:]
            top, left = rng.integers(0, sharp.shape[0] - size + 1), rng.integers(0, half - size + 1)
            ys.append(sharp[top:top + size, left:left + size])
            xs.append(blurred[top:top + size, left:left + size])
        out.append((np.stack(xs), np.stack(ys)))
    return out


def sr_batches(batches, scale=4):
    """(LR, HR): the sharp crops and their bicubic (antialiased) /scale versions."""
    import tensorflow as tf
    out = []
    for _, hr in batches:
        h, w = hr.shape[1:3]
        lr = tf.clip_by_value(tf.image.resize(hr, (h // scale, w // scale), "bicubic", antialias=True), 0, 1)
        out.append((lr.numpy().astype(hr.dtype), hr))
    return out


# ----------------------------------------------------------------------------------------------- our side
def bn_fed_biases(model):
    """Paths of conv biases whose output goes straight into a BatchNormalization (nested models included)."""
    import keras
    out = set()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out |= bn_fed_biases(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            src = layer.input._keras_history.operation
            if isinstance(src, keras.layers.Conv2D) and src.use_bias:
                out.add(src.bias.path)
    return out


def torch_params(model, twin, prefix, optimizer):
    """[(name, keras variable, torch shape, optimizer)] in the twin's state_dict names and layout."""
    from deblurkeras.convert.export import keras_path, keras_variables
    kv = keras_variables(model)
    return [(prefix + key, kv[keras_path(twin, key)], tuple(t.shape), optimizer)
            for key, t in twin.state_dict().items()
            if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))]


def torch_init(model, twin, prefix):
    """The exporter's state_dict, each value taken from its Keras variable in that variable's own dtype (the
    exporter writes float32; a float64 run must start the reference from the exact float64 weights)."""
    from deblurkeras.convert.export import keras_path, keras_to_torch_state, keras_variables
    kv = keras_variables(model)
    return {prefix + k: _layout(kv[keras_path(twin, k)].numpy(), tuple(v.shape))
            for k, v in keras_to_torch_state(model, twin).items() if not k.endswith("num_batches_tracked")}


def keras_params(model, prefix, optimizer):
    return [(prefix + v.path, v, None, optimizer) for v in model.trainable_variables]


def _layout(array, shape):
    from deblurkeras.convert.export import to_torch_layout
    return to_torch_layout(array, shape) if shape is not None else array


def run_ours(setup, batches):
    """K train steps of our trainer (tf.function, as fit runs it); per-step losses, first gradient, weights."""
    import tensorflow as tf
    trainer = setup["trainer"]
    step = tf.function(trainer.train_step)
    losses, grad = [], None
    for i, (x, y) in enumerate(batches):
        for m in trainer.metrics:
            m.reset_state()
        out = step((tf.constant(x), tf.constant(y)))
        losses.append([float(out[k]) for k in setup["loss_keys"]])
        if i == 0:  # Adam's first moment after one step from zero is (1 - beta_1) * gradient
            grad = {}
            for name, var, shape, opt in setup["params"]:
                m = opt._momentums[opt._get_variable_index(var)].numpy()
                grad[name] = _layout(m / (1.0 - _beta_1(opt, m.dtype)), shape)
    w = {name: _layout(var.numpy(), shape) for name, var, shape, _ in setup["params"]}
    return {"losses": np.array(losses), "grad": grad, "w": w}


def _beta_1(opt, dtype):
    """beta_1 as the optimizer computes 1 - beta_1: TF1Adam from float32(beta_1), Keras2Adam in the weights'
    dtype, the others in double."""
    from deblurkeras.training.optimizers import Keras2Adam, TF1Adam
    if isinstance(opt, TF1Adam):
        return float(np.float32(opt.beta_1))
    return float(np.asarray(opt.beta_1, dtype)) if isinstance(opt, Keras2Adam) else opt.beta_1


def _patched_builders(small):
    """Trainer factories build registered models by name; `small` adds size overrides per model name."""
    import contextlib
    from .. import registry  # the module the trainers' build_model is looked up in

    @contextlib.contextmanager
    def patch():
        real = registry.build_model
        registry.build_model = lambda name, **kw: real(name, **{**small.get(name, {}), **kw})
        try:
            yield
        finally:
            registry.build_model = real
    return patch()


def _merge(cfg, overrides):
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)


def setup_case(case, opts):
    """Our trainer (built by the family's build_trainer from the family's shipped defaults and the case's
    overrides), the initial weights for the reference, and the names / optimizers of every compared variable
    (the family's `original.describe`)."""
    import warnings

    import keras
    from . import config

    keras.utils.set_random_seed(int(opts["seed"]))
    fam, spec = case_spec(case)
    tiny = bool(opts.get("tiny"))
    model_name = (spec.tiny_model or spec.model) if tiny else spec.model
    cfg = config.load_config(base={**fam.config, "model": {**fam.config.get("model", {}), "name": model_name}})
    cfg["train"].update(lr=float(opts["lr"]), total_steps=int(opts["total_steps"]))
    cfg["data"]["crop"] = int(opts["size"])
    _merge(cfg, spec.config)
    if tiny:
        _merge(cfg, spec.tiny_config)
    small = dict(spec.tiny_builds) if tiny else {}
    with _patched_builders(small), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "vgg: random weights" - intended here
        trainer = config.family_module(cfg).build_trainer(cfg)
    lr = cfg["train"]["lr"]
    if opts.get("dtype") == "float64":
        # Keras' schedules compute in float32 whatever floatx is: the reference gets the very value our optimizer
        # applies (1e-4 -> 9.99999974738e-05), not a rounding apart from it
        from .schedules import current_lr
        lr = current_lr(getattr(trainer, "g_optimizer", None) or trainer.optimizer)
    opts = {**opts, "lr": lr, "epsilon": cfg["train"].get("epsilon", 1e-8), **spec.options}
    return original(case).describe(case, trainer, opts, small)


# ----------------------------------------------------------------------------------------------- reference side
def run_reference(case, init, batches, ref_opts):
    """The family's restated original step loop from `init` over `batches` (original.run_reference)."""
    return original(case).run_reference(case, init, batches, ref_opts)


def signed(batches):
    return [(2.0 * x - 1.0, 2.0 * y - 1.0) for x, y in batches]


def case_batches(case, opts):
    """What both sides train on (ParityCase.data): real crops in [0, 1], in [-1, 1], or SR (LR, HR) pairs."""
    batches = real_batches(int(opts["steps"]), int(opts["batch"]), int(opts["size"]), int(opts["seed"]),
                           opts.get("data", SAMPLES), np.dtype(opts.get("dtype", "float32")))
    kind = case_spec(case)[1].data
    if kind == "sr":
        return sr_batches(batches)
    return signed(batches) if kind == "signed" else batches


# ----------------------------------------------------------------------------------------------- metrics
def _vec(d, names):
    return np.concatenate([np.asarray(d[n], np.float64).ravel() for n in names])


def compare(a, b, w0, skip=()):
    """Metrics of run `a` against run `b` (both from weights w0)."""
    names = sorted(n for n in b["grad"] if n not in skip)  # trainable weights (not BN running statistics)
    gb, wb0 = _vec(b["grad"], names), _vec(w0, names)
    grad = float(np.linalg.norm(_vec(a["grad"], names) - gb) / np.linalg.norm(gb))
    da, db = _vec(a["w"], names) - wb0, _vec(b["w"], names) - wb0
    change = float(np.linalg.norm(da - db) / np.linalg.norm(db))
    la, lb = np.asarray(a["losses"], np.float64), np.asarray(b["losses"], np.float64)
    per_step = np.max(np.abs(la - lb) / np.abs(lb), axis=1)  # worst loss term of each step
    loss = float(np.max(per_step))
    per_tensor = {n: float(np.max(np.abs(np.asarray(a["w"][n], np.float64) - b["w"][n]))
                           / max(float(np.max(np.abs(b["w"][n]))), 1e-30)) for n in names}
    worst = max(per_tensor, key=per_tensor.get)
    return {"grad": grad, "loss": loss, "change": change, "weights": per_tensor[worst], "weights_worst": worst,
            "loss_per_step": [float(v) for v in per_step]}


# ----------------------------------------------------------------------------------------------- noise floor
def _save(path, tree):
    flat = {}
    for top, value in tree.items():
        if isinstance(value, dict):
            for k, v in value.items():
                flat[f"{top}::{k}"] = np.asarray(v)
        elif isinstance(value, list):
            for i, (x, y) in enumerate(value):
                flat[f"{top}::{i:03d}x"], flat[f"{top}::{i:03d}y"] = x, y
        else:
            flat[top] = np.asarray(value)
    np.savez(path, **flat)


def _load(path):
    tree = {}
    with np.load(path) as z:
        for key in z.files:
            top, _, sub = key.partition("::")
            if sub:
                tree.setdefault(top, {})[sub] = z[key]
            else:
                tree[top] = z[key]
    for top in ("batches",):
        if top in tree:
            d = tree[top]
            tree[top] = [(d[f"{i:03d}x"], d[f"{i:03d}y"]) for i in range(len(d) // 2)]
    return tree


def reference_in_subprocess(case, init, batches, ref_opts, timeout=3000):
    """The reference once more, in a fresh process with other numerics: the noise floor."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        _save(src, {"init": init, "batches": batches})
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, "-m", __name__, "--_reference", case, src, dst, json.dumps(ref_opts)]
        env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            raise RuntimeError(f"reference subprocess for {case} failed:\n{proc.stderr[-3000:]}")
        return _load(dst)


def _reference_main(case, src, dst, ref_opts):
    """Subprocess entry: other numerics (one thread; torch without mkldnn; TF without oneDNN from the env)."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    try:  # the PyTorch references' numerics too (harmless for the TF ones)
        import torch
        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False
    except ImportError:
        pass
    data = _load(src)
    ref_opts = json.loads(ref_opts)
    if ref_opts.get("dtype") == "float64":  # the dense-field GAN reference builds Keras models
        import keras
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
    result = run_reference(case, data["init"], data["batches"], ref_opts)
    _save(dst, {"losses": result["losses"], "grad": result["grad"], "w": result["w"]})


# ----------------------------------------------------------------------------------------------- driver
def parity(case, size=128, batch=2, steps=5, lr=1e-4, seed=0, tiny=False, floor=True, data=SAMPLES,
           dtype="float32"):
    """One row: metrics of ours vs the reference, and of the reference vs itself with other numerics.
    dtype "float64": both sides in float64 (Keras floatx is set for the call and restored after)."""
    import keras
    opts = {"size": size, "batch": batch, "steps": steps, "lr": lr, "seed": seed, "tiny": tiny,
            "total_steps": 1_000_000, "data": data, "dtype": dtype}
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)  # an earlier explicit global policy would override floatx
    try:
        return _parity(case, opts, floor)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _parity(case, opts, floor):
    setup = setup_case(case, opts)
    batches = case_batches(case, opts)
    ref = run_reference(case, setup["init"], batches, setup["ref_opts"])
    ours = run_ours(setup, batches)
    row = {"case": case, "ours": compare(ours, ref, setup["init"], setup["skip"]),
           "skipped": sorted(setup["skip"])}
    if floor:
        again = reference_in_subprocess(case, setup["init"], batches, setup["ref_opts"])
        row["floor"] = compare(again, ref, setup["init"], setup["skip"])
    row["loss_target"] = case_spec(case)[1].loss_tol if opts["dtype"] == "float32" else 1e-5
    row["dtype"] = opts["dtype"]
    return row


def within_target(row):
    """float32: loss <= the case's target and change <= 3x the floor's; float64: loss <= 1e-5, weights <= 1e-4."""
    o, f = row["ours"], row.get("floor")
    if row.get("dtype") == "float64":
        return o["loss"] <= row["loss_target"] and o["weights"] <= WEIGHTS_TOL
    return o["loss"] <= row["loss_target"] and (f is None or o["change"] <= 3 * max(f["change"], 1e-12))


def table(rows, size, batch, steps):
    dtype = rows[0].get("dtype", "float32") if rows else "float32"
    lines = [f"Train-step parity, {size}x{size} crops, batch {batch}, K = {steps} steps, {dtype} CPU",
             "| case | first-batch gradient (rel.) | loss, worst of K (rel.) | weight change after K (rel. L2) "
             "| weights after K (max rel.) | floor: gradient / loss / change | within target |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        o, f = r["ours"], r.get("floor")
        fl = f"{f['grad']:.1e} / {f['loss']:.1e} / {f['change']:.1e}" if f else "-"
        lines.append(f"| {r['case']} | {o['grad']:.1e} | {o['loss']:.1e} | {o['change']:.1e} | {o['weights']:.1e} "
                     f"| {fl} | {'yes' if within_target(r) else 'NO'} |")
    return "\n".join(lines)


if __name__ == "__main__" and sys.argv[1:2] == ["--_reference"]:  # reference_in_subprocess's entry
    _reference_main(*sys.argv[2:6])
