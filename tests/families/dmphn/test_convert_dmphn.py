"""DMPHN: Keras -> PyTorch twin parity, layer by layer."""
import pytest

torch = pytest.importorskip("torch")

from deblurkeras.convert.pipeline import check_parity  # noqa: E402
from twin_pairs import assert_parity, pair  # noqa: E402

pytestmark = pytest.mark.torch


def test_dmphn_parity():
    model, twin = pair("dmphn-1-2-4")
    results = check_parity("dmphn-1-2-4", model, twin, sizes=[(16, 16), (24, 40)])
    assert_parity(results)
    assert "encoder_lv3@3" in {row["name"] for row in results[0]["rows"]}
