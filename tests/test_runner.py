"""Run machinery: config + overrides, checkpoints, resume after a real kill -9, NaN stop, logs, MirroredStrategy.

The trainer under test is the real SRNTrainer; the SRN generator is swapped for a tiny 3-output model
(tests/families/srn/test_srn_trainer.tiny_generator) so runs take seconds. Subprocesses get the same swap via _PRELUDE.
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

from deblurkeras.errors import BadInputError
from deblurkeras.training import config, loop
from deblurkeras.families.srn import trainer as srn

import tiny_trainers  # tests/ (on sys.path by conftest)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PRELUDE = (
    "import sys, time; sys.path[:0] = [{repo!r}, {repo!r} + '/tests', {repo!r} + '/tests/families/srn']\n"
    "from deblurkeras.training import config, loop\nfrom deblurkeras.families.srn import trainer as srn\n"
    "from test_srn_trainer import tiny_generator\n"
    "srn.build_generator = lambda model_cfg: tiny_generator()\n"
)


def make_h5(path, size=24, **kw):
    return tiny_trainers.make_h5(path, size=size, **kw)


def tiny_cfg(tmp_path, **train):
    data = make_h5(tmp_path / "d.h5")
    return config.load_config(base={
        "model": {"name": "srn-color", "family": "srn"},
        "data": {"path": data, "batch_size": 2, "crop": 16, "val_batch_size": 2, "val_crop": 16, "val_batches": 1},
        "train": {"total_steps": 6, "ckpt_every": 3, "log_every": 1, "lr": 1e-3, **train},
        "run": {"dir": str(tmp_path / "run"), "progress": False},
    })


@pytest.fixture
def tiny(monkeypatch):
    from test_srn_trainer import tiny_generator
    monkeypatch.setattr(srn, "build_generator", lambda model_cfg: tiny_generator())


# ------------------------------------------------------------------------------------------------ config
def test_config_file_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: {name: srn-lstm}\ntrain: {total_steps: 10}\n")
    cfg = config.load_config(p, ["train.lr=3e-4", "train.clip_lstm_norm=3", "data.flips=true",
                                 "run.dir=/x/y", "train.clip_lstm_norm=null"])
    assert cfg["model"]["name"] == "srn-lstm" and cfg["train"]["total_steps"] == 10
    assert cfg["train"]["lr"] == 3e-4 and cfg["data"]["flips"] is True and cfg["run"]["dir"] == "/x/y"
    assert cfg["train"]["clip_lstm_norm"] is None
    assert cfg["train"]["power"] == 0.3 and cfg["data"]["crop"] == 256  # faithful defaults fill the rest
    with pytest.raises(BadInputError, match="key=value"):
        config.load_config(p, ["train.lr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(BadInputError, match="bad.yaml"):
        config.load_config(bad)


def test_shipped_configs_load_with_the_original_setup():
    for name, model in (("srn/gopro_color", "srn-color"), ("gopro_lstm", "srn-lstm")):
        cfg = config.load_config(name)  # shipped inside the package, found by name
        assert cfg["model"]["name"] == model
        assert (cfg["data"]["crop"], cfg["data"]["batch_size"], cfg["train"]["total_steps"]) == (256, 16, 524000)
        assert (cfg["train"]["lr"], cfg["train"]["end_lr"], cfg["train"]["power"]) == (1e-4, 0.0, 0.3)
        assert cfg["train"]["clip_lstm_norm"] is None and cfg["data"]["flips"] is False
        assert config.family_module(cfg) is srn


def test_unknown_family_is_a_user_error():
    with pytest.raises(BadInputError, match="model.family='nope'"):
        config.family_module({"model": {"name": "srn-color", "family": "nope"}})


# ------------------------------------------------------------------------------------------------ a run
def test_run_writes_checkpoints_logs_and_previews(tmp_path, tiny):
    cfg = tiny_cfg(tmp_path, total_steps=7)
    summary = loop.train(cfg)
    run_dir = tmp_path / "run"
    assert summary["step"] == 7
    assert (run_dir / "ckpt" / "latest").read_text() == "step_00000007"  # final partial interval saved too
    state = json.loads((run_dir / "ckpt" / "step_00000007" / "state.json").read_text())
    assert state["optimizer_iterations"] == {"optimizer": 7} and state["data"]["batches_consumed"] == 7
    assert sorted(os.listdir(run_dir / "ckpt")) == ["latest", "step_00000006", "step_00000007"]  # keep_last 2
    assert (run_dir / "best" / "generator.weights.h5").is_file()
    assert state["best_val_psnr"] == json.loads((run_dir / "best" / "state.json").read_text())["best_val_psnr"]
    assert (run_dir / "generator.weights.h5").is_file()
    assert sorted(os.listdir(run_dir / "previews")) == ["step_00000003.png", "step_00000006.png", "step_00000007.png"]
    with open(run_dir / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == list(range(1, 8))
    assert {"loss", "loss_s0", "loss_s1", "loss_s2", "psnr", "lr"} <= set(rows[0])
    assert float(rows[-1]["lr"]) == pytest.approx(0.0, abs=1e-12)  # polynomial decay reached its end
    # TensorBoard: scalars per scale, PSNR, lr and the image grid, readable without the tensorboard package
    import tensorflow as tf
    tags = set()
    for ev in (run_dir / "tb").iterdir():
        for e in tf.compat.v1.train.summary_iterator(str(ev)):
            tags |= {v.tag for v in e.summary.value}
    assert {"train/loss", "train/loss_s0", "train/psnr", "lr", "val/psnr", "blurred|output|sharp"} <= tags
    # a second start on the same folder must not overwrite it silently
    with pytest.raises(BadInputError, match="--resume"):
        loop.train(cfg)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny, monkeypatch):
    cfg = tiny_cfg(tmp_path, total_steps=9, ckpt_every=3)
    real = srn.multiscale_losses
    import tensorflow as tf

    def nan_after(sharp, outputs, mode="tf1_legacy"):  # NaN from the 5th optimizer step on
        losses = real(sharp, outputs, mode)
        step = tf.cast(trainer_ref[0].optimizer.iterations, tf.float32)
        return [tf.where(step >= 4.0, tf.constant(np.nan, tf.float32), v) for v in losses]

    trainer_ref = []
    build = srn.build_trainer

    def build_and_remember(c, precision=None):
        trainer_ref.append(build(c, precision))
        return trainer_ref[0]

    monkeypatch.setattr(srn, "build_trainer", build_and_remember)
    monkeypatch.setattr(srn, "multiscale_losses", nan_after)
    with pytest.raises(loop.TrainingDivergedError, match=r"loss became nan at step 5.*step_00000003"):
        loop.train(cfg)
    run_dir = tmp_path / "run"
    assert (run_dir / "ckpt" / "latest").read_text() == "step_00000003"
    assert sorted(d for d in os.listdir(run_dir / "ckpt") if d.startswith("step_")) == ["step_00000003"]
    assert not (run_dir / "generator.weights.h5").exists()


# ------------------------------------------------------------------------------------------------ kill -9
def _train_script(cfg_path, resume, slow):
    hook = "orig = loop.Run.on_step\nloop.Run.on_step = lambda self, logs: (time.sleep(0.3), orig(self, logs))\n"
    return (_PRELUDE.format(repo=REPO) + (hook if slow else "") +
            f"cfg = config.load_config({str(cfg_path)!r})\n"
            f"s = loop.train(cfg, resume={resume})\n"
            "print('SUMMARY', s['step'])\n")


def test_resume_after_kill_9_continues_exactly(tmp_path, tiny):
    import yaml

    cfg = tiny_cfg(tmp_path, total_steps=12, ckpt_every=3)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _train_script(cfg_path, False, slow=True)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    latest = run_dir / "ckpt" / "latest"
    deadline = time.time() + 120
    while time.time() < deadline and not (latest.exists() and latest.read_text() >= "step_00000006"):
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # a real kill -9, somewhere in the middle of steps 7..9
    proc.wait()
    killed_at = latest.read_text()
    assert killed_at in ("step_00000006", "step_00000009"), killed_at

    out = subprocess.run([sys.executable, "-c", _train_script(cfg_path, True, slow=False)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    resumed = int(killed_at[-8:])
    assert f"resumed from {run_dir / 'ckpt' / killed_at}: step {resumed}" in out.stdout
    assert "SUMMARY 12" in out.stdout
    state = json.loads((run_dir / "ckpt" / "step_00000012" / "state.json").read_text())
    assert state["optimizer_iterations"] == {"optimizer": 12} and state["lr"] == pytest.approx(0.0, abs=1e-12)
    with open(run_dir / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["split"] == "train"]
    assert steps == list(range(1, 13))  # nothing lost, nothing duplicated

    # The resumed run equals an uninterrupted one: same weights (same optimizer state, lr and data position).
    ref_cfg = config.load_config(base={**cfg, "run": {**cfg["run"], "dir": str(tmp_path / "ref")}})
    loop.train(ref_cfg)
    import h5py as h5

    def weights(path):
        with h5.File(path, "r") as f:
            out = {}
            f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5.Dataset) else None)
            return out

    a, b = weights(run_dir / "generator.weights.h5"), weights(tmp_path / "ref" / "generator.weights.h5")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


# ------------------------------------------------------------------------------------------------ strategies
_MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
rng = np.random.default_rng(0)
sharp = rng.random((4, 16, 16, 3), dtype=np.float32)
blurred = np.clip(sharp + 0.1 * rng.standard_normal(sharp.shape).astype(np.float32), 0, 1)
res = {}
for name in ("default", "mirrored"):
    strategy = loop.make_strategy(name)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        trainer = srn.build_trainer({"model": {"name": "srn-color"}, "train": {"total_steps": 10, "lr": 1e-3}})
    ds = tf.data.Dataset.from_tensor_slices((blurred, sharp)).batch(4).repeat()
    hist = trainer.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    res[name] = (strategy.num_replicas_in_sync, hist.history["loss"][0],
                 [w.numpy() for w in trainer.generator.trainable_weights])
(n0, l0, w0), (n1, l1, w1) = res["default"], res["mirrored"]
print("REPLICAS", n0, n1)
print("LOSS", l0, l1)
print("MAXDIFF", max(float(np.max(np.abs(a - b))) for a, b in zip(w0, w1)))
"""


def test_mirrored_strategy_matches_single_device():
    """2 logical CPU devices, global batch 4 (2 per replica): same loss and same weights after 2 steps."""
    out = subprocess.run([sys.executable, "-c", _PRELUDE.format(repo=REPO) + _MIRRORED], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.stdout.splitlines() if ln.split()}
    assert lines["REPLICAS"] == ["1", "2"]
    l0, l1 = map(float, lines["LOSS"])
    assert l1 == pytest.approx(l0, rel=1e-5)
    assert float(lines["MAXDIFF"][0]) < 1e-5


def test_mixed_precision_run_and_resume(tmp_path, tiny):
    import keras

    cfg = tiny_cfg(tmp_path, total_steps=3, ckpt_every=2)
    cfg["run"]["mixed_precision"] = True
    loop.train(cfg)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    state = json.loads((tmp_path / "run" / "ckpt" / "step_00000003" / "state.json").read_text())
    assert state["optimizer_iterations"] == {"optimizer": 3}
    cfg["train"]["total_steps"] = 4  # a longer schedule continues from the restored LossScaleOptimizer state
    assert loop.train(cfg, resume=True)["step"] == 4


def test_time_budget_stops_cleanly_with_a_checkpoint(tmp_path, tiny):
    cfg = tiny_cfg(tmp_path, total_steps=50, ckpt_every=10)
    cfg["run"]["time_budget_s"] = 1e-6  # exceeded after the first step
    summary = loop.train(cfg)
    assert summary["step"] == 1 and "time budget" in summary["stopped_early"]
    assert (tmp_path / "run" / "ckpt" / "latest").read_text() == "step_00000001"
    assert (tmp_path / "run" / "generator.weights.h5").is_file()


def test_image_grid_maps_signed_data_to_unit_range():
    """Preview grids of a [-1, 1] family (the dense-field GAN) show the data panels in [0, 1], not clipped dark."""
    import numpy as np
    from deblurkeras.training.logs import image_grid
    signed = np.full((1, 2, 2, 3), -0.5, "float32")  # 0.25 in [0, 1]
    out = np.full((1, 2, 2, 3), 0.75, "float32")
    grid = image_grid(signed, out, signed, value_range=(-1, 1)).numpy()
    np.testing.assert_allclose(grid[0, :, :2], 0.25)
    np.testing.assert_allclose(grid[0, :, 2:4], 0.75)
    np.testing.assert_allclose(grid[0, :, 4:], 0.25)
    assert image_grid(signed, out, signed).numpy()[0, 0, 0, 0] == 0.0  # the old behaviour: clipped to black
