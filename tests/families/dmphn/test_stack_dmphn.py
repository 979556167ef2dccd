"""Stack-DMPHN (the official SDNet2/3/4): structure, the released lv2 quirk, the SDNet folder importer, the trainer.

Official-layout folders are written here from official-definition modules (deblurkeras/families/dmphn/original.py) with
random weights; nothing of the originals is used. Small shapes (32x32 and less) throughout."""
import numpy as np
import pytest

from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.families import build_model, model_io
from deblurkeras.families.dmphn import PAIR_PARAMS
from deblurkeras.families.dmphn import model as dmphn


def _n(model):
    return sum(int(np.prod(w.shape)) for w in model.weights)


def test_two_stacks_have_six_official_pairs_named_like_the_files():
    model = build_model("stack-dmphn-2")
    subs = sorted(layer.name for layer in model.layers if layer.weights)
    assert subs == sorted(f"{p}_s{s}_lv{lv}" for p in ("encoder", "decoder") for s in (1, 2) for lv in (1, 2, 3))
    assert _n(model) == 6 * PAIR_PARAMS == 10_848_786
    assert len(model.outputs) == 2                       # every stack's output: the loss sees them all
    io = model_io("stack-dmphn-2")
    assert (io.in_offset, io.out_offset, io.multiples, io.output_index) == (-0.5, -0.5, (8, 8), -1)
    assert "tile" in io.tiling_caveat


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="stacks"):
        dmphn.build_stack_dmphn(5)
    with pytest.raises(ValueError, match="lv2_residual"):
        dmphn.build_stack_dmphn(2, lv2_residual="last")


# ------------------------------------------------------------------------------------------------ official forward
def _ref_modules(stacks, seed=0):
    import torch
    from deblurkeras.families.dmphn import original as ref

    torch.manual_seed(seed)
    enc, dec = ref.sdnet_modules(stacks)
    for m in (*enc.values(), *dec.values()):   # non-zero biases, so a bias mapped to the wrong place cannot hide
        m.eval()
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.data.normal_(0, 0.05)
    return enc, dec


def _sdnet_dir(path, stacks, seed=0):
    """An official checkpoints/SDNet<N>/ folder: torch.save(state_dict) per stack and level."""
    import torch

    path.mkdir(parents=True, exist_ok=True)
    enc, dec = _ref_modules(stacks, seed)
    for part, mods in (("encoder", enc), ("decoder", dec)):
        for (s, lv), m in mods.items():
            torch.save(m.state_dict(), path / f"{part}_s{s}_lv{lv}.pkl")
    return enc, dec


def _official(enc, dec, x, lv2_residual="first"):
    import torch
    from deblurkeras.families.dmphn import original as ref

    with torch.no_grad():
        outs = ref.sdnet_forward(enc, dec, torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                                 lv2_residual)
    return [o.numpy().transpose(0, 2, 3, 1) for o in outs]


@pytest.fixture(scope="module")
def sdnet3(tmp_path_factory):
    """A folder named SDNet3 holding 4 stacks, as the released one: s4 is never read by SDNet3_test.py."""
    pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("ckpt") / "SDNet3"
    enc, dec = _sdnet_dir(path, 4)
    return path, enc, dec


@pytest.mark.torch
def test_import_reproduces_the_official_forward_with_its_lv2_quirk(sdnet3, capsys):
    from deblurkeras.importers.cli import import_model

    path, enc, dec = sdnet3
    model, name = import_model(path)                  # auto: SDNet3 -> 3 stacks, as its test script
    assert name == "stack-dmphn-3"
    err = capsys.readouterr().err
    assert "read stacks s1-s3 (18 files)" in err and "unused: decoder_s4_lv1.pkl" in err
    assert err.count("\n") == 1
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 16, 24, 3)).astype("float32")
    three = {k: v for k, v in enc.items() if k[0] <= 3}, {k: v for k, v in dec.items() if k[0] <= 3}
    want = _official(*three, x)
    got = [np.asarray(o) for o in model(x)]
    assert len(got) == 3
    for a, b in zip(got, want):
        assert np.abs(a - b).max() <= 1e-5, np.abs(a - b).max()
    assert np.abs(want[-1]).mean() > 1e-2
    # the named variants are the official forward with the other residual, and do differ from the default here
    for option in ("previous", "none"):
        variant = build_model("stack-dmphn-3", lv2_residual=option)
        variant.set_weights(model.get_weights())
        out = np.asarray(variant(x)[-1])
        assert np.abs(out - _official(*three, x, option)[-1]).max() <= 1e-5
        assert np.abs(out - got[-1]).max() > 1e-3


@pytest.mark.slow
@pytest.mark.torch
def test_model_chooses_the_stacks_explicitly(sdnet3, capsys):
    from deblurkeras.importers.cli import import_model

    path, enc, dec = sdnet3
    four, name = import_model(path, "stack-dmphn-4")          # the s4 set too, nothing left unused
    assert name == "stack-dmphn-4" and "unused: none" in capsys.readouterr().err
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 16, 24, 3)).astype("float32")
    assert np.abs(np.asarray(four(x)[-1]) - _official(enc, dec, x)[-1]).max() <= 1e-5


@pytest.mark.torch
def test_two_stacks_first_and_previous_are_the_same_network():
    model = build_model("stack-dmphn-2")
    other = build_model("stack-dmphn-2", lv2_residual="previous")
    other.set_weights(model.get_weights())
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (1, 16, 16, 3)).astype("float32")
    assert np.array_equal(np.asarray(model(x)[-1]), np.asarray(other(x)[-1]))


@pytest.mark.torch
def test_strict_import_names_missing_extra_and_misshaped_tensors(tmp_path):
    import torch
    from deblurkeras.families.dmphn import importer as torch_import

    path = tmp_path / "mine"
    enc, _ = _sdnet_dir(path, 2)
    sd = enc[2, 3].state_dict()
    sd["layer5.weight"] = torch.zeros(64, 32, 5, 5)
    sd["layer99.weight"] = torch.zeros(1)
    del sd["layer2.2.bias"]
    torch.save(sd, path / "encoder_s2_lv3.pkl")
    model = build_model("stack-dmphn-2")
    before = [np.asarray(v).copy() for v in model.weights]
    with pytest.raises(WeightsMismatchError) as e:
        torch_import.import_stack_dmphn(path, model)
    msg = str(e.value)
    assert all(s in msg for s in ("encoder_s2_lv3.pkl", "layer2.2.bias", "layer5.weight", "layer99.weight"))
    assert all(np.array_equal(a, np.asarray(v)) for a, v in zip(before, model.weights))
    (path / "decoder_s2_lv1.pkl").unlink()
    with pytest.raises(BadInputError, match="missing decoder_s2_lv1.pkl"):
        torch_import.import_stack_dmphn(path, model)
    with pytest.raises(BadInputError, match="cannot fill"):
        torch_import.import_stack_dmphn(path, build_model("dmphn-1-2-4"))


@pytest.mark.torch
def test_auto_reads_the_complete_stacks_of_any_other_folder_and_init_weights_accepts_it(tmp_path, capsys):
    from deblurkeras.families.dmphn import importer as torch_import
    from deblurkeras.weights import load_into

    path = tmp_path / "finetune_me"
    _sdnet_dir(path, 3)
    (path / "decoder_s3_lv2.pkl").unlink()                  # stack 3 incomplete: auto stops at 2, and says so
    assert torch_import.detect_model(str(path)) == "stack-dmphn-2"
    model = load_into(build_model("stack-dmphn-2"), str(path), "stack-dmphn-2")   # model.init_weights' path
    err = capsys.readouterr().err
    assert "read stacks s1-s2" in err and "encoder_s3_lv1.pkl" in err and "decoder_s3_lv2.pkl" not in err
    ref, _ = torch_import.import_stack_dmphn(path, stacks=2)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), ref.get_weights()))
    with pytest.raises(BadInputError, match="missing decoder_s3_lv2.pkl"):
        load_into(build_model("stack-dmphn-3"), str(path), "stack-dmphn-3")


@pytest.mark.torch
def test_cli_import_torch_writes_the_model_and_says_what_it_read(sdnet3, tmp_path, capsys):
    from deblurkeras import weights
    from deblurkeras.cli import main

    path, _, _ = sdnet3
    out = tmp_path / "sdnet3.weights.h5"
    assert main(["import-torch", str(path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "imported stack-dmphn-3" in captured.out and "16,273,179" in captured.out
    assert "unused: decoder_s4_lv1.pkl" in captured.err
    assert weights.read_identity(out)["model"] == "stack-dmphn-3"
    assert main(["import-torch", str(path), "--model", "dmphn-1-2-4", "--out", str(tmp_path / "x.weights.h5")]) == 2
    assert not (tmp_path / "x.weights.h5").exists()


# ------------------------------------------------------------------------------------------------ trainer
def test_trainer_loss_is_the_sum_of_every_stacks_mse():
    import keras
    from deblurkeras.families.dmphn.trainer import DMPHNTrainer

    keras.utils.set_random_seed(0)
    net = build_model("stack-dmphn-2")
    trainer = DMPHNTrainer(net)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4), run_eagerly=True)   # no tracing: fast on CPU
    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    blurred = np.clip(sharp + rng.normal(0, 0.1, sharp.shape), 0, 1).astype("float32")
    outs = [np.asarray(o) for o in net(blurred - 0.5)]
    per_stack = [float(np.mean((o - (sharp - 0.5)) ** 2)) for o in outs]
    got = trainer.evaluate(blurred, sharp, batch_size=2, verbose=0, return_dict=True)["loss"]
    assert abs(got - sum(per_stack)) < 1e-6 and abs(got - per_stack[-1]) > 1e-4
    hist = trainer.fit(blurred, sharp, batch_size=2, epochs=2, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    prev = np.asarray(trainer.preview(blurred))
    assert prev.shape == blurred.shape and prev.min() >= 0 and prev.max() <= 1


def test_the_shipped_config_trains_sdnet4_as_its_script():
    from deblurkeras.errors import BadInputError
    from deblurkeras.training import config

    cfg = config.load_config("dmphn/gopro_stack_dmphn_4")
    assert cfg["model"]["name"] == "stack-dmphn-4" and cfg["model"]["lv2_residual"] == "first"
    assert (cfg["data"]["batch_size"], cfg["data"]["crop"], cfg["train"]["lr"]) == (2, 256, 1e-4)
    assert cfg["train"]["boundaries"] == [1052000, 2104000] and cfg["train"]["total_steps"] == 3 * 1052000
    with pytest.raises(BadInputError, match="lv2_residual"):
        config.load_config("dmphn/gopro_stack_dmphn_4", ["model.lv2_residual=last"])
