"""Precision: option parsing, `auto` detection, bf16 inference close to float32, bf16 training finite and
resumable, float32 bit-identical to the path without the precision machinery. No timings here."""
import argparse
import csv
import math

import keras
import numpy as np
import pytest

from deblurkeras import precision
from deblurkeras.families import build_model, model_io
from deblurkeras.families.srn import trainer as srn
from deblurkeras.inference import deblur_array, load_model, predict_01
from deblurkeras.errors import BadInputError
from deblurkeras.training import config, loop
from tests.test_runner import tiny_cfg


# ------------------------------------------------------------------------------------------------ options
def test_resolve_names_and_policies():
    assert precision.resolve().policy == "float32"
    assert precision.resolve("bfloat16").policy == "mixed_bfloat16"
    assert precision.resolve("FLOAT16").policy == "mixed_float16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        precision.resolve("half")


def _inference_verbs():
    """The modules of the verbs that run a model on images: deblur, evaluate, and every family's own verbs."""
    from deblurkeras.families import families
    return ["deblurkeras.inference", "deblurkeras.evaluate",
            *sorted({mod for fam in families().values() for mod, _ in fam.verbs.values()})]


@pytest.mark.parametrize("verb", _inference_verbs())
def test_cli_verbs_take_precision_default_float32(verb):
    import importlib

    p = argparse.ArgumentParser()
    importlib.import_module(verb).add_arguments(p)
    base = ["x.png", "--weights", "w.h5", "--out", "o"] if verb != "deblurkeras.evaluate" else \
        ["--weights", "w.h5", "--data", "d.h5", "--out", "o"]
    assert p.parse_args(base).precision == "float32"
    assert p.parse_args(base + ["--precision", "bfloat16"]).precision == "bfloat16"
    assert p.parse_args(base + ["--precision", "auto"]).precision == "auto"
    with pytest.raises(SystemExit):
        p.parse_args(base + ["--precision", "float16"])  # a GPU training setting, not offered for inference


def test_training_precision_key_and_deprecated_alias():
    assert config.load_config(base={"model": {"name": "srn-color"}})["run"]["precision"] == "float32"  # faithful
    srn = {"model": {"name": "srn-color"}}
    assert loop.run_precision(config.load_config(base=srn, overrides=["run.precision=bfloat16"])["run"]).name == "bfloat16"
    assert loop.run_precision({"mixed_precision": True}).name == "float16"        # old key: true -> float16
    assert loop.run_precision({"mixed_precision": False}).name == "float32"
    assert loop.run_precision({"precision": "bfloat16", "mixed_precision": True}).name == "bfloat16"
    with pytest.raises(BadInputError, match="run.precision"):
        loop.run_precision({"precision": "fp8"})
    assert config.load_config("srn/demo")["run"]["precision"] == "auto"
    from deblurkeras.training import cli
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    assert p.parse_args(["--config", "c", "--precision", "float16"]).precision == "float16"


# ------------------------------------------------------------------------------------------------ auto
def test_auto_detection_with_mocked_hardware(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert {"amx_bf16", "avx2"} <= precision.cpu_flags(str(info))
    assert precision.cpu_flags(str(tmp_path / "absent")) == set()

    amx = precision.resolve("auto", flags={"avx2", "amx_bf16"}, gpus=[])
    assert amx.name == "bfloat16" and "amx_bf16" in amx.reason
    avx512 = precision.resolve("auto", flags={"avx512_bf16"}, gpus=[])
    assert avx512.name == "bfloat16" and "avx512_bf16" in avx512.reason
    gpu = precision.resolve("auto", flags={"avx2"}, gpus=[("NVIDIA H200", (9, 0))])
    assert gpu.name == "bfloat16" and "H200" in gpu.reason
    none = precision.resolve("auto", flags={"avx2", "avx512f"}, gpus=[])
    assert none.name == "float32" and none.policy == "float32" and "natively" in none.reason
    for p in (amx, gpu, none):
        assert "\n" not in p.reason and p.reason.startswith("precision auto -> ")


def test_scope_restores_the_global_policy():
    before = keras.mixed_precision.global_policy().name
    with precision.scope("bfloat16") as p:
        assert p.name == "bfloat16" and keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before


# ------------------------------------------------------------------------------------------------ inference
@pytest.fixture(scope="module")
def srn_files(tmp_path_factory):
    """SRN colour with the demo's identity initialisation (outputs are images, like trained weights) plus a few
    random perturbations, saved both as .weights.h5 and as a .keras file (which stores its float32 policy)."""
    from deblurkeras.families.srn.model import identity_init

    keras.utils.set_random_seed(3)
    model = identity_init(build_model("srn-color"))
    rng = np.random.default_rng(0)
    model.set_weights([w + 0.01 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    d = tmp_path_factory.mktemp("prec")
    model.save_weights(d / "m.weights.h5")
    model.save(d / "m.keras")
    return d


def _photo(size=64):
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:100 + size, 180:180 + size])


def test_bf16_inference_close_to_float32(srn_files):
    """Tolerance: PSNR of the bf16 uint8 output against the float32 one >= 40 dB, no level off by more than 8."""
    io, img = model_io("srn-color"), _photo()
    f32 = precision.build(lambda: load_model("srn-color", srn_files / "m.weights.h5"), "float32")
    b16 = precision.build(lambda: load_model("srn-color", srn_files / "m.weights.h5"), "bfloat16")
    assert precision.model_policy(b16) == "mixed_bfloat16"
    y32, y16 = predict_01(f32, io, img), predict_01(b16, io, img)
    assert y16.dtype == np.float32  # cast back before clipping / rounding
    a, b = deblur_array(f32, io, img).astype(float), deblur_array(b16, io, img).astype(float)
    psnr = 10 * math.log10(255.0 ** 2 / max(np.mean((a - b) ** 2), 1e-12))
    assert psnr >= 40.0 and np.abs(a - b).max() <= 8, (psnr, np.abs(a - b).max())
    assert not np.array_equal(y32, y16)  # bf16 really ran


def test_keras_file_is_rebuilt_under_the_policy(srn_files):
    """keras.saving.load_model keeps the float32 policy saved in a .keras file (a known pitfall);
    `apply` rebuilds it under the policy with the same weights: the same output as the .h5 built under it, and the
    CLI's loader (`build` around `load_model`) gives a bf16 model from either file."""
    import deblurkeras.families.srn.model  # noqa: F401 - registers the custom layers for safe_mode

    io, img = model_io("srn-color"), _photo(32)
    with precision.scope("bfloat16"):
        as_saved = keras.saving.load_model(srn_files / "m.keras", safe_mode=True, compile=False)
    assert precision.model_policy(as_saved) != "mixed_bfloat16"  # ResBlock's inner convs follow the global policy
    rebuilt = precision.apply(as_saved, "bfloat16")
    from_h5 = precision.build(lambda: load_model("srn-color", srn_files / "m.weights.h5"), "bfloat16")
    from_keras = precision.build(lambda: load_model("srn-color", srn_files / "m.keras"), "bfloat16")
    for m in (rebuilt, from_h5, from_keras):
        assert precision.model_policy(m) == "mixed_bfloat16"
    ref = predict_01(from_h5, io, img)
    np.testing.assert_array_equal(predict_01(rebuilt, io, img), ref)
    np.testing.assert_array_equal(predict_01(from_keras, io, img), ref)


def test_nested_models_are_rebuilt_too():
    """DMPHN holds its encoders / decoders as nested models: `apply` must reach their layers."""
    keras.utils.set_random_seed(0)
    m = build_model("dmphn-1-2-4")
    with precision.scope("bfloat16"):
        built = build_model("dmphn-1-2-4")
    built.set_weights(m.get_weights())
    cloned = precision.apply(m, "bfloat16")
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32) - 0.5
    np.testing.assert_array_equal(np.asarray(cloned(x), np.float32), np.asarray(built(x), np.float32))


def test_dmphn_bf16_through_the_cli_path_any_size():
    """DMPHN 1-2-4-8 pads H to 16 and W to 8 (a tuple multiple) and runs in bf16 through deblur_array."""
    keras.utils.set_random_seed(0)
    io = model_io("dmphn-1-2-4-8")
    model = precision.build(lambda: build_model("dmphn-1-2-4-8"), "bfloat16")
    img = _photo(40)[:20, :36]
    out = deblur_array(model, io, img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert precision.model_policy(model) == "mixed_bfloat16"


def test_float32_is_bit_identical_to_the_plain_path(srn_files):
    io, img = model_io("srn-color"), _photo(48)
    plain = build_model("srn-color")
    plain.load_weights(srn_files / "m.weights.h5")
    x = img[None].astype(np.float32) / 255.0
    direct = np.asarray(plain(x, training=False)[-1])              # no precision machinery at all
    via = precision.build(lambda: load_model("srn-color", srn_files / "m.weights.h5"), "float32")
    assert precision.model_policy(via) == "float32"
    assert precision.apply(plain, "float32") is plain                # float32: no rebuild, no copy
    np.testing.assert_array_equal(predict_01(via, io, img, transpose=False), direct[0])


# ------------------------------------------------------------------------------------------------ training
@pytest.fixture
def tiny(monkeypatch):
    from tests.families.srn.test_srn_trainer import tiny_generator
    monkeypatch.setattr(srn, "build_generator", lambda model_cfg: tiny_generator())


def _train_losses(run_dir):
    with open(run_dir / "log.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]


def _weights(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def test_bf16_train_steps_are_finite_and_resume(tmp_path, tiny, monkeypatch):
    built = []
    real = srn.build_trainer

    def remember(c, precision=None):
        built.append((real(c, precision), precision))
        return built[-1][0]

    monkeypatch.setattr(srn, "build_trainer", remember)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    cfg = tiny_cfg(tmp_path / "a", total_steps=4, ckpt_every=2)
    cfg["run"]["precision"] = "bfloat16"
    loop.train(cfg)
    trainer, prec = built[-1]
    assert prec.name == "bfloat16" and trainer.generator.dtype_policy.name == "mixed_bfloat16"
    assert not isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)     # no loss scaling in bf16
    assert all(w.dtype == "float32" for w in trainer.generator.weights)               # variables stay float32
    assert keras.mixed_precision.global_policy().name == "float32"                    # restored after the run
    losses = _train_losses(tmp_path / "a" / "run")
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)

    # The same 4-step run stopped after step 2, then resumed from its checkpoint. In one process TF's grappler
    # (arithmetic_optimization) rewrites the first traced bf16 train step a little differently from later ones
    # (measured: 9e-10 after one step, 1.6e-5 after four; float32 is bit-identical), so this in-process
    # check allows bf16 rounding; test_bf16_resume_is_bit_exact_across_processes checks the real use exactly.
    cfg_b = tiny_cfg(tmp_path / "b", total_steps=4, ckpt_every=2)
    cfg_b["run"]["precision"] = "bfloat16"
    first = loop.Run(cfg_b)
    first.total = 2
    first.train()
    assert loop.train(cfg_b, resume=True)["step"] == 4
    a, b = _weights(tmp_path / "a" / "run" / "generator.weights.h5"), _weights(tmp_path / "b" / "run" / "generator.weights.h5")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-4, err_msg=k)


_SCRIPT = (
    "import sys; sys.path.insert(0, {repo!r})\n"
    "from deblurkeras.training import config, loop\nfrom deblurkeras.families.srn import trainer as srn\n"
    "from tests.families.srn.test_srn_trainer import tiny_generator\n"
    "srn.build_generator = lambda model_cfg: tiny_generator()\n"
    "cfg = config.load_config({cfg!r})\n"
    "run = loop.Run(cfg)\n"
    "run.total = {stop}\n"
    "print('SUMMARY', run.train(resume={resume})['step'])\n"
)


@pytest.mark.slow
def test_bf16_resume_is_bit_exact_across_processes(tmp_path):
    """A bf16 run stopped at step 2 and resumed in a new process equals the uninterrupted run, bit for bit."""
    import subprocess
    import sys

    import yaml

    repo = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    paths = {}
    for name in ("straight", "resumed"):
        (tmp_path / name).mkdir()
        cfg = tiny_cfg(tmp_path / name, total_steps=4, ckpt_every=2)
        cfg["run"]["precision"] = "bfloat16"
        paths[name] = tmp_path / name / "c.yaml"
        paths[name].write_text(yaml.safe_dump(cfg))
    for name, stop, resume in (("straight", 4, False), ("resumed", 2, False), ("resumed", 4, True)):
        out = subprocess.run([sys.executable, "-c", _SCRIPT.format(repo=repo, cfg=str(paths[name]), stop=stop,
                                                                  resume=resume)],
                             cwd=repo, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and f"SUMMARY {stop}" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    a = _weights(tmp_path / "straight" / "run" / "generator.weights.h5")
    b = _weights(tmp_path / "resumed" / "run" / "generator.weights.h5")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_nan_guard_covers_bf16(tmp_path, tiny, monkeypatch):
    import tensorflow as tf

    seen = []
    real_losses, real_step = srn.multiscale_losses, srn.SRNTrainer.train_step

    def recording(sharp, outputs, mode="tf1_legacy"):
        seen.append(outputs[-1].dtype)
        return real_losses(sharp, outputs, mode)

    def nan_from_step_3(self, data):  # the loss turns NaN at the 3rd step, as a bf16 overflow would
        logs = real_step(self, data)
        bad = tf.cast(self.optimizer.iterations, tf.float32) >= 3.0
        logs["loss"] = tf.where(bad, tf.constant(np.nan, tf.float32), tf.cast(logs["loss"], tf.float32))
        return logs

    monkeypatch.setattr(srn, "multiscale_losses", recording)
    monkeypatch.setattr(srn.SRNTrainer, "train_step", nan_from_step_3)
    cfg = tiny_cfg(tmp_path, total_steps=6, ckpt_every=2)
    cfg["run"]["precision"] = "bfloat16"
    with pytest.raises(loop.TrainingDivergedError, match=r"loss became nan at step 3.*step_00000002"):
        loop.train(cfg)
    assert any("bfloat16" in str(d) for d in seen), seen  # the model really computed in bf16
    assert keras.mixed_precision.global_policy().name == "float32"
