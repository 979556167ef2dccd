"""A full disk and a read-only output (issue 31, item 3): one line naming the output, exit 2, nothing half-written,
and no crash. The full disk is a 1 MiB tmpfs where this runs as root (mount works), else a writer patched to fail
with ENOSPC; read-only is a read-only tmpfs (root) or chmod 0555 (not root: root writes through chmod)."""
import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from deblurkeras.cli import main

torch = pytest.importorskip("torch")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _mount_tmpfs(folder, options):
    """Mount a small tmpfs on `folder`, or skip saying why (not root, no mount in this container)."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    return folder


@pytest.fixture
def full_disk(tmp_path):
    folder = _mount_tmpfs(tmp_path / "full", "size=1m")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write in: a read-only tmpfs as root, else chmod 0555."""
    folder = tmp_path / "ro"
    if os.geteuid() == 0:
        _mount_tmpfs(folder, "size=1m,ro")
        yield folder
        subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.fixture(scope="module")
def sr_pth(tmp_path_factory):
    """The SR tutorial's checkpoint layout, written from the official-definition SRResNet (6 MB)."""
    from deblurkeras.families.sr import original as ref

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pth") / "sr.pth"
    torch.save({"model": ref.SRResNet().eval().state_dict()}, path)
    return path


def _one_line(err, *words):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_import_torch_onto_a_full_disk_is_one_line_before_writing(full_disk, sr_pth, capsys):
    """Was 117 lines of h5py tracebacks and a segmentation fault (exit 139)."""
    out = full_disk / "sr.weights.h5"
    assert main(["import-torch", str(sr_pth), "--out", str(out)]) == 2
    _one_line(capsys.readouterr().err, "sr.weights.h5", "not enough free space", "nothing was written")
    assert os.listdir(full_disk) == []


@pytest.mark.slow
def test_a_disk_that_fills_during_the_write_is_one_line_and_no_crash(full_disk, sr_pth):
    """The space check passed (another writer filled the disk meanwhile): h5py fails mid-file; HDF5 would crash the
    interpreter at exit over the file it cannot flush, so the CLI leaves without exit handlers after its line."""
    out = full_disk / "sr.weights.h5"
    code = ("import sys; import deblurkeras.weights as w; w.require_space = lambda *a, **k: None\n"
            "from deblurkeras.cli import main\n"
            f"sys.argv = ['deblurkeras', 'import-torch', {str(sr_pth)!r}, '--out', {str(out)!r}]\n"
            "sys.exit(main())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    line = _one_line(r.stderr, str(out), "No space left on device", "partial output was removed")
    assert ".partial" not in line
    assert os.listdir(full_disk) == []


def test_enospc_from_any_writer_is_one_line(tmp_path, sr_pth, capsys, monkeypatch):
    """Without root: the Keras writer patched to fail as a full disk makes it fail."""
    import keras

    def full(self, path, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(keras.Model, "save_weights", full)
    out = tmp_path / "sr.weights.h5"
    assert main(["import-torch", str(sr_pth), "--out", str(out)]) == 2
    _one_line(capsys.readouterr().err, f"{out}: cannot write (No space left on device")
    assert os.listdir(tmp_path) == []


def test_weights_save_refuses_when_the_space_is_short(tmp_path, monkeypatch):
    from deblurkeras import utils, weights
    from deblurkeras.errors import DiskError
    from deblurkeras.families import build_model

    model = build_model("srresnet-x4", n_blocks=1, channels=8)
    monkeypatch.setattr(utils.os, "statvfs", lambda p: os.statvfs_result((4096, 4096, 10, 10, 10, 0, 0, 0, 0, 255)))
    with pytest.raises(DiskError, match=r"m.weights.h5: not enough free space .* 0.0 MiB free"):
        weights.save(model, tmp_path / "m.weights.h5")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("verb, extra", [
    ("import-torch", ["{pth}", "--out", "{ro}/sr.weights.h5"]),
    ("import", ["{pth}", "--out", "{ro}/sub/sr.keras"]),
    ("deblur", ["{img}", "--weights", "{pth}", "--model", "dmphn-1-2-4", "--out", "{ro}/out"]),
    ("upscale", ["{img}", "--weights", "{pth}", "--model", "srresnet-x4", "--out", "{ro}/out"]),
    ("export-onnx", ["--model", "srresnet-x4", "--out", "{ro}/m.onnx"]),
    ("export-torch", ["--model", "srresnet-x4", "--out", "{ro}/m.safetensors"]),
    ("build-hdf5", ["{imgdir}", "--out", "{ro}/data.h5"]),
    ("eval", ["--weights", "{pth}", "--model", "srresnet-x4", "--data", "{imgdir}", "--out", "{ro}/ev"]),
])
def test_a_read_only_output_is_one_line_before_any_work(tmp_path, read_only, sr_pth, capsys, verb, extra):
    imgdir = tmp_path / "imgs"
    imgdir.mkdir()
    from PIL import Image
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(imgdir / "a.png")
    args = [a.format(pth=sr_pth, ro=read_only, img=imgdir / "a.png", imgdir=imgdir) for a in extra]
    assert main([verb, *args]) == 2
    why = "read-only file system" if os.geteuid() == 0 else "no permission to write"
    _one_line(capsys.readouterr().err, f"deblurkeras {verb}: error: --out {read_only}", why, "nothing was run")
    assert os.listdir(read_only) == []


def test_a_read_only_run_dir_is_refused_for_train(tmp_path, read_only, capsys):
    assert main(["train", "--config", "srn/demo", "--run-dir", str(read_only / "run")]) == 2
    _one_line(capsys.readouterr().err, "--run-dir", "cannot be written")
