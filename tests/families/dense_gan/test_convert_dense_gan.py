"""Dense-field generator / PatchGAN: Keras -> PyTorch parity and named pitfalls."""
import pytest

torch = pytest.importorskip("torch")

from deblurkeras.convert import export  # noqa: E402
from deblurkeras.convert.pipeline import check_parity  # noqa: E402
from twin_pairs import assert_parity, pair  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def generator():
    return pair("dense-gan", channel_rate=8)


def test_generator_parity_even_odd_non_square(generator):
    results = check_parity("dense-gan", *generator, sizes=[(32, 32), (31, 45), (20, 52)])
    assert_parity(results)
    assert len(results[0]["rows"]) > 80 and not results[0]["unpaired_keras_layers"]


def test_generator_full_width_parity():
    assert_parity(check_parity("dense-gan", *pair("dense-gan"), sizes=[(24, 40)]))


@pytest.mark.parametrize("naive,first", [("bn", "d1_bn1"), ("leaky", "d1_lrelu1"), ("padding", None)])
def test_generator_naive_pitfalls(generator, naive, first):
    model, _ = generator
    _, twin = pair("dense-gan", naive=naive, model=model, channel_rate=8)
    r = check_parity("dense-gan", model, twin, sizes=[(16, 24)])[0]
    assert r["first_divergence"] == first  # stride-1 3x3 convs pad symmetrically: naive padding is harmless here
    assert r["ok"] == (first is None)


@pytest.mark.parametrize("overrides,size", [({"image_shape": (128, 64, 3), "filters": 8}, (128, 64)),
                                            ({"image_shape": (None, None, 3), "batch_patches": True,
                                              "patch_size": 32, "filters": 8}, (64, 96))])
def test_patchgan_parity_and_naive_padding_caught(overrides, size):
    model, twin = pair("dense-gan-d", **overrides)
    r = check_parity("dense-gan-d", model, twin, sizes=[size])[0]
    assert_parity([r])
    names = {row["name"] for row in r["rows"]}
    assert ("patch_gan@1" in names) if not overrides.get("batch_patches") else ("extract_patches" in names)
    _, naive = pair("dense-gan-d", naive="padding", model=model, **overrides)
    bad = check_parity("dense-gan-d", model, naive, sizes=[size])[0]
    assert not bad["ok"] and bad["first_divergence_layer"] in ("patch_gan", "average")


@pytest.mark.parametrize("name,overrides", [("dense-gan", {"channel_rate": 4})])
def test_twins_are_ordinary_modules_channels_last(name, overrides):
    """Twins behave as plain nn.Modules: .to(channels_last) (the fast CPU layout) keeps the numbers."""
    twin = export.build_twin(name, overrides)
    fast = export.build_twin(name, overrides).to(memory_format=torch.channels_last)
    fast.load_state_dict(twin.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a, b = twin(x), fast(x.contiguous(memory_format=torch.channels_last))
    a, b = (a[-1], b[-1]) if isinstance(a, list) else (a, b)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
