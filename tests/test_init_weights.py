"""`model.init_weights`: every file our importers read, strict, and the run's step-0 checkpoint.

Original-layout files are written here from official-definition modules (deblurkeras/families/sr/original.py,
the TF1 and Keras-2 writers of the importer tests); nothing of the originals is used.
"""
import os

import numpy as np
import pytest

from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.families import build_model
from deblurkeras.training import config, loop
from deblurkeras.weights import load_into
import tiny_trainers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(wa, wb))


# ------------------------------------------------------------------------------------------------ every importer
def test_srn_from_a_tf1_checkpoint_and_strict(tmp_path):
    from deblurkeras.families.srn.importer import load_tf1_checkpoint
    from test_tf1_import import official_shapes, random_tensors, write_tf1_checkpoint

    prefix = write_tf1_checkpoint(tmp_path / "deblur.model", random_tensors(official_shapes(3, False), 0))
    model = load_into(build_model("srn-color"), prefix, "srn-color")
    assert _same(model, load_tf1_checkpoint(None, prefix))
    lstm = write_tf1_checkpoint(tmp_path / "lstm.model", random_tensors(official_shapes(3, True), 1))
    with pytest.raises(WeightsMismatchError, match=r"unexpected: .*LSTM"):
        load_into(build_model("srn-color"), lstm, "srn-color")


def test_dmphn_from_the_official_pkl_directory_and_strict(tmp_path):
    pytest.importorskip("torch")
    from deblurkeras.families.dmphn.importer import import_dmphn
    from test_torch_import_dmphn import _dmphn_dir

    three, four = tmp_path / "three", tmp_path / "four"
    three.mkdir()
    four.mkdir()
    _dmphn_dir(three, 3)
    _dmphn_dir(four, 4)
    model = load_into(build_model("dmphn-1-2-4"), str(three), "dmphn-1-2-4")
    assert _same(model, import_dmphn(str(three)))
    with pytest.raises(BadInputError, match="checkpoint has 4 levels"):
        load_into(build_model("dmphn-1-2-4"), str(four), "dmphn-1-2-4")
    with pytest.raises(BadInputError, match="checkpoint has 3 levels"):
        load_into(build_model("srn-color"), str(three), "srn-color")


def test_srresnet_and_srgan_from_the_tutorial_pth(tmp_path):
    torch = pytest.importorskip("torch")
    from deblurkeras.families.sr import original as ref

    net = ref.randomize_bn_and_prelu(ref.SRResNet().eval(), 0)
    path = tmp_path / "checkpoint_srresnet.pth"
    torch.save({"model": net.state_dict()}, path)
    a = load_into(build_model("srresnet-x4"), str(path), "srresnet-x4")
    b = load_into(build_model("srgan-x4"), str(path), "srgan-x4")   # SRGAN's G starts from SRResNet weights
    assert _same(a, b)
    conv = a.get_layer("conv_block1.conv_block.0").kernel.numpy()
    np.testing.assert_array_equal(conv, net.conv_block1.conv_block[0].weight.detach().numpy().transpose(2, 3, 1, 0))
    sd = net.state_dict()
    sd.pop(next(iter(sd)))
    torch.save({"model": sd}, path)
    with pytest.raises(WeightsMismatchError, match="missing: conv_block1.conv_block.0.weight"):
        load_into(build_model("srresnet-x4"), str(path), "srresnet-x4")


def test_dense_gan_from_a_keras2_h5(tmp_path):
    from test_keras2_import import generator_file

    model = build_model("dense-gan")
    _, arrays = generator_file(tmp_path / "generator.h5", model, seed=3)
    load_into(model, str(tmp_path / "generator.h5"), "dense-gan")
    first = [lyr for lyr in model.layers if lyr.weights][0]
    np.testing.assert_array_equal(first.kernel.numpy(), arrays[0]["kernel"])
    with pytest.raises(WeightsMismatchError, match="generator.h5: weights do not match"):
        load_into(build_model("srresnet-x4"), str(tmp_path / "generator.h5"), "srresnet-x4")


def test_our_keras_and_weights_files_strict(tmp_path):
    src = build_model("srresnet-x4")
    src.set_weights([w + 0.01 for w in src.get_weights()])
    src.save(tmp_path / "m.keras")
    src.save_weights(tmp_path / "m.weights.h5")
    for name in ("m.keras", "m.weights.h5"):
        assert _same(load_into(build_model("srresnet-x4"), str(tmp_path / name), "srresnet-x4"), src)
    other = build_model("srresnet-x4", n_blocks=15)
    other.save(tmp_path / "o.keras")
    with pytest.raises(WeightsMismatchError, match=r"o\.keras: weights do not match the model \(missing: "):
        load_into(build_model("srresnet-x4"), str(tmp_path / "o.keras"), "srresnet-x4")
    with pytest.raises(BadInputError, match="nope: not a weights file"):
        load_into(build_model("srresnet-x4"), str(tmp_path / "nope"), "srresnet-x4")


# ------------------------------------------------------------------------------------------------ through the run
def test_step0_checkpoint_holds_exactly_the_init_weights_and_resume_works(tmp_path, monkeypatch):
    from test_srn_trainer import tiny_generator

    tiny_trainers.install(monkeypatch.setattr)
    init = tmp_path / "init.weights.h5"
    start = tiny_generator(seed=7)
    start.save_weights(init)
    cfg = config.load_config(base=tiny_trainers.user_config(
        tmp_path, "srn-color", {"model": {"init_weights": str(init)}}, total_steps=2, ckpt_every=1, keep_last=5))
    loop.train(cfg, log=lambda *a: None)
    ckpt_dir = tmp_path / "run" / "ckpt"
    assert sorted(os.listdir(ckpt_dir)) == ["latest", "step_00000000", "step_00000001", "step_00000002"]
    step0 = tiny_generator(seed=0)
    step0.load_weights(ckpt_dir / "step_00000000" / "generator.weights.h5")
    assert _same(step0, start)
    final = tiny_generator(seed=0)
    final.load_weights(tmp_path / "run" / "generator.weights.h5")
    assert not _same(final, start)  # it trained from there
    # --resume continues from the latest checkpoint, not from the init file again
    cfg["train"]["total_steps"] = 3
    lines = []
    assert loop.train(cfg, resume=True, log=lines.append)["step"] == 3
    assert any("resumed from" in ln and "step_00000002" in ln for ln in lines)
    assert not any("initial weights" in ln for ln in lines)


def test_a_bad_init_file_stops_before_training(tmp_path, monkeypatch):
    tiny_trainers.install(monkeypatch.setattr)
    bad = tmp_path / "x.weights.h5"
    tiny_trainers.make_h5(bad)  # an HDF5 file, but not weights
    cfg = config.load_config(base=tiny_trainers.user_config(tmp_path, "srn-color",
                                                            {"model": {"init_weights": str(bad)}}))
    with pytest.raises(WeightsMismatchError, match=r"x\.weights\.h5: weights do not match"):
        loop.train(cfg, log=lambda *a: None)
    assert not (tmp_path / "run" / "ckpt").exists()


# ------------------------------------------------------------------------------------------------ the README example
@pytest.mark.slow
def test_readme_fine_tune_the_official_dmphn_on_your_own_pairs(tmp_path):
    """The "fine-tune the official DMPHN" commands (deblurkeras/families/dmphn/README.md), end to end on a tiny
    folder of pairs."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    from PIL import Image

    from test_torch_import_dmphn import _dmphn_dir

    official = tmp_path / "DMPHN_1_2_4"
    official.mkdir()
    _dmphn_dir(official, 3)                     # the official checkpoints/DMPHN_1_2_4/ layout
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 1)):
        for kind in ("sharp", "blur"):
            (tmp_path / "my_pairs" / split / kind).mkdir(parents=True)
        for i in range(n):
            sharp = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            blur = ((sharp.astype(np.uint16) + np.roll(sharp, 2, axis=1)) // 2).astype(np.uint8)
            Image.fromarray(sharp).save(tmp_path / "my_pairs" / split / "sharp" / f"{i}.png")
            Image.fromarray(blur).save(tmp_path / "my_pairs" / split / "blur" / f"{i}.png")

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "deblurkeras.cli", *args], cwd=tmp_path, capture_output=True,
                             text=True, timeout=900, env={**os.environ, "PYTHONPATH": REPO})
        assert out.returncode == 0, out.stderr[-3000:]
        return out

    cli("build-hdf5", "my_pairs", "--layout", "pairs", "--size", "0", "--out", "my_pairs.h5", "--quiet")
    cli("train", "--config", "dmphn/gopro_1_2_4_8", "--set", "model.name=dmphn-1-2-4",
        "--set", "model.init_weights=DMPHN_1_2_4", "--set", "data.path=my_pairs.h5", "--set", "data.crop=32",
        "--set", "data.val_crop=32", "--set", "data.batch_size=2", "--set", "data.val_batch_size=1",
        "--set", "data.val_batches=1", "--set", "train.total_steps=2",
        "--set", "train.ckpt_every=2", "--set", "run.dir=runs/finetune", "--set", "run.progress=false")
    from deblurkeras.families.dmphn.importer import import_dmphn
    official_model = import_dmphn(str(official))
    step0 = build_model("dmphn-1-2-4")
    step0.load_weights(tmp_path / "runs" / "finetune" / "ckpt" / "step_00000000" / "generator.weights.h5")
    assert _same(step0, official_model)
    from deblurkeras.weights import load
    tuned, _ = load(tmp_path / "runs" / "finetune" / "generator.weights.h5", "dmphn-1-2-4")
    assert not _same(tuned, official_model)  # two fine-tuning steps moved the official weights
    x = np.asarray(Image.open(tmp_path / "my_pairs" / "test" / "blur" / "0.png"), "float32")[None] / 255 - 0.5
    assert np.all(np.isfinite(np.asarray(tuned(x))))
    cli("deblur", "my_pairs/test/blur/0.png", "--model", "dmphn-1-2-4",
        "--weights", "runs/finetune/generator.weights.h5", "--out", "out")
    assert os.listdir(tmp_path / "out")
