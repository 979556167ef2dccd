"""Hostile inputs, round 2 (issue 24): data loss through temporary names, concurrent writers, a locked run folder,
decompression bombs, user errors that gave tracebacks, and silent or unclear results. Each test failed on the old
code (the finding's number is in the test name)."""
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

from deblurkeras.cli import main
from deblurkeras.errors import BadInputError
from deblurkeras.families import build_model
from deblurkeras.imageio import list_images, load_image, save_image
from deblurkeras import utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _img(h, w, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def srn(tmp_path_factory):
    """A .weights.h5 of srn-color (seed 0)."""
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("w") / "srn.weights.h5"
    build_model("srn-color").save_weights(path)
    return path


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _errors(err):
    return [line for line in err.splitlines() if "error:" in line]


# ------------------------------------------------------------------------------------------ 1-5: data loss
def test_1_2_a_users_file_with_the_old_temporary_name_survives(tmp_path):
    """The old atomic_path wrote (and then removed) NAME.partial.EXT: a user's file of that name was destroyed."""
    keep = tmp_path / "mid.partial.png"
    save_image(keep, _img(8, 8, 1))
    before = keep.read_bytes()
    save_image(tmp_path / "mid.png", _img(8, 8, 2))
    assert keep.read_bytes() == before
    np.testing.assert_array_equal(load_image(tmp_path / "mid.png"), _img(8, 8, 2))
    assert sorted(os.listdir(tmp_path)) == ["mid.partial.png", "mid.png"]  # no temporary left behind


def test_1_deblur_into_its_input_folder_keeps_every_input(tmp_path, srn, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(_img(16, 16, 1)).save(d / "a.jpg", quality=95)
    save_image(d / "a.partial.png", _img(16, 16, 2))
    before = (d / "a.partial.png").read_bytes()
    rc = main(["deblur", str(d), "--model", "srn-color", "--weights", str(srn), "--out", str(d), "--ext", "png"])
    err = capsys.readouterr().err
    assert (d / "a.partial.png").read_bytes() == before  # an input: not destroyed
    assert (d / "a.png").is_file()
    # a.partial.png -> a.partial.png is its own input: refused by name, the rest still written
    assert rc == 1 and len(_errors(err)) == 1 and "a.partial.png" in _errors(err)[0]


def test_temporaries_are_hidden_unique_and_never_listed(tmp_path):
    seen = []
    with utils.atomic_path(tmp_path / "x.weights.h5") as t1, utils.atomic_path(tmp_path / "x.weights.h5") as t2:
        seen = [os.path.basename(t1), os.path.basename(t2)]
        assert t1 != t2 and all(n.startswith(".x.") and n.endswith(".partial.weights.h5") for n in seen)
        assert all(utils.is_temp_name(n) for n in seen)
        with utils.atomic_path(tmp_path / "y.png") as t3:
            open(t3, "wb").close()
            assert list_images([tmp_path]) == []  # a temporary is never an input
    assert not utils.is_temp_name("a.partial.png") and not utils.is_temp_name(".a.partial.png")
    # a failing block removes its own temporary only
    with pytest.raises(RuntimeError), utils.atomic_path(tmp_path / "z.png") as t4:
        open(t4, "wb").close()
        raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["x.weights.h5", "y.png"]


def test_5_stale_temporaries_of_a_killed_run_are_cleaned_others_kept(tmp_path, srn, capsys):
    out = tmp_path / "out"
    out.mkdir()
    # a writer killed with -9 in the middle of its atomic write
    code = ("import os, signal, sys; from deblurkeras import utils\n"
            "with utils.atomic_path(sys.argv[1]) as t:\n"
            "    open(t, 'wb').write(b'half')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(out / "a.png")], env=ENV, check=False)
    left = [n for n in os.listdir(out) if utils.is_temp_name(n)]
    assert len(left) == 1 and not (out / "a.png").exists()
    mine = out / f".b.0123abcd-{os.getpid()}.partial.png"  # a process still alive: being written
    user = out / "c.partial.png"                          # the user's own file
    for p in (mine, user):
        p.write_bytes(b"keep")
    old = time.time() - 3600
    for n in left + [mine.name, user.name]:
        os.utime(out / n, (old, old))
    assert list_images([out]) == [str(user)]  # the killed run's temporary is not read as an input
    save_image(tmp_path / "in.png", _img(16, 16))
    assert main(["deblur", str(tmp_path / "in.png"), "--model", "srn-color", "--weights", str(srn), "--out",
                 str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted([mine.name, user.name, "in.png"])  # the stale one is gone
    assert utils.clean_stale_temps(out) == []
    dead = out / f".d.0123abcd-{_dead_pid()}.partial.png"
    dead.write_bytes(b"x")
    assert utils.clean_stale_temps(out) == []  # too new: might be another host's
    os.utime(dead, (old, old))
    assert utils.clean_stale_temps(out) == [dead.name]


def test_3_concurrent_writers_of_one_path_never_leave_a_broken_file(tmp_path):
    target = tmp_path / "same.png"
    code = ("import sys, numpy as np; from deblurkeras.imageio import save_image\n"
            "seed = int(sys.argv[2])\n"
            "for i in range(25):\n"
            "    save_image(sys.argv[1], np.full((96, 96, 3), seed * 100 + i % 50, np.uint8))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target), str(s)], env=ENV, stderr=subprocess.PIPE,
                              text=True) for s in (1, 2)]
    reads = bad = 0
    while any(p.poll() is None for p in procs):
        if target.exists():
            try:
                a = load_image(target)
                assert len(np.unique(a)) == 1  # one whole image of one writer, never a mix
                reads += 1
            except BadInputError:
                bad += 1
    errs = [p.stderr.read() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs  # no spurious "cannot write"
    assert bad == 0 and len(np.unique(load_image(target))) == 1
    assert os.listdir(tmp_path) == ["same.png"]


def test_4_a_second_train_on_a_run_folder_in_use_refuses(tmp_path):
    import tiny_trainers
    from deblurkeras.training import runner

    cfg = tiny_trainers.user_config(tmp_path, "srn-color", {}, total_steps=1, ckpt_every=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    held = utils.DirLock(run_dir)
    assert held.acquire()  # "the first run"
    try:
        with pytest.raises(BadInputError, match="another training run"):
            runner.train(cfg)
        assert not (run_dir / "log.csv").exists() and not (run_dir / "config.yaml").exists()
    finally:
        held.release()


# ------------------------------------------------------------------------------------------ 6: memory
def _png_declaring(path, w, h):
    """A tiny PNG whose header declares w x h (its pixel data is a few bytes: decoding it would fail late)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_6_a_bomb_is_refused_from_its_header_before_decoding(tmp_path, srn, capsys, monkeypatch):
    import warnings
    from deblurkeras import imageio, inference

    bomb = _png_declaring(tmp_path / "bomb.png", 12000, 12000)
    assert imageio.declared_size(bomb, max_pixels=0) == (12000, 12000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning either
        with pytest.raises(BadInputError, match=r"bomb.png: decompression-bomb sized image \(12000x12000 > "):
            load_image(bomb)
    save_image(tmp_path / "ok.png", _img(16, 16))
    decoded = []
    real = inference.load_image
    monkeypatch.setattr(inference, "load_image", lambda p, **kw: decoded.append(os.path.basename(p)) or real(p, **kw))
    args = ["deblur", str(bomb), str(tmp_path / "ok.png"), "--model", "srn-color", "--weights", str(srn),
            "--out", str(tmp_path / "o")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Warning" not in err and len(_errors(err)) == 1 and "decompression-bomb" in _errors(err)[0]
    # no pixel cap, a 1 GB budget: refused by the memory plan, still without decoding it
    assert main(args + ["--max-pixels", "0", "--max-memory", "1G"]) == 1
    err = capsys.readouterr().err
    assert len(_errors(err)) == 1 and "bomb.png: 12000x12000 needs" in _errors(err)[0] and "--max-memory" in err
    assert decoded == ["ok.png", "ok.png"] and os.listdir(tmp_path / "o") == ["ok.png"]
