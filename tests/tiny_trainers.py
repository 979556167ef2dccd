"""Tiny stand-ins for every family's trainer, so runs through the real runner take seconds.

`install(setattr)` swaps the model builders for tiny versions (same classes and trainers, a handful of channels)
and the VGG feature extractors for one small conv; call it with pytest's monkeypatch.setattr, or with the builtin
setattr in a subprocess (with tests/ on sys.path, as conftest.py puts it). What makes a family's runs tiny is its
spec's: `test_runs` (the models whose trainers differ, with the config that makes them tiny) and `test_builds`
(builder overrides per model); every registered family must have test_runs (a new family fails the contract tests
until it has them).
"""
import h5py
import numpy as np

CROP = 16


def runs():
    """family -> [(model name, config overrides)], from the family specs' test_runs."""
    from deblurkeras.families import families

    return {name: list(fam.test_runs) for name, fam in families().items()}


def run_overrides(model):
    """The config overrides of `model`'s tiny run."""
    for family_runs in runs().values():
        for name, overrides in family_runs:
            if name == model:
                return overrides
    raise KeyError(f"{model!r} is in no family spec's test_runs")


def tiny_builds():
    """registered model -> builder overrides making it tiny (the family specs' test_builds)."""
    from deblurkeras.families import families

    return {m: kw for fam in families().values() for m, kw in fam.test_builds.items()}


def cases():
    """pytest params: (family, model, overrides) for every registered family."""
    return [(fam, name, overrides) for fam, family_runs in runs().items()
            for name, overrides in (family_runs or [(None, None)])]


def tiny_features(arch="vgg16", layer="block3_conv3", weights="imagenet", preprocess=False, input_range=(-1, 1),
                  name=None):
    import keras

    x = keras.Input((None, None, 3))
    init = keras.initializers.GlorotUniform(seed=1)
    model = keras.Model(x, keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init)(x),
                        name=name or f"tiny_{arch}")
    model.trainable = False
    return model


def install(setattr=setattr):
    from deblurkeras import losses, registry
    from deblurkeras.families.srn import trainer as srn
    from test_srn_trainer import tiny_generator

    real, builds = registry.build_model, tiny_builds()

    def build(name, **overrides):
        return real(name, **{**overrides, **builds.get(name, {})})

    setattr(registry, "build_model", build)
    setattr(srn, "build_generator", lambda model_cfg: tiny_generator())
    setattr(losses, "vgg_features", tiny_features)


def make_h5(path, n_train=12, n_test=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for split, n in (("train", n_train), ("test", n_test)):
            sharp = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
            blur = ((sharp.astype(np.uint16) + np.roll(sharp, 1, axis=2)) // 2).astype(np.uint8)
            f[f"{split}_data_full"], f[f"{split}_data_blur"] = sharp, blur
    return str(path)


def user_config(tmp_path, model, overrides, **train):
    """A tiny run config (before defaults) for `model`."""
    import copy

    cfg = {"model": {"name": model}, "data": {"path": make_h5(tmp_path / "d.h5"), "batch_size": 2, "crop": CROP,
                                              "val_batch_size": 2, "val_crop": CROP, "val_batches": 1},
           "train": {"total_steps": 3, "ckpt_every": 3, "log_every": 1, "lr": 1e-3, **train},
           "run": {"dir": str(tmp_path / "run"), "progress": False}}
    from deblurkeras.families import entry
    if entry(model).family == "sr":  # the SR stream has no val_crop (validation crops are `crop` too)
        del cfg["data"]["val_crop"]
    for section, values in copy.deepcopy(overrides or {}).items():
        cfg.setdefault(section, {}).update(values)
    return cfg
