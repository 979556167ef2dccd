"""`.keras` files written before the family layers moved into families/<f>/layers.py still load (safe_mode).

Keras looks a custom class up by its registered name (`deblurkeras>ResBlock`), which the move kept; the `module`
a file records is only a fallback. The test writes a file whose config names the modules as they were before the move
(deblurkeras.layers.resblock, ...), then loads it in a fresh interpreter that only imports deblurkeras and keras.
"""
import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# registered class -> the module it lived in before the family-folder move
OLD_MODULES = {"ResBlock": "deblurkeras.layers.resblock", "ConvLSTMCell": "deblurkeras.layers.conv_lstm",
               "StopGradient": "deblurkeras.layers.misc", "ZeroState": "deblurkeras.layers.misc",
               "PixelShuffle": "deblurkeras.layers.pixel_shuffle", "TorchBatchNorm": "deblurkeras.layers.torch_bn",
               "Halves": "deblurkeras.families.dmphn.model"}


def _every_family_layer():
    from deblurkeras.families.dmphn.layers import Halves
    from deblurkeras.families.sr.layers import PixelShuffle, TorchBatchNorm
    from deblurkeras.families.srn.layers import ConvLSTMCell, ResBlock, StopGradient, ZeroState

    x = inp = keras.Input((8, 8, 4))
    x = ResBlock(4, 3, name="res")(x)
    h, _ = ConvLSTMCell(4, name="lstm")([x, ZeroState(name="zero")(x)])
    x = StopGradient(name="stop")(h)
    x = TorchBatchNorm(name="bn")(x)
    top, bottom = Halves(1, name="halves")(x)
    x = keras.layers.Concatenate(axis=1)([bottom, top])
    return keras.Model(inp, PixelShuffle(2, name="shuffle")(x))


def _rewrite_modules(path):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    seen = set()

    def walk(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") in OLD_MODULES and "module" in obj:
                obj["module"] = OLD_MODULES[obj["class_name"]]
                seen.add(obj["class_name"])
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return seen


def test_keras_file_from_before_the_family_move_loads(tmp_path):
    model = _every_family_layer()
    x = np.random.default_rng(0).uniform(size=(1, 8, 8, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", np.asarray(model(x, training=False)))
    path = tmp_path / "old.keras"
    model.save(path)
    assert _rewrite_modules(path) == set(OLD_MODULES)
    code = ("import numpy as np, deblurkeras, keras; "
            f"m = keras.saving.load_model({str(path)!r}, safe_mode=True, compile=False); "
            f"x = np.load({str(tmp_path / 'x.npy')!r}); want = np.load({str(tmp_path / 'want.npy')!r}); "
            "got = np.asarray(m(x, training=False)); assert np.abs(got - want).max() < 1e-6, np.abs(got - want).max(); "
            "print(sorted({type(lyr).__module__ for lyr in m.layers if type(lyr).__module__.startswith('deblurkeras')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": REPO}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "deblurkeras.families.srn.layers" in out.stdout and "deblurkeras.families.sr.layers" in out.stdout
