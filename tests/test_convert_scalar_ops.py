"""keras.ops calls with a Python number on one side (`x + 3.0`, `x * (1 / 6)`, `1 - x`: everyday Keras, MobileNetV3's
hard-swish) convert, and are checked layer by layer like every other call."""
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from keras import layers, ops  # noqa: E402

from deblurkeras.convert.keras_to_torch import convert_keras  # noqa: E402
from deblurkeras.convert.parity import randomize_batchnorm  # noqa: E402

pytestmark = pytest.mark.torch


def test_number_on_either_side(tmp_path):
    x = keras.Input((None, None, 3), name="img")
    a = layers.Conv2D(4, 3, padding="same", name="c")(x)
    b = (a + 3.0) * (1.0 / 6.0)         # tensor first
    c = 1 - b                            # number first
    d = c / 2                            # divide by a number
    e = ops.maximum(d, 0.25) - 0.5
    y = layers.Concatenate(name="cat")([b, c, d, e])
    keras.utils.set_random_seed(0)
    model = keras.Model(x, y)
    ok, results, _, _, gen = convert_keras(model, tmp_path / "ops", sizes=[(9, 11), (16, 8)])
    assert ok, [(r["first_divergence"], r["cause"]) for r in results]
    assert gen.source.count("ScalarOp(") >= 5 and "ScalarOp('subtract', 1.0, False)" in gen.source
    rows = results[0]["rows"]
    assert len(rows) >= 7 and all(r["max_abs"] <= 1e-6 for r in rows)  # each operation is a checked row


def test_mobilenet_v3_small_converts_and_matches_keras(tmp_path):
    from deblurkeras.convert.graph import read_graph
    keras.utils.set_random_seed(0)
    model = randomize_batchnorm(keras.applications.MobileNetV3Small(weights=None))
    ok, results, _, _, _ = convert_keras(model, tmp_path / "mnv3", sizes=[(64, 64)])
    assert ok, [(r["first_divergence"], r["cause"]) for r in results]
    assert max(r["max_abs_output"] for r in results) <= 1e-4
    rows, calls = results[0]["rows"], read_graph(model).calls
    assert len(rows) == len(calls)  # every call checked, the hard-swish's `x + 3.0` and `x * (1 / 6)` included
    scalar = {c.name for c in calls if not isinstance(c.layer, keras.layers.Layer)}
    assert len(scalar) >= 10 and scalar <= {r["layer"] for r in rows}  # 18 keras.ops calls in this build
