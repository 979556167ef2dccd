"""deblurkeras.data.build (build-hdf5, data_tools/build_hdf5.py), data.combine and data.forkpool on tiny inputs."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import h5py
import numpy as np
import pytest
from PIL import Image

from deblurkeras.data import build as bh
from deblurkeras.data import build_decode, build_resume
from deblurkeras.data.combine import combine
from deblurkeras.data import read_pairs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("train_data_full", "train_data_blur", "test_data_full", "test_data_blur")


def _rand(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _side_by_side(folder, n, h=24, w=48, start=0, ext="png"):
    """n side-by-side PNGs; returns {name: (sharp, blurred)} as written (lossless)."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for i in range(start, start + n):
        img = _rand(h, w, i)
        name = f"img{i:03d}.{ext}"
        Image.fromarray(img).save(os.path.join(folder, name))
        out[name] = (img[:, : w // 2], img[:, w - w // 2:])
    return out


def _args(input_dir, out, **kw):
    ns = dict(input=str(input_dir), out=str(out), layout="side-by-side", gopro_blur="blur", size=256,
              compression=None, workers=1, resume=False, strict=False, min_side=16,
              max_pixels=bh.DEFAULT_MAX_PIXELS, quiet=True, delay=0.0, exif=False, overwrite=False)
    ns.update(kw)
    return types.SimpleNamespace(**ns)


def _build(input_dir, out, **kw):
    return bh.run(_args(input_dir, out, **kw))


def _arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in KEYS}, {s: [n.decode() for n in f[f"{s}_names"][:]] for s in ("train", "test")}


def _summary(stdout):
    """{'train': {'written': n, reason: count, ...}, ...} parsed from the final summary lines."""
    out = {}
    for line in stdout.splitlines():
        for split in ("train", "test"):
            if line.startswith(f"{split}: "):
                head, _, reasons = line.partition("(")
                counts = {"written": int(head.split()[1])}
                for part in reasons.rstrip(")").split(", "):
                    if part != "none":
                        k, v = part.rsplit(" ", 1)
                        counts[k] = int(v)
                out[split] = counts
    return out


def test_native_size_layout_names_and_attributes(tmp_path, capsys):
    train = _side_by_side(tmp_path / "in" / "train", 3)
    test = _side_by_side(tmp_path / "in" / "test", 2, start=10)
    assert _build(tmp_path / "in", tmp_path / "d.h5", size=0) == 0
    arrays, names = _arrays(tmp_path / "d.h5")
    assert names == {"train": sorted(train), "test": sorted(test)}
    for i, name in enumerate(sorted(train)):
        np.testing.assert_array_equal(arrays["train_data_full"][i], train[name][0])  # LEFT = sharp
        np.testing.assert_array_equal(arrays["train_data_blur"][i], train[name][1])  # RIGHT = blurred
    assert arrays["test_data_full"].shape == (2, 24, 24, 3) and arrays["test_data_full"].dtype == np.uint8
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f["train_data_full"].chunks == (1, 24, 24, 3)
        assert f.attrs["n_train"] == 3 and f.attrs["n_test"] == 2 and f.attrs["complete"] == 1
        assert f.attrs["source"] == str(tmp_path / "in") and f.attrs["size"] == 0
        assert f.attrs["tool_version"] and "progress" not in f.attrs
    assert "wrote" in capsys.readouterr().out
    assert not os.path.exists(build_resume.partial_path(tmp_path / "d.h5"))


def test_resize_is_lanczos_per_half_and_odd_widths_drop_the_middle_column(tmp_path):
    halves = _side_by_side(tmp_path / "in" / "train", 2, h=20, w=41)  # odd width
    _side_by_side(tmp_path / "in" / "test", 1, h=20, w=41, start=5)
    _build(tmp_path / "in", tmp_path / "n.h5", size=0)
    arrays, names = _arrays(tmp_path / "n.h5")
    assert arrays["train_data_full"].shape == (2, 20, 20, 3)
    for i, name in enumerate(names["train"]):
        full = np.asarray(Image.open(tmp_path / "in" / "train" / name))
        np.testing.assert_array_equal(arrays["train_data_full"][i], full[:, :20])
        np.testing.assert_array_equal(arrays["train_data_blur"][i], full[:, 21:])
    _build(tmp_path / "in", tmp_path / "r.h5", size=16)
    arrays, names = _arrays(tmp_path / "r.h5")
    want = Image.fromarray(halves[names["train"][0]][1]).resize((16, 16), Image.LANCZOS)
    np.testing.assert_array_equal(arrays["train_data_blur"][0], np.asarray(want))


def test_real_sample_pairs_match_pil(tmp_path, sample_train_dir):
    names = sorted(os.listdir(sample_train_dir))[:3]
    for split, chosen in (("train", names[:2]), ("test", names[2:])):
        os.makedirs(tmp_path / "in" / split)
        for n in chosen:
            shutil.copy(sample_train_dir / n, tmp_path / "in" / split / n)
    _build(tmp_path / "in", tmp_path / "real.h5")
    arrays, stored = _arrays(tmp_path / "real.h5")
    with Image.open(sample_train_dir / stored["train"][1]) as im:
        w, h = im.size
        sharp = np.asarray(im.crop((0, 0, w // 2, h)).resize((256, 256), Image.LANCZOS))
    np.testing.assert_array_equal(arrays["train_data_full"][1], sharp)
    assert arrays["test_data_blur"].shape == (1, 256, 256, 3)


def _script(*args, **kw):
    """data_tools/build_hdf5.py in a fresh process (forked workers need one without TensorFlow's threads)."""
    return subprocess.run([sys.executable, os.path.join(REPO, "data_tools", "build_hdf5.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kw)


def test_workers_and_compression_give_identical_arrays(tmp_path):
    _side_by_side(tmp_path / "in" / "train", 9)
    _side_by_side(tmp_path / "in" / "test", 3, start=20)
    _build(tmp_path / "in", tmp_path / "one.h5", size=16)
    r = _script(tmp_path / "in", "--out", tmp_path / "two.h5", "--size", 16, "--workers", 2, "--compression", "gzip")
    assert r.returncode == 0 and "in-process" not in r.stderr, r.stderr
    _build(tmp_path / "in", tmp_path / "lzf.h5", size=16, compression="lzf")
    one, n1 = _arrays(tmp_path / "one.h5")
    for other in ("two.h5", "lzf.h5"):
        arrays, names = _arrays(tmp_path / other)
        assert names == n1
        for k in KEYS:
            np.testing.assert_array_equal(arrays[k], one[k])
    with h5py.File(tmp_path / "two.h5", "r") as f:
        assert f["train_data_full"].compression == "gzip"


def _bad_input_tree(root):
    """train/: 2 good pairs, 5 convertible, 6 bad files; no test/ at all."""
    d = root / "train"
    _side_by_side(d, 2)
    rgb = _rand(24, 48, 99)
    Image.fromarray(rgb[..., 0]).save(d / "gray.png")
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(np.dstack([rgb, np.full((24, 48), 255, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(rgb).convert("P").save(d / "palette.png")
    Image.fromarray((rgb[..., 1].astype(np.uint16) * 257)).save(d / "deep16.png")
    (d / "empty.jpg").write_bytes(b"")
    Image.fromarray(_rand(64, 128, 5)).save(d / "trunc.jpg", quality=90)
    data = (d / "trunc.jpg").read_bytes()
    (d / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (d / "notes.jpg").write_text("this is not an image")
    Image.fromarray(_rand(8, 16, 6)).save(d / "tiny.png")
    Image.new("1", (10000, 9000)).save(d / "bomb.png")  # 90 Mpx > Pillow's 89.5 Mpx limit
    os.symlink(root / "does-not-exist.png", d / "gone.png")  # unreadable (root can read any mode bits)
    return rgb


def test_bad_input_is_skipped_converted_and_counted(tmp_path, capsys):
    rgb = _bad_input_tree(tmp_path / "in")
    assert _build(tmp_path / "in", tmp_path / "b.h5", size=0) == 0
    out, err = capsys.readouterr()
    counts = _summary(out)
    assert counts["train"] == {"written": 7, "empty file": 1, "truncated": 1, "not an image": 1, "too small": 1,
                               "decompression bomb": 1, "unreadable": 1}
    assert counts["test"] == {"written": 0, "missing split": 1}
    assert "converted to 8-bit RGB: 16-bit 1, cmyk 1, grayscale 1, palette 1, rgba 1" in out
    for name in ("empty.jpg", "trunc.jpg", "notes.jpg", "tiny.png", "bomb.png", "gone.png", "in/test:"):
        lines = [ln for ln in err.splitlines() if name in ln and ln.startswith("skipped")]
        assert len(lines) == 1, (name, err)
    arrays, names = _arrays(tmp_path / "b.h5")
    i = names["train"].index("gray.png")
    np.testing.assert_array_equal(arrays["train_data_full"][i], np.repeat(rgb[:, :24, :1], 3, axis=2))
    i = names["train"].index("deep16.png")
    np.testing.assert_array_equal(arrays["train_data_blur"][i][..., 0], rgb[:, 24:, 1])
    i = names["train"].index("rgba.png")
    np.testing.assert_array_equal(arrays["train_data_full"][i], rgb[:, :24])
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert json.loads(f.attrs["skipped"])["train"]["truncated"] == 1


def test_strict_and_nothing_usable_exit_non_zero_and_write_nothing(tmp_path):
    _bad_input_tree(tmp_path / "in")
    out = tmp_path / "s.h5"
    cmd = [sys.executable, os.path.join(REPO, "data_tools", "build_hdf5.py"), str(tmp_path / "in"), "--out", str(out)]
    r = subprocess.run(cmd + ["--strict", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 2 and "--strict" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not os.path.exists(build_resume.partial_path(out))
    (tmp_path / "junk" / "train").mkdir(parents=True)
    (tmp_path / "junk" / "train" / "a.jpg").write_bytes(b"")
    from deblurkeras.cli import main
    assert main(["build-hdf5", str(tmp_path / "junk"), "--out", str(out), "--quiet"]) == 2
    assert not out.exists() and not os.path.exists(build_resume.partial_path(out))
    assert main(["build-hdf5", str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_size_mismatch_with_native_size(tmp_path, capsys):
    _side_by_side(tmp_path / "in" / "train", 2)
    _side_by_side(tmp_path / "in" / "train", 1, h=30, w=60, start=7)
    _side_by_side(tmp_path / "in" / "test", 1, start=9)
    _build(tmp_path / "in", tmp_path / "m.h5", size=0)
    assert _summary(capsys.readouterr().out)["train"] == {"written": 2, "size mismatch": 1}


def _pair_tree(root, blur_dir, sharp_dir, names, seed=0):
    os.makedirs(blur_dir, exist_ok=True)
    os.makedirs(sharp_dir, exist_ok=True)
    truth = {}
    for i, (n, where) in enumerate(names):
        s, b = _rand(20, 20, seed + 2 * i), _rand(20, 20, seed + 2 * i + 1)
        if where in ("both", "sharp"):
            Image.fromarray(s).save(os.path.join(sharp_dir, n))
        if where in ("both", "blur"):
            Image.fromarray(b).save(os.path.join(blur_dir, n))
        truth[n] = (s, b)
    return truth


def test_pairs_layout_and_unpaired_files(tmp_path, capsys):
    spec = [("a.png", "both"), ("b.png", "both"), ("c.png", "blur"), ("d.png", "sharp")]
    truth = _pair_tree(tmp_path, tmp_path / "in/train/blur", tmp_path / "in/train/sharp", spec)
    _pair_tree(tmp_path, tmp_path / "in/test/blur", tmp_path / "in/test/sharp", [("z.png", "both")], seed=50)
    _build(tmp_path / "in", tmp_path / "p.h5", size=0, layout="pairs")
    assert _summary(capsys.readouterr().out)["train"] == {"written": 2, "unpaired": 2}
    arrays, names = _arrays(tmp_path / "p.h5")
    assert names["train"] == ["a.png", "b.png"]
    np.testing.assert_array_equal(arrays["train_data_full"][1], truth["b.png"][0])
    np.testing.assert_array_equal(arrays["train_data_blur"][1], truth["b.png"][1])


def test_gopro_layout(tmp_path, capsys):
    for split, seqs in (("train", ("GOPR0372_07_00", "GOPR0374_11_00")), ("test", ("GOPR0384_11_00",))):
        for k, seq in enumerate(seqs):
            base = tmp_path / "in" / split / seq
            _pair_tree(tmp_path, base / "blur", base / "sharp", [("000001.png", "both"), ("000002.png", "both")],
                       seed=10 * k)
            _pair_tree(tmp_path, base / "blur_gamma", base / "sharp", [("000001.png", "both"), ("000003.png", "blur")],
                       seed=100 + 10 * k)
    _build(tmp_path / "in", tmp_path / "g.h5", size=0, layout="gopro")
    arrays, names = _arrays(tmp_path / "g.h5")
    assert names["train"] == ["GOPR0372_07_00/000001.png", "GOPR0372_07_00/000002.png",
                              "GOPR0374_11_00/000001.png", "GOPR0374_11_00/000002.png"]
    linear = np.asarray(Image.open(tmp_path / "in/train/GOPR0374_11_00/blur/000001.png"))
    np.testing.assert_array_equal(arrays["train_data_blur"][2], linear)
    capsys.readouterr()
    _build(tmp_path / "in", tmp_path / "gg.h5", size=0, layout="gopro", gopro_blur="blur_gamma")
    # per sequence: sharp/000002 and blur_gamma/000003 have no partner
    assert _summary(capsys.readouterr().out)["train"] == {"written": 2, "unpaired": 4}


def _wait_for_progress(path, grow=8 * 1536, seconds=60):
    """Wait until `path` exists and has grown by `grow` bytes (8 pairs of 16x16x3 x2) since first seen."""
    t0, first = time.time(), None
    while True:
        assert time.time() - t0 < seconds, f"{path} did not grow"
        if os.path.exists(path):
            size = os.path.getsize(path)
            first = size if first is None else first
            if size - first >= grow:
                return
        time.sleep(0.02)


def test_interrupt_kill_and_resume_without_duplicates(tmp_path):
    """Ctrl-C, then kill -9 of a resumed run, then a final --resume: same arrays as an uninterrupted build.
    (150 pairs at 0.1 s each: the signals land long before the build could end, even on a loaded machine.)"""
    n = 150
    _side_by_side(tmp_path / "in" / "train", n)
    _side_by_side(tmp_path / "in" / "test", 6, start=100)
    out, partial = tmp_path / "k.h5", build_resume.partial_path(tmp_path / "k.h5")
    out.write_bytes(b"previous build")  # an existing PATH must survive interrupted builds untouched
    cmd = [sys.executable, os.path.join(REPO, "data_tools", "build_hdf5.py"), str(tmp_path / "in"),
           "--out", str(out), "--size", "16", "--quiet", "--overwrite"]
    slow = cmd + ["--delay", "0.1"]  # 150 pairs: >= 7 s of runway

    # Ctrl-C goes to the whole process group, workers included: --workers 2 in script mode.
    # A background job (`make test &`, nohup) starts with SIGINT ignored and hands that on to its children: the
    # builder would never see the Ctrl-C. Give it a terminal's default disposition, as a user's shell does.
    p = subprocess.Popen(slow + ["--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_progress(partial)
    early = p.poll()  # not None: the build ended before the signal was sent (a starved test process)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "--resume" in err and "Traceback" not in err, (early, err)
    assert out.read_bytes() == b"previous build" and os.path.exists(partial)

    p = subprocess.Popen(slow + ["--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_progress(partial)
    p.kill()  # SIGKILL: no cleanup at all
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"previous build" and os.path.exists(partial)
    with h5py.File(partial, "r") as f:
        done = int(f.attrs["train_count"])  # pairs committed before the kill
    assert 0 < done < n

    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "resuming train" in r.stderr
    assert not os.path.exists(partial)
    _build(tmp_path / "in", tmp_path / "clean.h5", size=16)
    got, got_names = _arrays(out)
    want, want_names = _arrays(tmp_path / "clean.h5")
    assert got_names == want_names and len(set(got_names["train"])) == n
    for k in KEYS:
        np.testing.assert_array_equal(got[k], want[k])


def test_combine_pairs_round_trip_and_reader(tmp_path):
    spec = [("a.png", "both"), ("b.png", "both"), ("c.png", "sharp")]
    truth = _pair_tree(tmp_path, tmp_path / "blur", tmp_path / "sharp", spec)
    written, skipped = combine(str(tmp_path / "blur"), str(tmp_path / "sharp"), str(tmp_path / "in" / "train"),
                               ext="png", log=lambda m: None)
    assert written == 2 and skipped == {"unpaired": 1}
    shutil.copytree(tmp_path / "in" / "train", tmp_path / "in" / "test")
    _build(tmp_path / "in", tmp_path / "c.h5", size=0)
    pairs = list(read_pairs(tmp_path / "c.h5", "train"))
    assert [n for _, _, n in pairs] == ["a.png", "b.png"]
    blurred, sharp, _ = pairs[0]
    np.testing.assert_array_equal(sharp, truth["a.png"][0])
    np.testing.assert_array_equal(blurred, truth["a.png"][1])


# ---------------------------------------------------------------- hostile output paths and resumes

def _cli(*args):
    from deblurkeras.cli import main
    return main(["build-hdf5", *map(str, args), "--quiet"])


def test_out_pointing_at_an_input_is_refused(tmp_path, capsys):
    """F3: --out DIR/train/x.png must never replace the source photo, --overwrite or not."""
    _side_by_side(tmp_path / "in" / "train", 3)
    target = tmp_path / "in" / "train" / "img001.png"
    before = target.read_bytes()
    for extra in ((), ("--overwrite",)):
        assert _cli(tmp_path / "in", "--out", target, "--size", 0, *extra) == 2
        err = capsys.readouterr().err
        assert "would write over the input file" in err and str(target) in err and len(err.strip().splitlines()) == 1
        assert target.read_bytes() == before and not os.path.exists(build_resume.partial_path(target))
    link = tmp_path / "link.png"  # the same file under another name is still an input
    os.symlink(target, tmp_path / "in" / "train" / "img009.png")
    os.symlink(target, link)
    assert _cli(tmp_path / "in", "--out", link, "--size", 0, "--overwrite") == 2
    assert target.read_bytes() == before


def test_out_an_existing_folder_fails_up_front(tmp_path, capsys):
    """F7: refused before anything is decoded, and no .partial is left."""
    _side_by_side(tmp_path / "in" / "train", 3)
    (tmp_path / "outdir").mkdir()
    assert _cli(tmp_path / "in", "--out", tmp_path / "outdir", "--size", 0) == 2
    out, err = capsys.readouterr()
    assert "existing folder" in err and "pairs written" not in out
    assert os.listdir(tmp_path / "outdir") == [] and not os.path.exists(build_resume.partial_path(tmp_path / "outdir"))
    assert _cli(tmp_path / "in", "--out", tmp_path / "nowhere" / "d.h5", "--size", 0) == 2
    assert "does not exist" in capsys.readouterr().err


def test_existing_dataset_replaced_only_with_overwrite(tmp_path, capsys):
    _side_by_side(tmp_path / "in" / "train", 3)
    out = tmp_path / "d.h5"
    out.write_bytes(b"an earlier dataset")
    assert _cli(tmp_path / "in", "--out", out, "--size", 0) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"an earlier dataset"
    assert _cli(tmp_path / "in", "--out", out, "--size", 0, "--overwrite") == 0
    assert "replaced the existing file: --overwrite" in capsys.readouterr().out
    assert _arrays(out)[1]["train"] == ["img000.png", "img001.png", "img002.png"]


def _interrupted_partial(tmp_path, monkeypatch, n=8, after=3, **kw):
    """An uncompressed PATH.partial holding `after` pairs, as a Ctrl-C leaves it."""
    _side_by_side(tmp_path / "in" / "train", n)
    _side_by_side(tmp_path / "in" / "test", 2, start=50)
    real, calls = build_decode.process, []

    def stop(*a, **k):
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(build_decode, "process", stop)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "in", tmp_path / "d.h5", size=16, **kw)
    monkeypatch.setattr(build_decode, "process", real)
    partial = build_resume.partial_path(tmp_path / "d.h5")
    assert os.path.exists(partial)
    return partial


def test_resume_refuses_changed_inputs(tmp_path, monkeypatch, capsys):
    """F5: a removed, an added or a modified input makes --resume refuse (and keep the partial)."""
    partial = _interrupted_partial(tmp_path, monkeypatch)
    capsys.readouterr()
    train = tmp_path / "in" / "train"
    os.remove(train / "img006.png")
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 16, "--resume") == 2
    err = capsys.readouterr().err
    assert "1 removed, e.g. train/img006.png" in err and len(err.strip().splitlines()) == 1
    assert os.path.exists(partial)
    _side_by_side(train, 1, start=6)  # back, but written again: another mtime
    os.utime(train / "img006.png", ns=(1, 1))
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 16, "--resume") == 2
    assert "changed in size or time, e.g. train/img006.png" in capsys.readouterr().err
    _side_by_side(train, 1, start=6)
    _side_by_side(train, 1, start=30)
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 16, "--resume") == 2
    assert "added, e.g. train/img030.png" in capsys.readouterr().err


def test_resume_continues_unchanged_inputs(tmp_path, monkeypatch):
    _interrupted_partial(tmp_path, monkeypatch)
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 16, "--resume") == 0
    _build(tmp_path / "in", tmp_path / "clean.h5", size=16)
    got, want = _arrays(tmp_path / "d.h5"), _arrays(tmp_path / "clean.h5")
    assert got[1] == want[1]
    for k in KEYS:
        np.testing.assert_array_equal(got[0][k], want[0][k])
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert build_resume.INPUTS_KEY not in f  # resume bookkeeping does not stay in the dataset


def test_resume_with_another_compression_is_refused(tmp_path, monkeypatch, capsys):
    """F13: --compression on a partial started without it is refused with a message naming the option."""
    partial = _interrupted_partial(tmp_path, monkeypatch)
    capsys.readouterr()
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 16, "--resume", "--compression", "gzip") == 2
    err = capsys.readouterr().err
    assert "--compression none, not gzip" in err and os.path.exists(partial)
    assert _cli(tmp_path / "in", "--out", tmp_path / "d.h5", "--size", 32, "--resume") == 2
    assert "--size" in capsys.readouterr().err


def test_killed_build_leaves_no_worker_or_helper_process(tmp_path):
    """F6: kill -9 of `build --workers 2`: its workers die with it; no forkserver or resource tracker exists.
    The workers never load TensorFlow."""
    psutil = pytest.importorskip("psutil")
    _side_by_side(tmp_path / "in" / "train", 80)
    _side_by_side(tmp_path / "in" / "test", 2, start=100)
    partial = build_resume.partial_path(tmp_path / "k.h5")
    p = subprocess.Popen([sys.executable, os.path.join(REPO, "data_tools", "build_hdf5.py"), str(tmp_path / "in"),
                          "--out", str(tmp_path / "k.h5"), "--size", "16", "--quiet", "--workers", "2",
                          "--delay", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    kids = []
    try:
        _wait_for_progress(partial)
        kids = psutil.Process(p.pid).children(recursive=True)
        assert len(kids) == 2, [k.cmdline() for k in kids]  # the two workers, nothing else
        for k in kids:
            with open(f"/proc/{k.pid}/maps") as f:
                assert "tensorflow" not in f.read()
        p.kill()
        p.communicate(timeout=30)
        t0 = time.time()
        while time.time() - t0 < 10:
            alive = [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
            if not alive:
                break
            time.sleep(0.05)
        assert not alive, [k.pid for k in alive]
    finally:
        for k in kids:  # never leave strays behind, even when the test fails
            try:
                k.kill()
            except psutil.Error:
                pass


def test_exif_orientation_ignored_by_default_applied_with_option(tmp_path):
    """Faithful default: pixels as stored (the original ignored EXIF); --exif shows them the right way up."""
    img = _rand(20, 40, 3)
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 3  # rotate 180 degrees for display
    os.makedirs(tmp_path / "in" / "train")
    Image.fromarray(img).save(tmp_path / "in" / "train" / "r.png", exif=exif)
    _build(tmp_path / "in", tmp_path / "raw.h5", size=0)
    _build(tmp_path / "in", tmp_path / "exif.h5", size=0, exif=True)
    raw, turned = _arrays(tmp_path / "raw.h5")[0], _arrays(tmp_path / "exif.h5")[0]
    np.testing.assert_array_equal(raw["train_data_full"][0], img[:, :20])
    np.testing.assert_array_equal(turned["train_data_full"][0], img[::-1, ::-1][:, :20])
    with h5py.File(tmp_path / "exif.h5", "r") as f:
        assert f.attrs["exif"] == "applied"


_POOL_SCRIPT = r"""
import numpy as np
from deblurkeras.data import forkpool
a = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
def fn(t):
    if t == 7 and DIE:
        import os; os._exit(3)
    big = np.full((40, 40), t, np.uint16)  # over the slot size: through the pipe
    return ("ok", t, a[:, :5] + t, a[:, 5:], big if t % 3 == 0 else np.zeros((0, 3), np.uint8))
for slot in (0, 2 * 6 * 5 * 3):
    with forkpool.ForkPool(fn, list(range(20)), 2, slot_bytes=slot) as pool:
        got = [(r[1], r[2].copy(), r[3].copy(), r[4].copy()) for r in pool]
    assert [g[0] for g in got] == list(range(20))
    for t, s, b, x in got:
        assert np.array_equal(s, a[:, :5] + t) and np.array_equal(b, a[:, 5:])
        assert (x.shape == (40, 40) and (x == t).all()) if t % 3 == 0 else x.shape == (0, 3)
print("ORDERED")
"""


def test_forkpool_results_in_order_through_ring_and_pipe_and_a_dead_worker_named():
    code = "DIE = False\n" + _POOL_SCRIPT
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0 and "ORDERED" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-c", "DIE = True\n" + _POOL_SCRIPT], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert r.returncode != 0 and "WorkerDied: decode worker" in r.stderr and "exit status 3" in r.stderr


def test_readme_gives_a_native_size_gopro_build_command():
    # The default --size 256 would squash GoPro's 1280x720 frames; the README must say --size 0.
    import argparse
    import pathlib
    import shlex

    from deblurkeras.data import build

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = [ln for ln in readme.splitlines() if "deblurkeras build-hdf5" in ln and "--layout gopro" in ln]
    assert lines, "README: no `deblurkeras build-hdf5 ... --layout gopro` command"
    for ln in lines:
        cmd = ln[ln.index("deblurkeras build-hdf5"):].split("`")[0].split("[")[0]
        parser = argparse.ArgumentParser()
        build.add_arguments(parser)
        args = parser.parse_args(shlex.split(cmd)[2:])
        assert args.layout == "gopro" and args.size == 0, cmd


def test_a_folder_without_test_says_at_build_time_how_to_train_on_it(tmp_path, capsys):
    """0 test pairs is said when the file is built, with the config key that gets past it."""
    _side_by_side(tmp_path / "in" / "train", 2)
    assert _build(tmp_path / "in", tmp_path / "d.h5", size=16) == 0
    out = capsys.readouterr().out
    assert "note: the test split is empty" in out and "--set data.val_split=null" in out, out
    assert "note: the train split" not in out


def test_combine_pairs_keeps_the_input_format(tmp_path, capsys):
    """PNG inputs stay PNG (lossless, the pixels exactly), JPEG stays JPEG; --ext still chooses."""
    from deblurkeras.data import combine as combine_mod

    truth = _pair_tree(tmp_path, tmp_path / "blur", tmp_path / "sharp", [("a.png", "both")])
    Image.fromarray(_rand(8, 8, 1)).save(tmp_path / "blur" / "b.jpg")
    Image.fromarray(_rand(8, 8, 2)).save(tmp_path / "sharp" / "b.jpg")
    assert combine_mod.main(["--blur", str(tmp_path / "blur"), "--sharp", str(tmp_path / "sharp"),
                             "--out", str(tmp_path / "out")]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.jpg"]
    both = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    np.testing.assert_array_equal(both, np.concatenate(truth["a.png"], axis=1))  # sharp | blurred, lossless
    assert combine_mod.output_ext("x.webp") == "png" and combine_mod.output_ext("x.png", "jpg") == "jpg"


def test_every_build_hdf5_option_has_help_and_says_its_default():
    """--layout and --compression had no help, --size hid its default."""
    import argparse

    p = argparse.ArgumentParser()
    bh.add_arguments(p)
    for action in p._actions:
        if action.help == argparse.SUPPRESS or action.dest == "help":
            continue
        assert action.help, action.option_strings or action.dest
        if action.option_strings and action.default not in (None, False):
            assert str(action.default) in action.help or "default" in action.help, action.option_strings
