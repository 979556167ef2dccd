"""Import of the original Keras 2 `save_weights` HDF5 files of the dense-field GAN (files written here by h5py in
that exact layout: `layer_names` on the root, `weight_names` per layer group, arrays at `<layer>/<weight>:0`)."""
import json

import h5py
import numpy as np
import pytest

import deblurkeras  # noqa: F401  (sets the Keras backend)
from deblurkeras import cli
from deblurkeras.families.dense_gan import importer as keras2_h5
from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.families.dense_gan import model as dense_gan

_CLASS = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization", "Dense": "dense"}
_ATTRS = {"Conv2D": ("kernel", "bias"), "Dense": ("kernel", "bias"),
          "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance")}


def keras2_names(model, start=None):
    """The Keras 2 auto-names the original code gave the model's weighted layers (per-class counters)."""
    counters = dict(start or {})
    names = []
    for layer in keras2_h5.weighted_layers(model):
        cls = _CLASS[type(layer).__name__]
        counters[cls] = counters.get(cls, 0) + 1
        names.append(f"{cls}_{counters[cls]}")
    return names


def random_arrays(model, seed):
    """Random arrays for every weighted layer, shaped like the model's (moving variance positive)."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in keras2_h5.weighted_layers(model):
        arrays = {}
        for attr in _ATTRS[type(layer).__name__]:
            shape = tuple(getattr(layer, attr).shape)
            arrays[attr] = (rng.uniform(0.5, 1.5, shape) if attr == "moving_variance"
                            else rng.normal(0, 0.1, shape)).astype("float32")
        out.append(arrays)
    return out


def write_keras2_h5(path, groups):
    """groups: [(layer group name, [(weight name, array), ...])] -> a file in the Keras 2 save_weights layout."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([g.encode() for g, _ in groups])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.3"
        for gname, weights in groups:
            g = f.create_group(gname)
            g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
            for wname, arr in weights:
                g.create_dataset(wname, data=arr)


def generator_file(path, model, seed=0, names=None):
    """A Keras 2 generator file: weightless layers included, as the original's layer list had them."""
    names = names or keras2_names(model)
    arrays = random_arrays(model, seed)
    groups = [("input_1", []), (names[0], [(f"{names[0]}/{a}:0", v) for a, v in arrays[0].items()]),
              ("leaky_re_lu_1", [])]
    groups += [(n, [(f"{n}/{a}:0", v) for a, v in arr.items()]) for n, arr in zip(names[1:], arrays[1:])]
    write_keras2_h5(path, groups)
    return names, arrays


def discriminator_file(path, model, seed=0):
    """The original discriminator: 16 Lambda layers, the nested PatchGAN model (its inner layers' weights, named
    after a generator built first in the same session), Average."""
    names = keras2_names(model, start={"conv2d": 24, "batch_normalization": 21})
    arrays = random_arrays(model, seed)
    inner = [(f"{n}/{a}:0", v) for n, arr in zip(names, arrays) for a, v in arr.items()]
    groups = [("input_3", [])] + [(f"lambda_{i}", []) for i in range(1, 17)]
    groups += [("PatchGAN", inner), ("average_1", [])]
    write_keras2_h5(path, groups)
    return names, arrays


def assert_loaded(model, arrays):
    for layer, arr in zip(keras2_h5.weighted_layers(model), arrays):
        for attr, value in arr.items():
            np.testing.assert_array_equal(getattr(layer, attr).numpy(), value, err_msg=f"{layer.name}/{attr}")


def test_original_auto_names_map_in_creation_order():
    g = dense_gan.build_generator(channel_rate=8)
    names = keras2_names(g)
    mapping = keras2_h5.default_name_map(names, keras2_h5.weighted_layers(g))
    # The documented table (models/dense_gan.py).
    assert mapping["conv2d_1"] == "head"
    assert mapping["conv2d_2"] == "d1_conv1x1" and mapping["conv2d_3"] == "d1_conv3x3"
    assert mapping["conv2d_21"] == "d10_conv3x3" and mapping["batch_normalization_20"] == "d10_bn2"
    assert mapping["conv2d_22"] == "tail_conv1x1" and mapping["batch_normalization_21"] == "tail_bn"
    assert mapping["conv2d_23"] == "skip_conv" and mapping["conv2d_24"] == "output"


def test_generator_file_loads_every_array(tmp_path):
    g = dense_gan.build_generator(channel_rate=8)
    path = tmp_path / "generator_weights.h5"
    _, arrays = generator_file(path, g, seed=1)
    keras2_h5.load_keras2_h5(g, path)
    assert_loaded(g, arrays)


def test_discriminator_file_with_nested_patchgan_and_shifted_numbers(tmp_path):
    d = dense_gan.build_discriminator(patch_size=16, filters=8, image_shape=(32, 32, 3))
    path = tmp_path / "discriminator_weights.h5"
    names, arrays = discriminator_file(path, d, seed=2)
    assert names[0] == "conv2d_25" and names[-1] == "dense_1"
    keras2_h5.load_keras2_h5(d, path)
    assert_loaded(d, arrays)


def test_missing_layer_is_a_named_error_and_nothing_is_assigned(tmp_path):
    g = dense_gan.build_generator(channel_rate=8)
    names, arrays = keras2_names(g), random_arrays(g, 3)
    groups = [(n, [(f"{n}/{a}:0", v) for a, v in arr.items()]) for n, arr in zip(names, arrays)]
    assert groups[4][0] == "batch_normalization_2"  # -> d1_bn2
    del groups[4]
    path = tmp_path / "cut.h5"
    write_keras2_h5(path, groups)
    before = [w.numpy().copy() for w in g.weights]
    with pytest.raises(WeightsMismatchError, match="missing: d1_bn2/gamma"):
        keras2_h5.load_keras2_h5(g, path)
    for b, w in zip(before, g.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_shape_mismatch_and_unexpected_arrays_are_named(tmp_path):
    g = dense_gan.build_generator(channel_rate=8)
    path = tmp_path / "wide.h5"
    generator_file(path, dense_gan.build_generator(channel_rate=16))
    with pytest.raises(WeightsMismatchError, match=r"shape mismatch: conv2d_1/kernel -> head/kernel \(3, 3, 3, 64\)"):
        keras2_h5.load_keras2_h5(g, path)
    # A PReLU (an earlier version of the original) has no place in the port.
    names, arrays = keras2_names(g), random_arrays(g, 4)
    groups = [(n, [(f"{n}/{a}:0", v) for a, v in arr.items()]) for n, arr in zip(names, arrays)]
    groups.append(("p_re_lu_1", [("p_re_lu_1/alpha:0", np.zeros((1, 1, 8), "float32"))]))
    write_keras2_h5(tmp_path / "prelu.h5", groups)
    with pytest.raises(WeightsMismatchError, match="unexpected: p_re_lu_1/alpha"):
        keras2_h5.load_keras2_h5(g, tmp_path / "prelu.h5")


def test_name_map_overrides_the_default(tmp_path):
    g = dense_gan.build_generator(channel_rate=8)
    names = keras2_names(g)
    custom = [n.replace("conv2d_1", "my_head") if n == "conv2d_1" else n for n in names]
    path = tmp_path / "renamed.h5"
    _, arrays = generator_file(path, g, seed=5, names=custom)
    with pytest.raises(WeightsMismatchError, match="my_head"):
        keras2_h5.load_keras2_h5(g, path)
    keras2_h5.load_keras2_h5(g, path, name_map={"my_head": "head"})
    assert_loaded(g, arrays)


def test_not_a_keras2_file_is_a_bad_input(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(BadInputError, match="junk.h5: not an HDF5 file"):
        keras2_h5.read_keras2_h5(junk)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(BadInputError, match="no 'layer_names'"):
        keras2_h5.read_keras2_h5(tmp_path / "plain.h5")


def test_cli_imports_generator_and_discriminator(tmp_path, capsys):
    g = dense_gan.build_generator(channel_rate=8)
    generator_file(tmp_path / "g.h5", g, seed=6)
    out = tmp_path / "out" / "g.weights.h5"
    assert cli.main(["import-keras2", str(tmp_path / "g.h5"), "--out", str(out)]) == 0
    assert "dense-gan," in capsys.readouterr().out
    reloaded = dense_gan.build_generator(channel_rate=8)
    reloaded.load_weights(out)
    keras2_h5.load_keras2_h5(g, tmp_path / "g.h5")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 24, 20, 3)).astype("float32")
    np.testing.assert_allclose(reloaded(x).numpy(), g(x).numpy(), atol=1e-6)

    d = dense_gan.build_discriminator(patch_size=16, filters=8, image_shape=(32, 32, 3))
    discriminator_file(tmp_path / "d.h5", d, seed=7)
    assert cli.main(["import-keras2", str(tmp_path / "d.h5"), "--out", str(tmp_path / "d.keras")]) == 0
    assert (tmp_path / "d.keras").is_file()
    # Asking for the wrong network, or a bad name map: exit 2, nothing written.
    bad = tmp_path / "bad.weights.h5"
    assert cli.main(["import-keras2", str(tmp_path / "d.h5"), "--model", "dense-gan", "--out", str(bad)]) == 2
    (tmp_path / "map.json").write_text(json.dumps(["not", "a", "dict"]))
    assert cli.main(["import-keras2", str(tmp_path / "g.h5"), "--name-map", str(tmp_path / "map.json"),
                     "--out", str(bad)]) == 2
    assert "map.json" in capsys.readouterr().err
    assert not bad.exists() and not list(tmp_path.glob("*.partial*"))
