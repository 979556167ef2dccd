"""Bad and hostile inputs: data loss through temporary names, concurrent writers, a locked run folder, decompression
bombs, user errors that must not give tracebacks, and results that must not be silent or unclear."""
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
def test_a_users_file_with_the_old_temporary_name_survives(tmp_path):
    """The old atomic_path wrote (and then removed) NAME.partial.EXT: a user's file of that name was destroyed."""
    keep = tmp_path / "mid.partial.png"
    save_image(keep, _img(8, 8, 1))
    before = keep.read_bytes()
    save_image(tmp_path / "mid.png", _img(8, 8, 2))
    assert keep.read_bytes() == before
    np.testing.assert_array_equal(load_image(tmp_path / "mid.png"), _img(8, 8, 2))
    assert sorted(os.listdir(tmp_path)) == ["mid.partial.png", "mid.png"]  # no temporary left behind


def test_deblur_into_its_input_folder_keeps_every_input(tmp_path, srn, capsys):
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


def test_stale_temporaries_of_a_killed_run_are_cleaned_others_kept(tmp_path, srn, capsys):
    out = tmp_path / "out"
    out.mkdir()
    # a writer killed with -9 in the middle of its atomic write
    code = ("import os, signal, sys; from deblurkeras import utils\n"
            "with utils.atomic_path(sys.argv[1]) as t:\n"
            "    open(t, 'wb').write(b'half')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(out / "a.png")], env=ENV, check=False)
    left = os.listdir(out)
    assert len(left) == 1 and not (out / "a.png").exists()
    assert list_images([out]) == []  # what the killed writer left is never read as an input
    assert utils.is_temp_name(left[0])
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


def test_concurrent_writers_of_one_path_never_leave_a_broken_file(tmp_path):
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


def test_a_second_train_on_a_run_folder_in_use_refuses(tmp_path):
    import tiny_trainers
    from deblurkeras.training import loop

    cfg = tiny_trainers.user_config(tmp_path, "srn-color", {}, total_steps=1, ckpt_every=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    held = utils.DirLock(run_dir)
    assert held.acquire()  # "the first run"
    try:
        with pytest.raises(BadInputError, match="another training run"):
            loop.train(cfg)
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


def test_a_bomb_is_refused_from_its_header_before_decoding(tmp_path, srn, capsys, monkeypatch):
    import warnings
    from deblurkeras import imageio, inference

    bomb = _png_declaring(tmp_path / "bomb.png", 12000, 12000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning either
        with pytest.raises(BadInputError, match=r"bomb.png: decompression-bomb sized image \(12000x12000 \(HxW\) > "):
            load_image(bomb)
    save_image(tmp_path / "ok.png", _img(16, 16))
    decoded = []
    real = inference.verb.load_image
    monkeypatch.setattr(inference.verb, "load_image",
                        lambda p, **kw: decoded.append(os.path.basename(p)) or real(p, **kw))
    args = ["deblur", str(bomb), str(tmp_path / "ok.png"), "--model", "srn-color", "--weights", str(srn),
            "--out", str(tmp_path / "o")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Warning" not in err and len(_errors(err)) == 1 and "decompression-bomb" in _errors(err)[0]
    # no pixel cap, a 1 GB budget: refused by the memory plan, still without decoding it
    assert main(args + ["--max-pixels", "0", "--max-memory", "1G", "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert len(_errors(err)) == 1 and "bomb.png: 12000x12000 (HxW) needs" in _errors(err)[0] and "--max-memory" in err
    assert decoded == ["ok.png", "ok.png"] and os.listdir(tmp_path / "o") == ["ok.png"]
    assert imageio.declared_size(bomb, max_pixels=0) == (12000, 12000)


# ------------------------------------------------------------------------------------------ 7-13: one line, exit 2
def test_pad_to_not_a_multiple_and_a_model_error_fail_per_image(tmp_path, srn, capsys, monkeypatch):
    import tensorflow as tf
    from deblurkeras import inference

    d = tmp_path / "d"
    d.mkdir()
    for n in ("a", "b"):
        save_image(d / f"{n}.png", _img(20, 30))
    args = ["deblur", str(d), "--model", "srn-color", "--weights", str(srn), "--out", str(tmp_path / "o")]
    assert main(args + ["--pad-to", "101x131"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pad-to 101x131" in err[0] and "multiple of 16" in err[0]
    # a size the model cannot take, for one image: that image fails by name, the other is written
    real = inference.predict.run_padded  # what predict_01 calls for an untiled image

    def flaky(model, io, x, pad_to=None):  # the first image (a.png) fails inside TensorFlow
        flaky.calls += 1
        if flaky.calls == 1:
            raise tf.errors.InvalidArgumentError(None, None, "Incompatible shapes: [1,14,18,64] vs. [1,13,17,64]")
        return real(model, io, x, pad_to)
    flaky.calls = 0
    monkeypatch.setattr(inference.predict, "run_padded", flaky)
    assert main(args) == 1
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "a.png: the model cannot run on 20x30 (HxW) (Incompatible shapes" in errors[0]
    assert os.listdir(tmp_path / "o") == ["b.png"]


def test_tf1_checkpoint_with_a_truncated_or_missing_data_file(tmp_path, capsys):
    import shutil
    from test_tf1_import import official_shapes, random_tensors, write_tf1_checkpoint

    prefix = write_tf1_checkpoint(tmp_path / "ck" / "deblur.model", random_tensors(official_shapes(3, False), 0))
    data = next(p for p in (tmp_path / "ck").iterdir() if ".data-" in p.name)
    shutil.copytree(tmp_path / "ck", tmp_path / "ck2")
    os.truncate(data, 100)
    os.remove(tmp_path / "ck2" / data.name)
    assert main(["import-tf1", prefix, "--out", str(tmp_path / "x.weights.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "truncated .data" in err[0] and not (tmp_path / "x.weights.h5").exists()
    save_image(tmp_path / "a.png", _img(16, 16))
    missing = str(tmp_path / "ck2" / os.path.basename(prefix))
    assert main(["deblur", str(tmp_path / "a.png"), "--weights", missing, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No such file" in err[0] and "ck2" in err[0]


def _tiny_keras(path):
    inp = keras.Input((8, 8, 3))
    keras.Model(inp, keras.layers.Conv2D(2, 3, padding="same", name="c")(inp)).save(path)
    return str(path)


def test_compare_and_export_files_with_bad_contents(tmp_path, capsys):
    from safetensors.torch import save_file
    import torch
    from deblurkeras.convert import export

    kfile = _tiny_keras(tmp_path / "k.keras")
    (tmp_path / "m.py").write_text("import torch\nclass M(torch.nn.Module):\n"
                                   "    def __init__(self):\n        super().__init__()\n"
                                   "        self.c = torch.nn.Conv2d(3, 2, 3, padding=1)\n"
                                   "    def forward(self, x):\n        return self.c(x)\n")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    rcs = [main(["compare", kfile, f"{tmp_path / 'm.py'}:M", "--torch-weights", str(tmp_path / "bad.safetensors")])]
    state = {"w": torch.zeros(1)}
    crafted = {"config": "{bad json", "model": "srn-color"}, {"config": "{}", "model": "no-such-model"}, \
        {"config": '{"bogus": 1}', "model": "srn-color"}, {"config": "[1]", "model": "srn-color"}
    for i, meta in enumerate(crafted):
        path = tmp_path / f"e{i}.safetensors"
        save_file(state, str(path), metadata={"format": export.FORMAT, **meta})
        rcs.append(main(["compare", kfile, str(path)]))
        with pytest.raises(BadInputError, match=f"e{i}.safetensors"):
            export.load_keras_from_safetensors(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert rcs == [2] * 5 and len(err) == 5, err  # 2 = a user error, not 1 = "diverged"
    assert "bad.safetensors: not a readable safetensors file" in err[0]
    assert "not JSON" in err[1] and "unknown model 'no-such-model'" in err[2] and "bogus" in err[3]
    assert "must be a JSON object" in err[4]


def _weights_with_identity(src, dst, ident):
    import h5py
    import shutil
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        f.attrs["deblurkeras"] = json.dumps(ident)
    return dst


def test_stored_identity_and_corrupt_or_nan_weights(tmp_path, srn):
    from deblurkeras import weights
    from deblurkeras.inference import load_model

    cases = {"list": (["srn-color"], "must be {\"model\": NAME"),
             "kwarg": ({"model": "srn-color", "config": {"bogus": 1}}, "unknown key 'bogus'"),
             "mode": ({"model": "srn-color", "config": {"resize_mode": "zzz"}}, "unknown resize mode 'zzz'"),
             "name": ({"model": "srn-nope", "config": {}}, "unknown model 'srn-nope'")}
    for key, (ident, why) in cases.items():
        path = _weights_with_identity(srn, tmp_path / f"{key}.weights.h5", ident)
        with pytest.raises(BadInputError, match=key) as e:
            weights.load(path)
        assert why in str(e.value)
    model = build_model("srn-color")
    weights.save(model, tmp_path / "m.keras")
    for name, src in (("t.weights.h5", srn), ("t.keras", tmp_path / "m.keras")):
        (tmp_path / name).write_bytes(open(src, "rb").read()[:5000])
        for model_name in (None, "srn-color"):
            with pytest.raises(BadInputError, match=f"{name}: corrupt or truncated"):
                weights.load(tmp_path / name, model_name)
    for w in model.weights:
        w.assign(np.full(w.shape, np.nan, "float32"))
    weights.save(model, tmp_path / "nan.weights.h5")
    with pytest.raises(BadInputError, match=r"nan.weights.h5: 84 of 84 weight tensors hold NaN/Inf"):
        load_model(None, tmp_path / "nan.weights.h5")


def test_config_values_that_used_to_crash_or_diverge(tmp_path):
    import yaml
    import tiny_trainers
    from deblurkeras.training import loop
    from deblurkeras.training.config import load_config

    cfg = tiny_trainers.user_config(tmp_path, "srn-color", {})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "u.yaml").write_bytes(b"model:\n  name: srn-color\n# \xff\xfe\n")
    with pytest.raises(BadInputError, match=r"u.yaml: not UTF-8 text"):
        load_config(str(tmp_path / "u.yaml"))
    bad = {"model=x": "expected section.key=value", "train.total_steps=99999999999999999999999999":
           "train.total_steps=99999999999999999999999999: expected an integer from 1 to",
           "data.crop=-16": "data.crop=-16: expected a positive multiple of 16",
           "train.lr=nan": "train.lr=nan: expected a finite number > 0", "train.lr=.inf": "train.lr=inf",
           "train.lr=-0.001": "train.lr=-0.001: expected a finite number > 0"}
    for item, why in bad.items():
        with pytest.raises(BadInputError) as e:
            load_config(str(tmp_path / "c.yaml"), [item])
        assert why in str(e.value), (item, str(e.value))
    cfg["train"]["total_steps"] = 10 ** 26
    with pytest.raises(BadInputError, match="total_steps"):
        loop.train(cfg)
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_divergence_without_a_checkpoint_does_not_advise_resume():
    import types
    from deblurkeras.training.loop import Run

    run = Run.__new__(Run)  # only the NaN guard's state
    run.step, run.trainer = 1, types.SimpleNamespace(stop_training=False)
    for last, resume in ((None, False), ("/r/ckpt/step_00000001", True)):
        run.last_ckpt = last
        run._diverge("loss became nan")
        assert ("--resume" in run.diverged.replace("without --resume", "")) == resume, run.diverged
        assert run.trainer.stop_training


def test_keras2_file_with_a_scalar_layer_names(tmp_path):
    import h5py
    from deblurkeras.families.dense_gan.importer import read_keras2_h5

    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.attrs["layer_names"] = b"conv2d_1"
        f.create_group("conv2d_1")
    with pytest.raises(BadInputError, match=r"g.h5: attribute layer_names must be a list of names"):
        read_keras2_h5(tmp_path / "g.h5")
    with h5py.File(tmp_path / "g.h5", "a") as f:
        del f.attrs["layer_names"]
        f.attrs["layer_names"] = np.array([b"conv2d_1"])
        f["conv2d_1"].attrs["weight_names"] = 3
    with pytest.raises(BadInputError, match=r"attribute conv2d_1/weight_names must be a list"):
        read_keras2_h5(tmp_path / "g.h5")


def _strict_json(path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_constant=refuse)


def test_upscale_evaluate_on_a_constant_image_writes_standard_json(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    from deblurkeras import weights

    sr = weights.save(build_model("srresnet-x4"), tmp_path / "sr.weights.h5")
    save_image(tmp_path / "flat.png", np.full((32, 32, 3), 128, np.uint8))
    save_image(tmp_path / "noise.png", _img(32, 32))
    rc = main(["upscale", str(tmp_path / "flat.png"), str(tmp_path / "noise.png"), "--weights", sr, "--evaluate",
               "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0, out
    m = _strict_json(tmp_path / "o" / "metrics.json")
    flat = next(r for r in m["images"] if r["image"].endswith("flat.png"))
    assert flat["bicubic_psnr"] is None and np.isfinite(m["mean"]["bicubic_psnr"])  # the noise image's
    assert "bicubic" in out and "null" in m["convention"]


def test_eval_summary_is_standard_json(tmp_path, srn):
    from deblurkeras.evaluate import evaluate

    d = tmp_path / "pairs"
    d.mkdir()
    half = _img(16, 16)
    save_image(d / "same.png", np.concatenate([half, half], axis=1))  # blurred == sharp: PSNR in = infinity
    _, summary = evaluate("srn-color", srn, d, tmp_path / "e")
    assert summary["psnr_in"] == float("inf")
    assert _strict_json(tmp_path / "e" / "summary.json")["psnr_in"] is None


# ------------------------------------------------------------------------------------------ 14-15: unclear / silent
def test_tile_and_tol_values_that_mean_nothing_are_refused(tmp_path, srn, capsys):
    save_image(tmp_path / "a.png", _img(16, 16))
    base = ["deblur", str(tmp_path / "a.png"), "--model", "srn-color", "--weights", str(srn), "--out",
            str(tmp_path / "o")]
    assert main(base + ["--tile", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tile -1" in err[0] and not (tmp_path / "o").exists()
    kfile = _tiny_keras(tmp_path / "k.keras")
    for tol in ("nan", "inf", "-1"):
        with pytest.raises(SystemExit) as e:
            main(["compare", kfile, str(tmp_path / "x.safetensors"), "--tol", tol])
        assert e.value.code == 2
        assert "expected a finite number >= 0" in capsys.readouterr().err


def test_frames_nan_tiff_and_a_newline_in_a_name(tmp_path, srn, capsys):
    import warnings
    from deblurkeras.imageio import decode

    frames = [Image.fromarray(_img(16, 16, s)) for s in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    notes = []
    decode(tmp_path / "anim.gif", note=notes.append)
    assert notes == [f"{tmp_path / 'anim.gif'}: 3 frames; only the first is used"]
    a = np.full((16, 16), np.nan, np.float32)
    a[0, 0] = 3.0
    Image.fromarray(a, "F").save(tmp_path / "nan.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw RuntimeWarning from the cast
        with pytest.raises(BadInputError, match=r"nan.tif: float image holds 255 NaN/Inf pixel values"):
            load_image(tmp_path / "nan.tif")
    d = tmp_path / "d"
    d.mkdir()
    (d / "evil\nname.png").write_bytes(b"not a png")
    save_image(d / "ok.png", _img(16, 16))
    assert main(["deblur", str(d), str(tmp_path / "anim.gif"), "--model", "srn-color", "--weights", str(srn),
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "deblurkeras deblur:" in line]
    assert any("anim.gif: 3 frames; only the first is used" in line for line in lines)
    bad = _errors(err)
    assert len(bad) == 1 and "evil\\nname.png': not an image" in bad[0]  # the name escaped: still one line
    assert sorted(os.listdir(tmp_path / "o")) == ["anim.gif", "ok.png"]
