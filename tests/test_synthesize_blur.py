"""Boracchi-Foi motion kernels and data_tools/synthesize_blur."""
import h5py
import numpy as np
from PIL import Image

from deblurkeras.data import synthesize as sb
from deblurkeras.data.blur_kernels import blur_image, centre_kernel, random_trajectory, trajectory_to_kernel


def test_trajectory_is_a_constant_speed_walk_inside_the_canvas():
    t = random_trajectory(7, canvas=64, iters=2000, max_len=60)
    assert t.shape == (2000, 2)
    steps = np.linalg.norm(np.diff(t, axis=0), axis=1)
    np.testing.assert_allclose(steps, 60 / 1999, rtol=1e-9)
    assert t.min() >= 0 and t.max() <= 63
    np.testing.assert_array_equal(t, random_trajectory(7))
    assert not np.array_equal(t, random_trajectory(8))


def test_kernel_is_normalised_and_exposure_shortens_it():
    t = random_trajectory(3, expl=0.005)
    k_full, k_short = trajectory_to_kernel(t, 64, 1.0), trajectory_to_kernel(t, 64, 0.01)
    assert k_full.min() >= 0 and abs(k_full.sum() - 1) < 1e-12 and abs(k_short.sum() - 1) < 1e-12
    assert (k_short > 0).sum() < (k_full > 0).sum()


def test_straight_path_gives_a_line_kernel():
    traj = np.stack([np.linspace(10, 30, 200), np.full(200, 20.0)], axis=1)  # horizontal, on a pixel row
    k = trajectory_to_kernel(traj, 64)
    rows = np.nonzero(k.sum(axis=1))[0]
    assert list(rows) == [20] and (k[20] > 0).sum() == 21


def test_blur_image_identity_constant_and_direction():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    np.testing.assert_array_equal(blur_image(img, delta), img)
    flat = np.full((30, 30, 3), 77, np.uint8)
    np.testing.assert_array_equal(blur_image(flat, np.ones((5, 5)) / 25), flat)
    # Horizontal motion: a horizontal edge stays sharp, a vertical edge is spread over the kernel length.
    edge = np.zeros((40, 40), np.uint8)
    edge[20:, :] = 255
    line = np.zeros((9, 9))
    line[4, :] = 1 / 9
    np.testing.assert_array_equal(blur_image(edge, line), edge)
    out = blur_image(edge.T.copy(), line)
    assert len(np.unique(out[10])) >= 8


def test_centred_kernel_does_not_shift_the_image():
    k = np.zeros((20, 20))
    k[3, 2:12] = 1  # off-centre support
    c = centre_kernel(k)
    yy, xx = np.mgrid[: c.shape[0], : c.shape[1]]
    r = c.shape[0] // 2
    assert abs((yy * c).sum() - r) <= 0.5 and abs((xx * c).sum() - r) <= 0.5


def test_synthesize_hdf5_layout_and_reproducibility(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.h5", "b.h5", "c.h5"))
    sb.synthesize_hdf5(a, n_train=4, n_test=2, size=32, seed=0)
    sb.synthesize_hdf5(b, n_train=4, n_test=2, size=32, seed=0)
    sb.synthesize_hdf5(c, n_train=4, n_test=2, size=32, seed=1)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb, h5py.File(c, "r") as fc:
        for key in ("train_data_full", "train_data_blur", "test_data_full", "test_data_blur"):
            assert fa[key].dtype == np.uint8 and fa[key].shape[1:] == (32, 32, 3)
            np.testing.assert_array_equal(fa[key][:], fb[key][:])
            assert not np.array_equal(fa[key][:], fc[key][:])
        assert fa["train_data_full"].shape[0] == 4 and fa["test_data_full"].shape[0] == 2
        test_names = [n.decode() for n in fa["test_names"][:]]
        assert all(n.split("_0")[0] in sb.TEST_PHOTOS for n in test_names)
        assert not any(n.split("_0")[0] in sb.TEST_PHOTOS for n in (x.decode() for x in fa["train_names"][:]))
        assert fa.attrs["n_train"] == 4 and fa.attrs["complete"] == 1
    assert not list(tmp_path.glob("*partial*"))


def test_pairs_are_blurred_versions_of_the_sharp_crop():
    train, _ = sb.resolve_sources(None)
    sharp, blurred, name = sb.make_pair(train, 3, 64, seed=0, split="train", exposures=(1.0,))
    assert sharp.shape == blurred.shape == (64, 64, 3) and name.endswith("_00003")
    # Blur removes high frequencies: the blurred image's gradient energy is lower.
    grad = lambda x: np.abs(np.diff(x.astype(float), axis=1)).mean()  # noqa: E731
    assert grad(blurred) < grad(sharp)
    assert abs(blurred.astype(float).mean() - sharp.astype(float).mean()) < 3  # same content, no shift of mass


def test_folder_sources_and_side_by_side_output(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(src / f"p{i}.png")
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "sbs"
    sb.synthesize_folder(out, sources=str(src), n_train=3, n_test=1, size=32, seed=0)
    files = sorted(p.name for p in (out / "train").iterdir())
    assert files == ["p0_00000.jpg", "p1_00001.jpg", "p2_00002.jpg"]
    assert [p.name for p in (out / "test").iterdir()] == ["p4_00000.jpg"]  # every 5th photo is held out
    with Image.open(out / "train" / files[0]) as im:
        assert im.size == (64, 32)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert sb.main(["--n-train", "1"]) == 2
    assert sb.main(["--out", str(tmp_path / "x.h5"), "--sources", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nope" in err[1]


def test_kernel_bank_is_shared_by_train_and_test():
    from deblurkeras.data.synthesize import _pairs, kernel_bank
    from deblurkeras.data.blur_kernels import blur_image
    photos = [np.random.RandomState(i).randint(0, 255, (64, 64, 3)).astype("uint8") for i in range(6)]  # 1 for test
    bank = kernel_bank(2, 32, seed=5, max_len=6, exposures=(1.0,))
    pairs = list(_pairs(photos, 3, 2, 32, 5, 6, (1.0,), n_kernels=2))
    assert {p[0] for p in pairs} == {"train", "test"}
    counts = {"train": 0, "test": 0}
    for split, sharp, blurred, _ in pairs:
        j = counts[split]
        counts[split] += 1
        np.testing.assert_array_equal(blurred, blur_image(sharp, bank[j % 2]))
    unbanked = list(_pairs(photos, 3, 2, 32, 5, 6, (1.0,)))
    assert any(not np.array_equal(a[2], b[2]) for a, b in zip(pairs, unbanked))
    for a, b in zip(pairs, unbanked):  # the crops do not depend on the bank
        np.testing.assert_array_equal(a[1], b[1])
