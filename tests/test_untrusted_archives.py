"""Decompression bombs in zip-based weights (issue 31, items 6 and 7): a `.pkl` / `.pth` whose storage record is
deflated zeros, a `.keras` with huge zero assets: refused from the central directory, before anything is inflated."""
import os
import time
import zipfile

import numpy as np
import pytest

from deblurkeras import archives
from deblurkeras.errors import BadInputError

BOMB = 64 << 20  # 64 MiB of zeros deflate to ~64 KiB


def _rewrite(src, dst, replace=None, add=()):
    """Copy a zip member by member, `replace` {name: bytes} deflated, `add` [(name, bytes)] deflated too."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in replace:
                zout.writestr(info.filename, replace[info.filename], compress_type=zipfile.ZIP_DEFLATED)
            else:
                zout.writestr(info, zin.read(info.filename))
        for name, data in add:
            zout.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return dst


def test_a_pkl_with_a_deflated_storage_record_is_refused_before_torch_inflates_it(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from deblurkeras.importers.torch_state import load_torch_file

    clean = tmp_path / "clean.pkl"
    torch.save({"w": torch.zeros(4)}, clean)
    with zipfile.ZipFile(clean) as z:
        record = next(n for n in z.namelist() if n.endswith("/data/0"))
    bomb = _rewrite(clean, tmp_path / "encoder_lv1.pkl", {record: b"\0" * BOMB})
    assert os.path.getsize(bomb) < 200_000
    t = time.perf_counter()
    with pytest.raises(BadInputError, match=rf"encoder_lv1.pkl: member '{record}' inflates .* to 67,108,864 \(a "
                                            r"decompression bomb"):
        load_torch_file(bomb)
    assert time.perf_counter() - t < 2
    assert load_torch_file(clean)["w"].shape == (4,)  # torch's own uncompressed archive passes


def test_a_keras_file_with_zero_assets_is_refused_before_extraction(tmp_path):
    import keras

    from deblurkeras import weights
    from deblurkeras.families import build_model

    keras.utils.set_random_seed(0)
    clean = tmp_path / "clean.keras"
    weights.save(build_model("srresnet-x4", n_blocks=1, channels=8), clean)
    bomb = _rewrite(clean, tmp_path / "bomb.keras", add=[(f"assets/zero{i}.bin", b"\0" * BOMB) for i in range(3)])
    before = set(os.listdir(__import__("tempfile").gettempdir()))
    with pytest.raises(BadInputError, match=r"bomb.keras: member 'assets/zero0.bin' inflates"):
        weights.load(bomb)
    with pytest.raises(BadInputError, match=r"bomb.keras: member 'assets/zero0.bin' inflates"):
        weights._read_keras_file(bomb)
    assert set(os.listdir(__import__("tempfile").gettempdir())) - before == set()
    assert weights.load(clean)[1] == "srresnet-x4"


def test_an_archive_larger_than_the_free_temp_space_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model.weights.h5", np.zeros(1 << 18, np.float32).tobytes())  # 1 MiB, stored
    monkeypatch.setattr(archives.os, "statvfs",
                        lambda p: os.statvfs_result((4096, 4096, 100, 10, 10, 0, 0, 0, 0, 255)))
    with pytest.raises(BadInputError, match=r"m.keras: its members declare 1 MiB, more than the 0 MiB free in the "
                                            r"temp folder"):
        archives.check_zip(path, "Keras .keras", extracts_to_temp=True)
    archives.check_zip(path, "Keras .keras")  # a reader that does not extract: no temp space needed
