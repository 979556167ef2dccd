"""HDF5 files that point outside themselves (issue 31, item 2) or declare huge datasets (item 11): every HDF5 file
the project reads (Keras-2 weights, HDF5 datasets, our .weights.h5, a build's partial) is refused in one line naming
the file and the object, before any byte of another file is read."""
import os

import h5py
import numpy as np
import pytest

from deblurkeras import h5safe
from deblurkeras.cli import main
from deblurkeras.errors import BadInputError

SECRET = b"TOP-SECRET-0123456789abcdef"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


def _external_storage(path, secret, name="conv2d_1/conv2d_1/kernel:0", shape=(len(SECRET),), dtype="u1"):
    """A dataset whose bytes are the file `secret` (HDF5 external storage)."""
    with h5py.File(path, "a") as f:
        f.create_dataset(name, shape=shape, dtype=dtype, external=[(os.fspath(secret), 0, len(SECRET))])


def _external_link(path, other, name="conv2d_1/conv2d_1/kernel:0"):
    with h5py.File(other, "w") as f:
        f["x"] = np.frombuffer(SECRET, np.uint8)
    with h5py.File(path, "a") as f:
        f[name] = h5py.ExternalLink(os.fspath(other), "/x")


def _virtual(path, other, name="conv2d_1/conv2d_1/kernel:0"):
    with h5py.File(other, "w") as f:
        f["x"] = np.frombuffer(SECRET, np.uint8)
    layout = h5py.VirtualLayout(shape=(len(SECRET),), dtype="u1")
    layout[:] = h5py.VirtualSource(os.fspath(other), "x", shape=(len(SECRET),))
    with h5py.File(path, "a") as f:
        f.create_virtual_dataset(name, layout)


def _keras2_header(path):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"conv2d_1"])
        f.create_group("conv2d_1").attrs["weight_names"] = np.array([b"conv2d_1/kernel:0"])


@pytest.mark.parametrize("kind, says", [("storage", "keeps its data in another file"),
                                        ("link", "is an external link"), ("virtual", "is a virtual dataset")])
def test_keras2_weights_pointing_outside_the_file_are_refused(tmp_path, secret, kind, says):
    from deblurkeras.families.dense_gan.importer import read_keras2_h5

    path = tmp_path / "g.h5"
    _keras2_header(path)
    {"storage": lambda: _external_storage(path, secret), "link": lambda: _external_link(path, tmp_path / "o.h5"),
     "virtual": lambda: _virtual(path, tmp_path / "o.h5")}[kind]()
    # the old reader returned the secret's bytes as the kernel
    with pytest.raises(BadInputError, match=rf"g.h5: HDF5 object 'conv2d_1/conv2d_1/kernel:0' {says}"):
        read_keras2_h5(path)


def test_import_keras2_with_external_storage_one_line_and_no_output(tmp_path, secret, capsys):
    path = tmp_path / "g.h5"
    _keras2_header(path)
    _external_storage(path, secret)
    out = tmp_path / "out.weights.h5"
    assert main(["import-keras2", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "g.h5" in err and "conv2d_1/conv2d_1/kernel:0" in err, err
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if ".partial" in p]


def test_our_weights_h5_with_external_storage_is_refused(tmp_path, secret):
    import keras

    from deblurkeras import weights
    from deblurkeras.families import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path / "m.weights.h5"
    weights.save(build_model("srresnet-x4", n_blocks=1, channels=8), path)
    with h5py.File(path, "a") as f:  # replace one bias by an external-storage twin of the same shape
        name = next(n for n in _datasets(f) if f[n].shape == (8,))
        del f[name]
        f.create_dataset(name, shape=(8,), dtype="f4", external=[(os.fspath(secret), 0, 32)])
    with pytest.raises(BadInputError, match=rf"m.weights.h5: HDF5 object '{name}' keeps its data in another file"):
        weights.load(path)


def _datasets(f):
    out = []
    f.visititems(lambda n, o: out.append(n) if isinstance(o, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("kind", ["storage", "link", "virtual"])
def test_hdf5_datasets_pointing_outside_are_refused(tmp_path, secret, kind):
    from deblurkeras.data.hdf5 import count, open_hdf5

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["test_data_full"] = np.zeros((1, 4, 4, 3), np.uint8)
    name = "test_data_blur"
    {"storage": lambda: _external_storage(path, secret, name, (1, 3, 3, 3)),
     "link": lambda: _external_link(path, tmp_path / "o.h5", name),
     "virtual": lambda: _virtual(path, tmp_path / "o.h5", name)}[kind]()
    with pytest.raises(BadInputError, match="data.h5: HDF5 object 'test_data_blur'"):
        count(path)
    with pytest.raises(BadInputError, match="data.h5"):
        open_hdf5(path)


def test_a_10gb_dataset_in_a_small_keras2_file_is_refused_before_reading(tmp_path):
    """Item 11: a declared 10 GB dataset (no data written: the file stays small) is refused from its header."""
    from deblurkeras.families.dense_gan.importer import read_keras2_h5

    path = tmp_path / "g.h5"
    _keras2_header(path)
    with h5py.File(path, "a") as f:
        f.create_dataset("conv2d_1/conv2d_1/kernel:0", shape=(3, 3, 3, 400_000), dtype="f4")
        f.create_dataset("conv2d_1/huge", shape=(50_000, 50_000), dtype="f4")
    assert os.path.getsize(path) < 100_000
    with pytest.raises(BadInputError, match=r"g.h5: HDF5 object '.*' declares .* elements, more than any weight"):
        read_keras2_h5(path)


def test_a_self_contained_file_with_soft_links_passes(tmp_path):
    path = tmp_path / "ok.h5"
    with h5py.File(path, "w") as f:
        f["a/b"] = np.ones(3)
        f["s"] = h5py.SoftLink("/a/b")
    h5safe.check_file(path, h5safe.MAX_WEIGHT_ELEMENTS)
