"""Train-step parity: each family's trainer against an independent restatement of its original's training step.

    python experiments/train_parity.py                       # every family, 128x128 crops, batch 2, K = 5
    python experiments/train_parity.py --cases dmphn srgan --size 64 --batch 1
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
  weights   max over tensors of max|W_ours - W_ref| / max|W_ref| after K steps (issue 11's "weights" target)
  floor     the same reference run again in a subprocess with other numerics (TF_ENABLE_ONEDNN_OPTS=0, one
            thread, torch without mkldnn): what float32 on this CPU cannot tell apart.
Targets: loss <= 1e-5 (2e-5 for DMPHN / SRResNet / SRGAN), change <= 3x the floor's change.
--float64 runs both sides in float64 (Keras floatx, torch's default dtype, the TF1 graph's dtype) and adds the
max relative weight difference after K steps ("weights"): with float32 rounding gone, what remains is a difference
in the algorithm. The float64 targets are issue 11's: loss <= 1e-5, weights <= 1e-4 (the floor, if not --no-floor,
is then float64's own: the same other numerics, in float64).
References: experiments/parity_refs.py.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, HERE]  # deblurkeras, and the reference modules beside this script

import numpy as np  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(REPO), "shared", "data", "side_by_side_small", "train")
CASES = ("srn-color", "srn-lstm", "dmphn", "stack-dmphn", "srresnet", "srgan", "dense-gan")
LOSS_TOL = {"dmphn": 2e-5, "stack-dmphn": 2e-5, "srresnet": 2e-5, "srgan": 2e-5}
TORCH_CASES = ("dmphn", "stack-dmphn", "srresnet", "srgan")
WEIGHTS_TOL = 1e-4  # float64 runs: max relative difference of the weights after K steps (issue 11)


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
    from deblurkeras import registry as families  # the name the trainers' build_model is looked up under

    @contextlib.contextmanager
    def patch():
        real = families.build_model
        families.build_model = lambda name, **kw: real(name, **{**small.get(name, {}), **kw})
        try:
            yield
        finally:
            families.build_model = real
    return patch()


def setup_case(case, opts):
    """Our trainer (built by the family's build_trainer from the family's shipped defaults), the initial weights
    for the reference, and the names / optimizers of every compared variable."""
    import keras
    from deblurkeras import families
    from deblurkeras.training import config

    keras.utils.set_random_seed(int(opts["seed"]))
    tiny = bool(opts.get("tiny"))
    fam_name = {"srn-color": "srn", "srn-lstm": "srn", "dmphn": "dmphn", "stack-dmphn": "dmphn", "srresnet": "sr",
                "srgan": "sr", "dense-gan": "dense_gan"}[case]
    fam = families.family(fam_name)
    model_name = {"srn-color": "srn-color", "srn-lstm": "srn-lstm", "srresnet": "srresnet-x4",
                  "srgan": "srgan-x4", "dense-gan": "dense-gan",
                  "dmphn": "dmphn-1-2-4" if tiny else "dmphn-1-2-4-8",
                  # 3 stacks: the smallest where the released lv2 quirk (stack 1's output, not stack k-1's) shows
                  "stack-dmphn": "stack-dmphn-3" if tiny else "stack-dmphn-4"}[case]
    cfg = config.load_config(base={**fam.config, "model": {**fam.config.get("model", {}), "name": model_name}})
    cfg["train"].update(lr=float(opts["lr"]), total_steps=int(opts["total_steps"]))
    cfg["data"]["crop"] = int(opts["size"])
    small = {}
    if case == "dense-gan":
        cfg["model"]["dropout"] = False  # random masks cannot be shared with the reference
        cfg["loss"]["vgg_weights"] = None
        cfg["train"]["lr"] = 1e-3        # main.py: Keras 2 default
        if tiny:
            cfg["model"].update(channel_rate=8, d_filters=8, patch_size=16)
    if case == "srgan":
        cfg["loss"].update(vgg_weights=None, vgg_preprocess="torch")  # the tutorial's VGG input convention
        if tiny:
            small = {"srgan-x4": {"channels": 8, "n_blocks": 1},
                     "srgan-d": {"channels": 8, "n_blocks": 4, "fc_size": 16}}
    if case == "srresnet" and tiny:
        small = {"srresnet-x4": {"channels": 8, "n_blocks": 1}}
    import warnings
    with _patched_builders(small), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "vgg: random weights" - intended here
        trainer = config.family_module(cfg).build_trainer(cfg)
    lr = cfg["train"]["lr"]
    if opts.get("dtype") == "float64":
        # Keras' schedules compute in float32 whatever floatx is: the reference gets the very value our optimizer
        # applies (1e-4 -> 9.99999974738e-05), not a rounding apart from it
        from deblurkeras.training.schedules import current_lr
        lr = current_lr(getattr(trainer, "g_optimizer", None) or trainer.optimizer)
    opts = {**opts, "lr": lr, "epsilon": cfg["train"].get("epsilon", 1e-8)}
    return _describe(case, trainer, opts, small)


def _describe(case, trainer, opts, small):
    from deblurkeras.convert.export import build_twin

    if case.startswith("srn"):
        g = trainer.generator
        return {"trainer": trainer, "params": keras_params(g, "", trainer.optimizer), "skip": set(),
                "init": {v.path: v.numpy() for v in g.trainable_variables}, "loss_keys": ["loss"],
                "ref_opts": {**opts, "lstm": case.endswith("lstm"), "channels": g.inputs[0].shape[-1]}}
    if case == "dmphn":
        g = trainer.generator
        levels = sum(1 for layer in g.layers if layer.name.startswith("encoder_lv"))
        twin = build_twin(f"dmphn-{'-'.join(str(2 ** i) for i in range(levels))}")
        return {"trainer": trainer, "params": torch_params(g, twin, "", trainer.optimizer), "skip": set(),
                "init": torch_init(g, twin, ""), "loss_keys": ["loss"], "ref_opts": {**opts, "levels": levels}}
    if case == "stack-dmphn":
        g = trainer.generator
        stacks = len(g.outputs)
        twin = build_twin(f"stack-dmphn-{stacks}")
        return {"trainer": trainer, "params": torch_params(g, twin, "", trainer.optimizer), "skip": set(),
                "init": torch_init(g, twin, ""), "loss_keys": ["loss"], "ref_opts": {**opts, "stacks": stacks}}
    if case == "srresnet":
        g = trainer.generator
        kw = small.get("srresnet-x4", {})
        twin = build_twin("srresnet-x4", kw)
        params = torch_params(g, twin, "", trainer.optimizer)
        skip = {n for n, v, _, _ in params if v.path in bn_fed_biases(g)}
        return {"trainer": trainer, "params": params, "skip": skip, "init": torch_init(g, twin, ""),
                "loss_keys": ["loss"], "ref_opts": {**opts, "g_kw": kw}}
    if case == "srgan":
        g, d = trainer.generator, trainer.discriminator
        g_kw = small.get("srgan-x4", {})
        d_kw = {**small.get("srgan-d", {}), "size": int(opts["size"])}
        g_twin, d_twin = build_twin("srgan-x4", g_kw), build_twin("srgan-d", d_kw)
        params = torch_params(g, g_twin, "g.", trainer.g_optimizer) + torch_params(d, d_twin, "d.",
                                                                                     trainer.d_optimizer)
        fed = bn_fed_biases(g) | bn_fed_biases(d)
        skip = {n for n, v, _, _ in params if v.path in fed}
        init = {**torch_init(g, g_twin, "g."), **torch_init(d, d_twin, "d.")}
        convs = _convs(trainer.features)
        assert len(convs) == 16, len(convs)
        for i, layer in enumerate(convs):
            init[f"vgg.{i}.weight"] = layer.kernel.numpy().transpose(3, 2, 0, 1).copy()
            init[f"vgg.{i}.bias"] = layer.bias.numpy()
        return {"trainer": trainer, "params": params, "skip": skip, "init": init,
                "loss_keys": ["content", "adversarial", "d_loss"],
                "ref_opts": {**opts, "g_kw": g_kw, "d_kw": {k: v for k, v in d_kw.items() if k != "size"}}}
    if case == "dense-gan":
        g, d = trainer.generator, trainer.discriminator
        params = keras_params(g, "g/", trainer.g_optimizer) + keras_params(d, "d/", trainer.d_optimizer)
        fed = bn_fed_biases(g) | bn_fed_biases(d)
        skip = {n for n, v, _, _ in params if v.path in fed}
        init = {f"{p}/{v.path}": v.numpy() for p, m in (("g", g), ("d", d), ("vgg", trainer.content_loss.features))
                for v in m.weights}
        return {"trainer": trainer, "params": params, "skip": skip, "init": init,
                "loss_keys": ["d_loss", "g_adv", "g_content"], "ref_opts": opts}
    raise ValueError(case)


def _convs(model):
    import keras
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _convs(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            out.append(layer)
    return out


# ----------------------------------------------------------------------------------------------- reference side
def run_reference(case, init, batches, ref_opts):
    import parity_refs as refs

    if case.startswith("srn"):
        return refs.run_srn(init, batches, ref_opts)
    if case == "dmphn":
        return refs.run_dmphn(init, batches, ref_opts)
    if case == "stack-dmphn":
        return refs.run_stack_dmphn(init, batches, ref_opts)
    if case == "srresnet":
        return refs.run_srresnet(init, batches, ref_opts)  # (LR, HR) pairs
    if case == "srgan":
        return refs.run_srgan(init, batches, ref_opts)
    if case == "dense-gan":
        return refs.run_dense_gan(dense_models(init, ref_opts), signed(batches), ref_opts)
    raise ValueError(case)


def signed(batches):
    return [(2.0 * x - 1.0, 2.0 * y - 1.0) for x, y in batches]


def dense_models(init, opts):
    """Fresh copies of our dense-field G, D and VGG16 features (same builders), weights from `init`."""
    import warnings
    from deblurkeras import families
    from deblurkeras.families.dense_gan.trainer import make_content_loss

    tiny, size = bool(opts.get("tiny")), int(opts["size"])
    g = families.build_model("dense-gan", dropout=False, **({"channel_rate": 8} if tiny else {}))
    d = families.build_model("dense-gan-d", image_shape=(size, size, 3), batch_patches=False,
                             **({"filters": 8, "patch_size": 16} if tiny else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vgg = make_content_loss(vgg_weights=None).features
    for prefix, model in (("g", g), ("d", d), ("vgg", vgg)):
        for v in model.weights:
            v.assign(init[f"{prefix}/{v.path}"])
    return g, d, vgg


def case_batches(case, opts):
    batches = real_batches(int(opts["steps"]), int(opts["batch"]), int(opts["size"]), int(opts["seed"]),
                           opts.get("data", SAMPLES), np.dtype(opts.get("dtype", "float32")))
    if case in ("srresnet", "srgan"):
        return sr_batches(batches)
    return batches


def our_batches(case, batches):
    return signed(batches) if case == "dense-gan" else batches


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
        cmd = [sys.executable, os.path.abspath(__file__), "--_reference", case, src, dst, json.dumps(ref_opts)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            raise RuntimeError(f"reference subprocess for {case} failed:\n{proc.stderr[-3000:]}")
        return _load(dst)


def _reference_main(case, src, dst, ref_opts):
    """Subprocess entry: other numerics (one thread; torch without mkldnn; TF without oneDNN from the env)."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    if case in TORCH_CASES:
        import torch
        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False
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
    ours = run_ours(setup, our_batches(case, batches))
    row = {"case": case, "ours": compare(ours, ref, setup["init"], setup["skip"]),
           "skipped": sorted(setup["skip"])}
    if floor:
        again = reference_in_subprocess(case, setup["init"], batches, setup["ref_opts"])
        row["floor"] = compare(again, ref, setup["init"], setup["skip"])
    row["loss_target"] = LOSS_TOL.get(case, 1e-5) if opts["dtype"] == "float32" else 1e-5
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_reference":
        return _reference_main(*argv[1:5])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--no-floor", action="store_true", help="skip the noise-floor subprocess")
    p.add_argument("--tiny", action="store_true", help="small channel counts / blocks (what the tests run)")
    p.add_argument("--float64", action="store_true",
                   help="both sides in float64 (no floor): what remains is a difference in the algorithm")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    import deblurkeras  # noqa: F401 (Keras backend)
    rows = []
    for case in args.cases:
        rows.append(parity(case, args.size, args.batch, args.steps, args.lr, tiny=args.tiny,
                           floor=not args.no_floor, dtype="float64" if args.float64 else "float32"))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows, args.size, args.batch, args.steps))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
