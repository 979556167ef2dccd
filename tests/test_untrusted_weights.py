"""Weights files whose stored config asks for a huge model (issue 31, items 8 and 11): refused in one line, fast,
before anything is built. Before: `channels: 65536` built until ResourceExhaustedError (110 s, 4.9 GB)."""
import json
import time

import h5py
import numpy as np
import pytest

from deblurkeras import weights
from deblurkeras.cli import main
from deblurkeras.errors import BadInputError


@pytest.fixture(scope="module")
def small_sr(tmp_path_factory):
    import keras

    from deblurkeras.families import build_model
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("w") / "sr.weights.h5"
    weights.save(build_model("srresnet-x4", n_blocks=1, channels=8), path)
    return path


def _with_config(src, dst, config, model="srresnet-x4"):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as f:
        f.attrs["deblurkeras"] = json.dumps({"model": model, "config": config})
    return dst


@pytest.mark.parametrize("config, says", [
    ({"scale": 4, "channels": 65536, "n_blocks": 1}, "channels=65536 \\(default 64; at most 16x"),
    ({"scale": 4, "channels": 8, "n_blocks": 1000000}, "n_blocks=1000000 \\(default 16"),
    ({"scale": 4, "channels": -8, "n_blocks": 1}, "channels=-8"),
    ({"scale": 4, "channels": "64"}, "channels='64', not a int"),
    ({"scale": 4, "evil": 1}, "unknown key 'evil'"),
    ({"scale": 4, "channels": 1024, "n_blocks": 16}, "describes a model of 387,600,439 numbers, but the file holds 10,423"),
])
def test_a_stored_config_is_checked_before_building(tmp_path, small_sr, config, says):
    path = _with_config(small_sr, tmp_path / "m.weights.h5", config)
    t = time.perf_counter()
    with pytest.raises(BadInputError, match=f"m.weights.h5: the stored config of srresnet-x4 .*{says}"):
        weights.load(path)
    assert time.perf_counter() - t < 60  # was 110 s to a ResourceExhaustedError (torch import included here)


def test_the_cli_says_it_in_one_line(tmp_path, small_sr, capsys):
    from PIL import Image

    path = _with_config(small_sr, tmp_path / "m.weights.h5", {"scale": 4, "channels": 65536, "n_blocks": 1})
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["deblur", str(tmp_path / "a.png"), "--weights", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "m.weights.h5" in err and "channels=65536" in err, err


def test_the_honest_config_still_loads(small_sr):
    model, name = weights.load(small_sr)
    assert name == "srresnet-x4" and model.count_params() > 0


def test_a_crafted_safetensors_config_is_refused_before_building(tmp_path):
    pytest.importorskip("torch")
    from safetensors.numpy import save_file

    from deblurkeras.convert.export import FORMAT, load_torch
    path = tmp_path / "m.safetensors"
    save_file({"head.weight": np.zeros((8, 3, 9, 9), np.float32)}, str(path),
              metadata={"format": FORMAT, "model": "srresnet-x4", "config": json.dumps({"n_blocks": 1000000})})
    t = time.perf_counter()
    with pytest.raises(BadInputError, match="m.safetensors: the stored config of srresnet-x4 has n_blocks=1000000"):
        load_torch(path)
    save_file({"head.weight": np.zeros((8, 3, 9, 9), np.float32)}, str(path),
              metadata={"format": FORMAT, "model": "srresnet-x4", "config": json.dumps({"channels": 1024})})
    with pytest.raises(BadInputError, match="describes a model of .* numbers, but the file holds 1,944"):
        load_torch(path)
    assert time.perf_counter() - t < 60  # was 110 s to a ResourceExhaustedError (torch import included here)
