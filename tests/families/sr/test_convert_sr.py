"""SRResNet / SRGAN discriminator: Keras -> PyTorch twin parity, PReLU and Dense layouts through safetensors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deblurkeras.convert import export  # noqa: E402
from deblurkeras.convert.pipeline import check_parity  # noqa: E402
from twin_pairs import assert_parity, pair  # noqa: E402

pytestmark = pytest.mark.torch


def test_srresnet_and_srgan_discriminator_parity():
    assert_parity(check_parity("srresnet-x4", *pair("srresnet-x4", n_blocks=2), sizes=[(12, 12), (11, 17)]))
    model, twin = pair("srgan-d", size=48, channels=8, fc_size=16)
    assert_parity(check_parity("srgan-d", model, twin, sizes=[(48, 48)]))


def test_prelu_and_dense_layouts_round_trip(tmp_path):
    model, twin = pair("srgan-d", size=48, channels=8, fc_size=16)
    path = str(tmp_path / "d.safetensors")
    export.save_safetensors(export.keras_to_torch_state(model, twin), path, "srgan-d",
                            export.model_config("srgan-d", {"size": 48, "channels": 8, "fc_size": 16}), None)
    back = export.load_keras_from_safetensors(path)
    for (p, a), (q, b) in zip(sorted(export.keras_weights(model).items()), sorted(export.keras_weights(back).items())):
        assert p == q
        np.testing.assert_array_equal(a, b)
