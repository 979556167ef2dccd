"""Training configs: per-family defaults (the originals'), typed validation, one-line errors with exit status 2."""
import pytest

from deblurkeras import families
from deblurkeras.cli import main
from deblurkeras.errors import BadInputError
from deblurkeras.training import config


@pytest.mark.parametrize("name", sorted(families.shipped_configs()))
def test_every_shipped_config_validates(name):
    cfg = config.load_config(name)
    assert config.family_spec(cfg).name == name.split("/")[0]
    assert config.resolve(cfg) == cfg  # validating a resolved config changes nothing


@pytest.mark.parametrize("item,expected", [
    ("trian.lr=1", r"unknown section trian\.lr=1 .*expected one of model, data, train, run"),
    ("train.lrr=1", r"unknown key train\.lrr=1 \(did you mean train\.lr\?\)"),
    ("train.lr=abc", r"train\.lr='abc': expected a number"),
    ("train.total_steps=ten", r"train\.total_steps='ten': expected an integer"),
    ("train.total_steps=2.5", r"train\.total_steps=2\.5: expected an integer"),
    ("model.name=srn-bogus", r"model\.name='srn-bogus': expected one of .*srn-color"),
    ("model.name=dense-gan-d", r"model\.name='dense-gan-d': expected one of"),
    ("data.crop=30", r"data\.crop=30: expected a multiple of 16 for srn-color"),
    ("data.flips=maybe", r"data\.flips='maybe': expected true or false"),
    ("train.schedule=polynominal", r"train\.schedule='polynominal': expected one of 'polynomial'"),
    ("run.strategy=tpu", r"run\.strategy='tpu': expected one of"),
    ("train.batch_size=4", r"unknown key train\.batch_size=4"),
    ("data.batch_size=0", r"data\.batch_size=0: expected an integer >= 1"),
    ("model.family=dmphn", r"model\.family='dmphn' but model\.name='srn-color' is of family 'srn'"),
])
def test_nonsense_is_refused_on_one_line_with_exit_status_2(item, expected, capsys):
    """Each of these trained at the default (or ended in a traceback) on the old runner."""
    with pytest.raises(BadInputError, match=expected):
        config.load_config("srn/gopro_color", [item])
    capsys.readouterr()
    assert main(["train", "--config", "srn/gopro_color", "--set", item]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("deblurkeras train: error: config:"), err


def test_values_are_coerced_to_the_default_type():
    cfg = config.load_config("srn/gopro_color", ["train.lr=1", "train.total_steps=1e3", "train.clip_lstm_norm=3",
                                                 "train.global_clipnorm=null", "data.crop=null"])
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)
    assert cfg["train"]["total_steps"] == 1000 and isinstance(cfg["train"]["total_steps"], int)
    assert cfg["train"]["clip_lstm_norm"] == 3.0 and cfg["train"]["global_clipnorm"] is None
    assert cfg["data"]["crop"] is None
    with pytest.raises(BadInputError, match=r"train\.lr=None: expected a number"):
        config.load_config("srn/gopro_color", ["train.lr=null"])
    with pytest.raises(BadInputError, match=r"model.name is missing"):
        config.load_config(base={"train": {"lr": 1e-3}})
    with pytest.raises(BadInputError, match=r"piecewise"):
        config.load_config(base={"model": {"name": "dmphn-1-2-4"}, "train": {"boundaries": []}})


def test_each_family_gets_its_own_defaults_not_srns():
    """The old runner gave every family SRN's lr 1e-4, eps 1e-8, polynomial power 0.3, crop 256, 524k steps."""
    gan = config.load_config(base={"model": {"name": "dense-gan"}})
    t, d = gan["train"], gan["data"]
    assert (t["lr"], t["epsilon"], t["schedule"], t["total_steps"]) == (1e-3, 1e-7, "constant", 3020)
    assert (d["batch_size"], d["crop"], d["shuffle"]) == (2, 256, False)  # the original walks the file in order
    dm = config.load_config(base={"model": {"name": "dmphn-1-2-4-8"}})
    assert (dm["train"]["schedule"], dm["train"]["boundaries"], dm["data"]["batch_size"]) == \
        ("piecewise", [351000, 702000, 1053000], 6)
    sr = config.load_config(base={"model": {"name": "srgan-x4"}})
    assert (sr["train"]["schedule"], sr["data"]["crop"], sr["data"]["batch_size"]) == (None, 96, 16)
    assert "power" in config.BASE["train"] and config.BASE["train"]["power"] == 1.0  # SRN's 0.3 is SRN's
    srn = config.load_config(base={"model": {"name": "srn-color"}})
    assert (srn["train"]["power"], srn["train"]["total_steps"], srn["data"]["shuffle"]) == (0.3, 524000, True)
    for name in ("dense-gan", "dmphn-1-2-4", "srresnet-x4"):   # SRN keys are not accepted elsewhere
        with pytest.raises(BadInputError, match="unknown key"):
            config.load_config(base={"model": {"name": name}, "train": {"clip_lstm_norm": 3}})


def test_srgan_schedule_tells_unset_from_an_explicit_polynomial():
    """The old `_srgan_schedule` turned an explicit `polynomial` into the tutorial's step decay."""
    from deblurkeras.families.sr.trainer import model_schedule

    t = config.load_config(base={"model": {"name": "srgan-x4"}, "train": {"total_steps": 100}})["train"]
    assert model_schedule(t, 100, srgan=True)["boundaries"] == [50]
    assert model_schedule(t, 100, srgan=False)["schedule"] == "constant"
    explicit = {**t, "schedule": "polynomial"}
    assert model_schedule(explicit, 100, srgan=True) is explicit


def test_gan_optimizers_follow_the_family_defaults():
    """The old `_adam` fallbacks (1e-3 / 1e-7) were dead code: the runner's SRN defaults always won."""
    import keras

    from deblurkeras.families.dense_gan import trainer as gan
    cfg = config.load_config(base={"model": {"name": "dense-gan"}})
    opt = gan._adam(cfg["train"])
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(1e-3) and opt.epsilon == 1e-7


def test_dense_gan_crop_must_fit_the_patches():
    from deblurkeras.families.dense_gan import trainer as gan
    cfg = config.load_config(base={"model": {"name": "dense-gan"}, "data": {"crop": 80}})
    with pytest.raises(BadInputError, match=r"data.crop=80: expected a multiple of model.patch_size \(64\)"):
        gan.build_trainer(cfg)


def test_demo_section_is_validated_only_where_present():
    cfg = config.load_config("srn/demo")
    assert cfg["demo"]["n_kernels"] == 4
    assert "demo" not in config.load_config("srn/gopro_color")
    with pytest.raises(BadInputError, match="unknown key demo.n_trian"):
        config.load_config("srn/demo", ["demo.n_trian=3"])


def test_hdf5_order_follows_data_shuffle(tmp_path):
    """The dense-field GAN's batches follow the file, as the original's; SRN shuffles."""
    import numpy as np

    from deblurkeras.training.datasets import hdf5_datasets
    from tiny_trainers import make_h5

    path = make_h5(tmp_path / "d.h5", n_train=6, size=16)
    import h5py
    with h5py.File(path, "r") as f:
        sharp = f["train_data_full"][()].astype("float32") / 127.5 - 1.0
    gan = config.load_config(base={"model": {"name": "dense-gan"},
                                   "data": {"path": path, "crop": None, "val_split": None}})
    train, _ = hdf5_datasets(gan, 0, (-1, 1))
    got = np.concatenate([b[1].numpy() for b in train.take(3)])
    np.testing.assert_allclose(got, sharp, atol=1e-6)          # file order, every image once per epoch
    srn = config.load_config(base={"model": {"name": "srn-color"},
                                   "data": {"path": path, "crop": None, "val_split": None, "batch_size": 2}})
    train, _ = hdf5_datasets(srn, 0, (0, 1))
    got = np.concatenate([b[1].numpy() for b in train.take(3)])
    assert not np.allclose(got, (sharp + 1) / 2, atol=1e-6)   # shuffled
