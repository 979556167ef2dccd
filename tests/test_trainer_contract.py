"""The trainer contract, for every registered family, through the real runner on a tiny HDF5 file.

Parametrized over deblurkeras.families.families() (each family spec's test_runs / test_builds say how its trainers
become tiny; a family without test_runs fails here). Per trainer: 3 steps with a good checkpoint; an injected NaN
batch stops the run naming the last good checkpoint; Keras' standard data ((x, y), (x, y, None), fit on arrays).
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deblurkeras.training import checkpoints, config, contract, loop
import tiny_trainers
from tiny_trainers import cases, user_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASE_IDS = [f"{f}-{m}" for f, m, _ in cases()]


@pytest.fixture
def tiny(monkeypatch):
    tiny_trainers.install(monkeypatch.setattr)


def _need_case(family, model):
    if model is None:
        pytest.fail(f"family {family!r} has no tiny run: add test_runs to its FamilySpec")


def test_every_family_has_a_case():
    from deblurkeras.families import families
    assert [name for name, fam in families().items() if not fam.test_runs] == []


def _weights(model):
    return [np.asarray(v.numpy()).copy() for v in model.weights]


# ------------------------------------------------------------------------------------------------ steps + NaN guard
def _poison_from(monkeypatch, first_bad_step):
    """Batches from `first_bad_step` (1-based) on carry NaN inputs."""
    import tensorflow as tf

    real = loop.build_datasets

    def poisoned(trainer, cfg, start_step):
        train, val = real(trainer, cfg, start_step)

        def poison(i, batch):
            x, y = batch
            bad = i + start_step + 1 >= first_bad_step
            return tf.where(bad, x * np.float32("nan"), x), y

        return train.enumerate().map(poison), val

    monkeypatch.setattr(loop, "build_datasets", poisoned)


def _finite_h5(path):
    import h5py
    arrays = []
    with h5py.File(path, "r") as h:
        h.visititems(lambda k, v: arrays.append(v[()]) if isinstance(v, h5py.Dataset) else None)
    return bool(arrays) and all(np.all(np.isfinite(a)) for a in arrays)


@pytest.mark.parametrize("family,model,overrides", cases(), ids=CASE_IDS)
def test_three_steps_then_a_nan_batch_stops_naming_the_last_good_checkpoint(tmp_path, tiny, monkeypatch, family,
                                                                            model, overrides):
    """3 steps and a good checkpoint; step 4 gets a NaN batch: the run stops and names step 3.
    Fails on the old runner for the GANs: they log no `loss`, so NaN steps went on and NaN weights were saved."""
    _need_case(family, model)
    cfg = config.load_config(base=user_config(tmp_path, model, overrides, total_steps=8, ckpt_every=3,
                                              keep_last=1))
    _poison_from(monkeypatch, 4)
    run = loop.Run(cfg, log=lambda *a: None)
    with pytest.raises(loop.TrainingDivergedError, match=r"became nan at step 4.*step_00000003"):
        run.train()
    trainer = run.trainer
    assert isinstance(contract.check(trainer), contract.Trainer)
    run_dir = tmp_path / "run"
    ckpt_dir = run_dir / "ckpt"
    assert (ckpt_dir / "latest").read_text() == "step_00000003"
    assert sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_")) == ["step_00000003"]
    state = json.loads((ckpt_dir / "step_00000003" / "state.json").read_text())
    assert state["good"] is True and np.isfinite(state["last_loss"]) and state["step"] == 3
    assert all(int(v) == 3 for v in state["optimizer_iterations"].values())
    files = sorted(p.name for p in (ckpt_dir / "step_00000003").glob("*.weights.h5"))
    assert files == sorted(f"{k}.weights.h5" for k in trainer.savable_models())
    assert all(_finite_h5(ckpt_dir / "step_00000003" / f) for f in files)
    assert not (run_dir / "generator.weights.h5").exists()
    with open(run_dir / "log.csv") as f:
        rows = list(csv.DictReader(f))
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [int(r["step"]) for r in train_rows] == [1, 2, 3]
    assert all(np.isfinite(float(r[trainer.loss_key])) for r in train_rows)
    assert any(r["split"] == "val" and trainer.val_key in r for r in rows)


@pytest.mark.parametrize("family,model,overrides", cases(), ids=CASE_IDS)
def test_a_nan_output_stops_the_run_even_when_every_loss_stays_finite(tmp_path, tiny, monkeypatch, family, model,
                                                                      overrides):
    """Issue 23: on AVX512 CPUs tf.nn.max_pool2d maps NaN to -3.4e38, so SRGAN's VGG content loss of a NaN image
    stayed finite and the guard fired only at the next checkpoint (step 6). Here every logged loss is made finite
    on purpose (as such a kernel would), on any CPU: the guard must still stop at step 4, on the generator output."""
    import tensorflow as tf

    _need_case(family, model)
    cfg = config.load_config(base=user_config(tmp_path, model, overrides, total_steps=8, ckpt_every=3,
                                              keep_last=1))
    _poison_from(monkeypatch, 4)
    real_check = contract.check

    def finite_losses(trainer):
        step = trainer.train_step

        def train_step(data):
            logs = step(data)
            return {k: v if k == contract.OUTPUT_KEY else tf.where(tf.math.is_finite(v), v, tf.zeros_like(v))
                    for k, v in logs.items()}

        trainer.train_step = train_step
        return real_check(trainer)

    monkeypatch.setattr(contract, "check", finite_losses)
    run = loop.Run(cfg, log=lambda *a: None)
    with pytest.raises(loop.TrainingDivergedError, match=r"generator output became NaN/Inf .* at step 4.*step_00000003"):
        run.train()
    ckpt_dir = tmp_path / "run" / "ckpt"
    assert (ckpt_dir / "latest").read_text() == "step_00000003"
    assert sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_")) == ["step_00000003"]
    files = sorted((ckpt_dir / "step_00000003").glob("*.weights.h5"))
    assert files and all(_finite_h5(f) for f in files)
    with open(tmp_path / "run" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == [1, 2, 3]
    assert contract.OUTPUT_KEY not in rows[0]  # the guard's count is not a log.csv column


def test_every_logged_loss_is_guarded_but_not_the_metrics():
    class T(contract.Trainer):
        loss_key = "content"

    logs = {"content": 1.0, "adversarial": 2.0, "d_loss": 3.0, "psnr": 30.0, contract.OUTPUT_KEY: 0.0}
    assert T().guarded_keys(logs) == ["content", "adversarial", "d_loss"]


def test_checkpoint_with_nan_weights_is_never_good(tmp_path, tiny, monkeypatch):
    """Issue 12 F12: weights NaN after a step whose logged loss was finite. The old runner wrote that checkpoint and
    named it "last good" one step later; now it is not written and the previous one is named."""
    cfg = config.load_config(base=user_config(tmp_path, "srn-color", {}, total_steps=8, ckpt_every=2, keep_last=1))
    orig = loop.Run.on_step

    def on_step(self, logs):
        orig(self, logs)
        if self.step == 4:  # an update that overflowed: the loss logged for step 4 was computed before it
            w = self.trainer.generator.trainable_weights[0]
            w.assign(w * np.float32("nan"))

    monkeypatch.setattr(loop.Run, "on_step", on_step)
    with pytest.raises(loop.TrainingDivergedError, match=r"weights became NaN.*step 4.*step_00000002"):
        loop.train(cfg)
    ckpt_dir = tmp_path / "run" / "ckpt"
    assert (ckpt_dir / "latest").read_text() == "step_00000002"
    assert sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_")) == ["step_00000002"]


def test_rotation_keeps_the_newest_good_checkpoint(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    for step, good in ((2, True), (4, False), (6, False)):
        d = ckpt_dir / f"step_{step:08d}"
        d.mkdir(parents=True)
        (d / "state.json").write_text(json.dumps({"step": step, "good": good}))
    checkpoints.prune(str(ckpt_dir), 1)
    assert sorted(os.listdir(ckpt_dir)) == ["step_00000002", "step_00000006"]


# ------------------------------------------------------------------------------------------------ standard data
@pytest.mark.parametrize("family,model,overrides", cases(), ids=CASE_IDS)
def test_keras_standard_data_tuples_and_arrays(tmp_path, tiny, family, model, overrides):
    """Issue 15 item 6: train_on_batch(x, y), fit on arrays, (x, y, None); a real sample_weight is refused."""
    _need_case(family, model)
    cfg = config.load_config(base=user_config(tmp_path, model, overrides))
    trainer = config.family_module(cfg).build_trainer(cfg)
    rng = np.random.default_rng(0)
    lo, hi = trainer.value_range
    y = rng.uniform(lo, hi, (2, 16, 16, 3)).astype("float32")
    x = y[:, ::4, ::4] if family == "sr" else np.clip(y + 0.05, lo, hi).astype("float32")
    logs = trainer.train_on_batch(x, y, return_dict=True)  # the old GANTrainer: "too many values to unpack"
    assert np.isfinite(logs[trainer.loss_key])
    assert np.isfinite(float(trainer.test_step((x, y, None))[trainer.loss_key]))  # Keras' padded form
    with pytest.raises(ValueError, match="sample_weight"):
        trainer.train_on_batch(x, y, sample_weight=np.ones(2, "float32"))


@pytest.mark.slow
@pytest.mark.parametrize("family,model,overrides", cases(), ids=CASE_IDS)
def test_fit_on_arrays(tmp_path, tiny, family, model, overrides):
    _need_case(family, model)
    cfg = config.load_config(base=user_config(tmp_path, model, overrides))
    trainer = config.family_module(cfg).build_trainer(cfg)
    lo, hi = trainer.value_range
    y = np.random.default_rng(0).uniform(lo, hi, (4, 16, 16, 3)).astype("float32")
    x = y[:, ::4, ::4] if family == "sr" else np.clip(y + 0.05, lo, hi).astype("float32")
    hist = trainer.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(hist[trainer.loss_key][-1])


# ------------------------------------------------------------------------------------------------ kill -9 + resume
_PRELUDE = ("import sys, time; sys.path[:0] = [{repo!r}, {repo!r} + '/tests', {repo!r} + '/tests/families/srn']\n"
            "import tiny_trainers; tiny_trainers.install()\n"
            "from deblurkeras.training import config, loop\n")


def _script(cfg_path, resume, slow):
    hook = "orig = loop.Run.on_step\nloop.Run.on_step = lambda self, logs: (time.sleep(0.5), orig(self, logs))\n"
    return (_PRELUDE.format(repo=REPO) + (hook if slow else "") +
            f"s = loop.train(config.load_config({str(cfg_path)!r}), resume={resume})\nprint('SUMMARY', s['step'])\n")


def _h5_arrays(path):
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dense-gan"])
def test_gan_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path, tiny, model):
    """SRN has the same test in test_runner.py; this one covers a two-model, three-optimizer trainer."""
    import yaml

    overrides = tiny_trainers.run_overrides(model)
    cfg = config.load_config(base=user_config(tmp_path, model, overrides, total_steps=8, ckpt_every=2))
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _script(cfg_path, False, slow=True)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    latest = run_dir / "ckpt" / "latest"
    deadline = time.time() + 300
    while time.time() < deadline and not (latest.exists() and latest.read_text() >= "step_00000004"):
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text()
    assert killed_at in ("step_00000004", "step_00000006"), killed_at
    out = subprocess.run([sys.executable, "-c", _script(cfg_path, True, slow=False)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"resumed from {run_dir / 'ckpt' / killed_at}" in out.stdout and "SUMMARY 8" in out.stdout

    ref_cfg = config.load_config(base={**cfg, "run": {**cfg["run"], "dir": str(tmp_path / "ref")}})
    loop.train(ref_cfg)
    for part in ("generator", "discriminator"):
        a, b = _h5_arrays(run_dir / f"{part}.weights.h5"), _h5_arrays(tmp_path / "ref" / f"{part}.weights.h5")
        assert a.keys() == b.keys() and a
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=f"{part}/{k}")


def test_checkpoints_keep_dropout_random_state(tmp_path):
    """Keras' save_weights omits SeedGenerator states: without <model>.rng.npz a resumed dense-field GAN drew other
    dropout masks (measured: BN gamma 2.7e-3 off an uninterrupted run after 8 steps)."""
    import keras

    x = keras.Input((8,))
    model = keras.Model(x, keras.layers.Dropout(0.5, seed=3)(keras.layers.Dense(8)(x)))
    opt = keras.optimizers.Adam()

    class Holder(contract.Trainer):
        def savable_models(self):
            return {"generator": model}

        def optimizers(self):
            return {"optimizer": opt}

        def build_optimizers(self):
            if not opt.built:
                opt.build(model.trainable_variables)

        def preview(self, blurred):
            return blurred

    holder = Holder()
    holder.build_optimizers()
    ones = np.ones((4, 8), "float32")
    model(ones, training=True)
    checkpoints.save_checkpoint(holder, str(tmp_path / "c"), {"step": 1})
    want = np.asarray(model(ones, training=True))
    model(ones, training=True)
    checkpoints.load_checkpoint(holder, str(tmp_path / "c"))
    np.testing.assert_array_equal(np.asarray(model(ones, training=True)), want)
