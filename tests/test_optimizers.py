"""TorchAdam follows torch.optim.Adam step for step, TF1Adam is tf.compat.v1.train.AdamOptimizer bit for bit, Keras2Adam
is Keras 2's Adam.get_updates bit for bit; they resume from runner checkpoints, serialize, and work under
LossScaleOptimizer and MirroredStrategy. make_adam picks the rule named by a family's spec."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

from deblurkeras import families, registry
from deblurkeras.training import checkpoints, config
from deblurkeras.training.optimizers import SEMANTICS, Keras2Adam, TF1Adam, TorchAdam, make_adam
import tiny_trainers  # tests/ (on sys.path by conftest)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, SHAPE, LR = 100, (8, 50), 1e-3


def gradient_sequence(seed=0):
    """Per-element magnitudes log-uniform in [1e-9, 1e-2], random signs; each element keeps its scale."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-9, -2, SHAPE)
    return [(scale * rng.choice([-1.0, 1.0], SHAPE) * rng.uniform(0.5, 1.5, SHAPE)).astype(np.float32)
            for _ in range(STEPS)]


def initial(seed=1):
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


def torch_run(grads, w0, **kw):
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = torch.optim.Adam([p], lr=LR, **kw)
    for g in grads:
        p.grad = torch.from_numpy(g)
        opt.step()
    return p.detach().numpy()


def keras_run(opt, grads, w0, scale=1.0):
    var = keras.Variable(w0.copy())
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(g * scale)], [var])
    return var.numpy()


def change_error(w, ref, w0):
    """Largest difference of the weight CHANGE relative to the largest change (relative to the weights, any
    difference would hide under their values). torch's vectorised sqrt is not correctly rounded (1 ulp off in ~17%
    of elements), so bit equality is not possible; 100 steps of Adam keep it near 2e-7."""
    return float(np.max(np.abs((w - w0) - (ref - w0))) / np.max(np.abs(ref - w0)))


def zeros():
    """Start from 0 so the weights ARE the change: no rounding of w0 + change in the comparison."""
    return np.zeros(SHAPE, np.float32)


def test_torch_adam_matches_torch_over_100_steps():
    grads, w0 = gradient_sequence(), zeros()
    ref = torch_run(grads, w0)
    assert change_error(keras_run(TorchAdam(learning_rate=LR), grads, w0), ref, w0) <= 1e-6
    # Keras' own Adam (eps on sqrt(v)) is far off on the small-gradient elements: the reason TorchAdam exists
    assert change_error(keras_run(keras.optimizers.Adam(learning_rate=LR, epsilon=1e-8), grads, w0), ref, w0) > 0.1


def test_torch_adam_amsgrad_and_betas():
    grads, w0 = gradient_sequence(2), zeros()
    ref = torch_run(grads, w0, betas=(0.5, 0.99), eps=1e-6, amsgrad=True)
    out = keras_run(TorchAdam(learning_rate=LR, beta_1=0.5, beta_2=0.99, epsilon=1e-6, amsgrad=True), grads, w0)
    assert change_error(out, ref, w0) <= 1e-6


def test_torch_adam_under_loss_scale_optimizer():
    grads, w0 = gradient_sequence(), zeros()
    opt = keras.optimizers.LossScaleOptimizer(TorchAdam(learning_rate=LR), initial_scale=2.0 ** 15)
    out = keras_run(opt, grads, w0, scale=2.0 ** 15)  # the trainers hand it gradients of the scaled loss
    assert change_error(out, torch_run(grads, w0), w0) <= 1e-6


def tf1_run(grads, w0, **kw):
    """The original: tf.compat.v1.train.AdamOptimizer applying the same gradients in a TF1 graph."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        var = tf.compat.v1.get_variable("w", initializer=tf.constant(w0))
        grad = tf.compat.v1.placeholder(tf.float32, w0.shape)
        step = tf.compat.v1.train.AdamOptimizer(LR, **kw).apply_gradients([(grad, var)])
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for g in grads:
                sess.run(step, {grad: g})
            return sess.run(var)


def test_tf1_adam_is_tf1s_adam_optimizer_bit_for_bit():
    grads, w0 = gradient_sequence(), initial()
    ref = tf1_run(grads, w0, beta1=0.9, beta2=0.999, epsilon=1e-8)
    np.testing.assert_array_equal(keras_run(TF1Adam(learning_rate=LR), grads, w0), ref)
    # Keras 3's Adam: 1 - beta_2 in double, beta^t by pow - steps 6.5e-6 off: the reason TF1Adam exists
    assert change_error(keras_run(keras.optimizers.Adam(learning_rate=LR, epsilon=1e-8), grads, w0), ref, w0) > 3e-6


def test_keras2_adam_is_keras2s_update_bit_for_bit():
    """Against Keras 2's Adam.get_updates restated with TF ops (families/dense_gan/original.py; Keras 2 itself does
    not install beside TF 2.21)."""
    import tensorflow as tf
    from deblurkeras.families.dense_gan.original import keras2_adam
    grads, w0 = gradient_sequence(3), initial()
    var, apply = tf.Variable(w0.copy()), keras2_adam(LR, eps=1e-7)
    for g in grads:
        apply([tf.constant(g)], [var])
    ref = var.numpy()
    np.testing.assert_array_equal(keras_run(Keras2Adam(learning_rate=LR), grads, w0), ref)
    assert change_error(keras_run(keras.optimizers.Adam(learning_rate=LR, epsilon=1e-7), grads, w0), ref, w0) > 3e-6


def test_tf1_adam_under_loss_scale_optimizer():
    """Scaled gradients in, the same steps out; beta powers advance once per applied step."""
    grads, w0 = gradient_sequence(), initial()
    opt = keras.optimizers.LossScaleOptimizer(TF1Adam(learning_rate=LR), initial_scale=2.0 ** 15)
    out = keras_run(opt, grads, w0, scale=2.0 ** 15)
    assert change_error(out, tf1_run(grads, w0), w0) <= 1e-6
    assert float(opt.inner_optimizer._beta_powers[1].numpy()) == pytest.approx(0.999 ** STEPS, rel=1e-5)


@pytest.mark.parametrize("cls", [TorchAdam, TF1Adam, Keras2Adam])
def test_adams_serialize(cls):
    opt = cls(learning_rate=3e-4, beta_1=0.8, epsilon=1e-7)
    back = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(back) is cls and back.get_config() == opt.get_config()


class _Holder:
    """The slice of the trainer contract that checkpoints.save_checkpoint / load_checkpoint use."""

    def __init__(self, w0, cls=TorchAdam):
        inp = keras.Input(SHAPE[:1])
        self.model = keras.Model(inp, keras.layers.Dense(SHAPE[1], use_bias=False)(inp))
        self.var = self.model.layers[-1].kernel
        self.var.assign(w0)
        self.opt = cls(learning_rate=LR)
        self.opt.build([self.var])

    def savable_models(self):
        return {"generator": self.model}

    def optimizers(self):
        return {"optimizer": self.opt}

    def build_optimizers(self):
        pass  # built in __init__

    def steps(self, grads):
        for g in grads:
            self.opt.apply([keras.ops.convert_to_tensor(g)], [self.var])


@pytest.mark.parametrize("cls", [TorchAdam, TF1Adam, Keras2Adam])
def test_adams_resume_exactly_from_a_runner_checkpoint(tmp_path, cls):
    grads, w0 = gradient_sequence(), initial()
    straight = _Holder(w0, cls)
    straight.steps(grads)
    first = _Holder(w0, cls)
    first.steps(grads[:37])
    checkpoints.save_checkpoint(first, str(tmp_path / "ckpt"), {"step": 37})
    resumed = _Holder(initial(9), cls)  # different weights: everything must come from the checkpoint
    assert checkpoints.load_checkpoint(resumed, str(tmp_path / "ckpt"))["step"] == 37
    assert int(resumed.opt.iterations.numpy()) == 37
    resumed.steps(grads[37:])
    np.testing.assert_array_equal(resumed.var.numpy(), straight.var.numpy())


def test_make_adam_follows_the_family_spec():
    """make_adam builds the rule a family spec names (each family's own tests hold which one its original used)."""
    t = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
    assert {f.optimizer for f in families.families().values()} <= set(SEMANTICS)
    assert type(make_adam(t, 1e-4, "torch")) is TorchAdam
    assert type(make_adam(t, 1e-4, "tf1")) is TF1Adam
    assert type(make_adam(t, 1e-4, "keras")) is keras.optimizers.Adam
    assert make_adam(families.family("dense_gan").config["train"], 1e-3, "keras2").epsilon == 1e-7
    with pytest.raises(ValueError, match="semantics"):
        make_adam(t, 1e-4, "jax")


@pytest.mark.parametrize("name", [model for runs in tiny_trainers.runs().values() for model, _ in runs])
def test_trainers_use_the_spec_optimizer(name, monkeypatch):
    """The trainer factories build the original framework's Adam, the one the family spec names: TorchAdam where
    the original was PyTorch, TF1Adam for SRN, Keras2Adam for the dense-field GAN (models made tiny)."""
    import importlib
    fam = families.family_of(name)
    cfg = config.load_config(base={**fam.config, "model": {**fam.config.get("model", {}), "name": name}})
    cfg["train"]["total_steps"], cfg["data"]["crop"] = 10, 64
    cfg.setdefault("loss", {})["vgg_weights"] = None
    small = tiny_trainers.tiny_builds()
    real_build = registry.build_model
    monkeypatch.setattr(registry, "build_model", lambda n, **o: real_build(n, **{**o, **small.get(n, {})}))
    trainer = importlib.import_module(fam.trainer).build_trainer(cfg)
    opts = list(trainer.optimizers().values()) if hasattr(trainer, "optimizers") else [trainer.optimizer]
    want = {"torch": TorchAdam, "tf1": TF1Adam, "keras2": Keras2Adam, "keras": keras.optimizers.Adam}[fam.optimizer]
    assert opts and all(type(getattr(o, "inner_optimizer", o)) is want for o in opts)
    assert all(isinstance(o, keras.optimizers.Adam) for o in opts)


_MIRRORED = """
import sys; sys.path.insert(0, {repo!r})
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, torch
from deblurkeras.training.optimizers import TF1Adam, TorchAdam
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 6)).astype(np.float32)
y = (1e-3 * rng.standard_normal((4, 2))).astype(np.float32)
w0 = (0.1 * rng.standard_normal((6, 2))).astype(np.float32)
strategies = {{"default": tf.distribute.get_strategy(), "mirrored": tf.distribute.MirroredStrategy()}}

def fit(strategy, make_optimizer):
    \"\"\"20 steps of a bias-free Dense(2) from w0 on the global batch (x, y): (replicas, kernel, optimizer).\"\"\"
    with strategy.scope():
        inp = keras.Input((6,))
        model = keras.Model(inp, keras.layers.Dense(2, use_bias=False)(inp))
        model.layers[-1].kernel.assign(w0)
        opt = make_optimizer()
        model.compile(optimizer=opt, loss="mse")
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat(), steps_per_epoch=20, epochs=1, verbose=0)
    return strategy.num_replicas_in_sync, model.layers[-1].kernel.numpy(), opt

def change_error(w, ref):
    return float(np.max(np.abs((w - w0) - (ref - w0))) / np.max(np.abs(ref - w0)))

p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
opt = torch.optim.Adam([p], lr=1e-3)
for _ in range(20):
    opt.zero_grad()
    torch.mean((torch.from_numpy(x) @ p - torch.from_numpy(y)) ** 2).backward()
    opt.step()
ref = p.detach().numpy()
for name, strategy in strategies.items():
    n, w, _ = fit(strategy, lambda: TorchAdam(learning_rate=1e-3))
    print(name.upper(), n, change_error(w, ref))
(_, wd, od), (_, wm, om) = (fit(s, lambda: TF1Adam(learning_rate=1e-3)) for s in strategies.values())
print("TF1", change_error(wm, wd), float(od._beta_powers[1].numpy()), float(om._beta_powers[1].numpy()))
"""


def test_adams_under_mirrored_strategy():
    """2 logical CPUs, global batch 4: TorchAdam under MirroredStrategy takes torch's 20 steps; TF1Adam takes the
    single-device steps."""
    out = subprocess.run([sys.executable, "-c", _MIRRORED.format(repo=REPO)], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.stdout.splitlines() if ln.split()}
    assert lines["DEFAULT"][0] == "1" and lines["MIRRORED"][0] == "2"
    assert float(lines["DEFAULT"][1]) < 1e-5 and float(lines["MIRRORED"][1]) < 1e-5
    # TF1Adam: mirrored = one device on the same global batch; beta powers advanced once per step (0.999^20)
    err, power_default, power_mirrored = (float(v) for v in lines["TF1"])
    assert err < 1e-5 and power_default == pytest.approx(0.999 ** 20, rel=1e-6) and power_mirrored == power_default


def test_family_adam_takes_a_precision_not_a_flag():
    """build_trainer(cfg, precision=Precision): float16 is loss-scaled, bfloat16 and float32 are not; the old
    boolean flag is refused instead of read as a precision."""
    import keras
    import pytest

    from deblurkeras.precision import resolve
    from deblurkeras.training.optimizers import family_adam

    t = {"total_steps": 10, "lr": 1e-3, "schedule": "constant"}
    assert isinstance(family_adam(t, "keras", resolve("float16")), keras.optimizers.LossScaleOptimizer)
    for p in (None, "float32", resolve("bfloat16")):
        assert not isinstance(family_adam(t, "keras", p), keras.optimizers.LossScaleOptimizer)
    with pytest.raises(ValueError, match="unknown precision"):
        family_adam(t, "keras", True)
