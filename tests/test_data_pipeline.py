"""deblurkeras.data: lazy HDF5 -> tf.data pipeline, on a file in the ORIGINAL layout (no names, contiguous)."""
import h5py
import numpy as np
import pytest
import tensorflow as tf

from deblurkeras.data import count, make_dataset, read_pairs
from deblurkeras.data.pipeline import sample_index
from deblurkeras.errors import BadInputError

N, H, W = 5, 20, 24


@pytest.fixture
def h5_original(tmp_path):
    """What the original build_hdf5 writes: 4 plain uint8 datasets, blur = 255 - full so pairing is checkable."""
    rng = np.random.default_rng(0)
    path = tmp_path / "orig.h5"
    with h5py.File(path, "w") as f:
        for split, n in (("train", N), ("test", 3)):
            full = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
            f.create_dataset(f"{split}_data_full", data=full)
            f.create_dataset(f"{split}_data_blur", data=255 - full)
    return path


def _full(path, split="train"):
    with h5py.File(path, "r") as f:
        return f[f"{split}_data_full"][:]


def _locate(crop, full):
    """(index, y, x) of a crop inside the stack of full images, or None."""
    ch, cw = crop.shape[:2]
    for i in range(full.shape[0]):
        for y in range(full.shape[1] - ch + 1):
            for x in range(full.shape[2] - cw + 1):
                if np.array_equal(full[i, y:y + ch, x:x + cw], crop):
                    return i, y, x
    return None


def _u8(x):
    return np.round(x.numpy() * 255).astype(np.uint8)


def test_shared_crop_is_a_real_crop_of_an_aligned_pair(h5_original):
    full = _full(h5_original)
    ds = make_dataset(h5_original, batch_size=2, crop=8, seed=3)
    for blurred, sharp in ds.take(3):
        assert blurred.shape == (2, 8, 8, 3) and blurred.dtype == tf.float32
        for b, s in zip(_u8(blurred), _u8(sharp)):
            np.testing.assert_array_equal(b, 255 - s)  # same crop window in both images
            assert _locate(s, full) is not None


def test_deterministic_per_seed_and_resumable(h5_original):
    def batches(**kw):
        return [(b.numpy(), s.numpy()) for b, s in make_dataset(h5_original, batch_size=2, crop=8, **kw).take(6)]

    a, b, c = batches(seed=1), batches(seed=1), batches(seed=2)
    for (x, _), (y, _) in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for (x, _), (y, _) in zip(a, c))
    resumed = batches(seed=1, start_step=3)  # a run killed after 3 steps continues with batch 3
    for (x, _), (y, _) in zip(a[3:], resumed):
        np.testing.assert_array_equal(x, y)


def test_each_epoch_visits_every_pair_once(h5_original):
    full = _full(h5_original)
    ds = make_dataset(h5_original, batch_size=1, crop=None, seed=5)
    seen = [_locate(_u8(s[0]), full)[0] for _, s in ds.take(2 * N)]
    assert sorted(seen[:N]) == list(range(N)) and sorted(seen[N:]) == list(range(N))
    assert seen[:N] != seen[N:] or seen[:N] != list(range(N))  # shuffled (per-epoch permutation)
    assert [sample_index(k, N, 5) for k in range(2 * N)] == seen
    plain = make_dataset(h5_original, batch_size=1, crop=None, shuffle=False)
    assert [_locate(_u8(s[0]), full)[0] for _, s in plain.take(N + 2)] == [0, 1, 2, 3, 4, 0, 1]


def test_one_epoch_without_repeat(h5_original):
    sizes = [b.shape[0] for b, _ in make_dataset(h5_original, batch_size=2, crop=8, repeat=False)]
    assert sizes == [2, 2, 1]


def test_value_range_and_gray(h5_original):
    full = _full(h5_original).astype(np.float32)
    ds = make_dataset(h5_original, batch_size=N, crop=None, shuffle=False, value_range=(-1, 1))
    _, sharp = next(iter(ds))
    np.testing.assert_allclose(sharp.numpy(), full / 127.5 - 1, atol=1e-6)  # the original loader's mapping
    ds = make_dataset(h5_original, batch_size=N, crop=None, shuffle=False, gray=True)
    _, sharp = next(iter(ds))
    assert sharp.shape == (N, H, W, 1)
    want = (full / 255) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    np.testing.assert_allclose(sharp.numpy()[..., 0], want, atol=1e-5)


def test_flips_keep_pairs_aligned(h5_original):
    full = _full(h5_original)
    flipped = 0
    for b, s in make_dataset(h5_original, batch_size=1, crop=8, flips=True, seed=0).take(12):
        b, s = _u8(b[0]), _u8(s[0])
        np.testing.assert_array_equal(b, 255 - s)
        flipped += _locate(s, full) is None  # a flipped crop is (almost surely) not an unflipped crop
    assert 0 < flipped < 12


def test_read_pairs_and_count(h5_original):
    assert count(h5_original, "train") == N and count(h5_original, "test") == 3
    pairs = list(read_pairs(h5_original, "test"))
    assert [n for _, _, n in pairs] == ["test_000000", "test_000001", "test_000002"]
    b, s, _ = pairs[1]
    assert b.dtype == np.uint8 and b.shape == (H, W, 3)
    np.testing.assert_array_equal(b, 255 - s)


def test_bad_requests_name_the_file(h5_original, tmp_path):
    with pytest.raises(BadInputError, match="crop 64"):
        make_dataset(h5_original, crop=64)
    with pytest.raises(BadInputError, match="valid_data_full"):
        make_dataset(h5_original, split="valid")
    with pytest.raises(BadInputError, match="no such HDF5"):
        count(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(BadInputError, match="junk.h5"):
        make_dataset(junk)


def test_reads_files_written_by_our_writer(tmp_path):
    from deblurkeras.data.synthesize import synthesize_hdf5

    path = synthesize_hdf5(tmp_path / "syn.h5", n_train=3, n_test=1, size=32, seed=0)
    b, s = next(iter(make_dataset(path, batch_size=2, crop=16, value_range=(-1, 1))))
    assert b.shape == s.shape == (2, 16, 16, 3) and -1 <= float(tf.reduce_min(b)) and float(tf.reduce_max(b)) <= 1
    assert [n for _, _, n in read_pairs(path, "test")] == ["chelsea_00000"]
