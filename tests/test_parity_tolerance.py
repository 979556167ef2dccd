"""The per-layer tolerance is relative to each layer's own scale: float32 rounding on large features passes with
default options (the released SDNet4, a synthetic large-scale DMPHN), a hand-port pitfall still fails at its first
wrong layer, and the failure line says the relative error and the likely cause."""
import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from deblurkeras import registry  # noqa: E402
from deblurkeras.cli import main  # noqa: E402
from deblurkeras.convert import DEFAULT_TOL, AbsoluteTol, allowed, export  # noqa: E402
from deblurkeras.convert.parity import compare, worst_output  # noqa: E402
from deblurkeras.convert.pipeline import check_parity  # noqa: E402

pytestmark = pytest.mark.torch
DMPHN_CHECKOUT = "/work/.mirror/HongguangZhang+DMPHN-cvpr19-master/repo"  # a bare git dir of the original


def test_rule_and_stats():
    assert allowed(1e-4, 0.5) == 1e-4 and allowed(1e-4, 40.0) == pytest.approx(4e-3)
    assert allowed(AbsoluteTol(1e-4), 40.0) == 1e-4
    same = compare(np.ones((1, 2, 2, 1), np.float32), np.ones((1, 2, 2, 1), np.float32))
    assert same["max_abs"] == 0.0 and worst_output([same]) == 0.0  # an exact 0.0 is not "missing" (was inf)
    zero = compare(np.zeros((1, 2)), np.full((1, 2), 1e-3))
    assert zero["scale"] == 0.0 and zero["max_rel"] == float("inf")  # (was 0.0: a diff on a zero layer hidden)
    assert worst_output([same, {"max_abs": None}]) == float("inf")


def large_dmphn(factor=100.0):
    """A DMPHN whose features reach |x| ~ 200-300: every encoder's first conv scaled by `factor` (the
    released SDNet4 reaches ~40; the test makes its own large case, as the released weights are not in CI)."""
    keras.utils.set_random_seed(0)
    model = registry.build_model("dmphn-1-2-4")
    for path, var in export.keras_variables(model).items():
        if "/layer1/" in path:
            var.assign(var.numpy() * factor)
    twin = export.build_twin("dmphn-1-2-4")
    twin.load_state_dict(export.keras_to_torch_state(model, twin))
    return model, twin


def test_large_features_pass_by_default_and_rounding_is_named():
    model, twin = large_dmphn()
    (scaled,) = check_parity("dmphn-1-2-4", model, twin, sizes=[(16, 16)])
    assert scaled["ok"] and scaled["first_divergence"] is None
    worst = max(scaled["rows"], key=lambda r: r["max_abs"])
    assert worst["max_abs"] > DEFAULT_TOL and worst["max_rel"] < 1e-5, worst  # rounding, far above 1e-4 absolute
    (flat,) = check_parity("dmphn-1-2-4", model, twin, sizes=[(16, 16)], tol=AbsoluteTol(DEFAULT_TOL))
    assert not flat["ok"]  # the old absolute rule fails this model
    assert "float32 rounding" in flat["cause"] and "drop --absolute-tol" in flat["cause"]


def test_naive_padding_still_fails_at_enc2_1_with_relative_error_and_cause(tmp_path, capsys):
    keras.utils.set_random_seed(1)
    model = registry.build_model("srn-color")
    weights = str(tmp_path / "srn.weights.h5")
    model.save_weights(weights)
    out = tmp_path / "naive.safetensors"
    assert main(["export-torch", "--model", "srn-color", "--weights", weights, "--out", str(out), "--sizes", "16x32",
                 "--naive", "padding"]) == 1
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("16x32: FAIL"))
    assert "first divergence: enc2_1@0 (max abs" in line and "relative" in line
    assert "likely cause: asymmetric SAME padding" in line
    assert "x max(1, layer's max |x|)" in text and not out.exists()


@pytest.mark.slow
def test_released_sdnet4_exports_with_default_options(tmp_path):
    """The released SDNet4 (features |x| ~ 40: relative errors of a few 1e-6 are > 1e-4 absolute) exports with
    default options: export-torch and export-onnx."""
    if not os.path.isdir(DMPHN_CHECKOUT):
        pytest.skip(f"{DMPHN_CHECKOUT}: no checkout of HongguangZhang/DMPHN-cvpr19-master (the released weights)")
    folder = tmp_path / "SDNet4"
    folder.mkdir()
    names = subprocess.run(["git", "-C", DMPHN_CHECKOUT, "ls-tree", "--name-only", "HEAD", "checkpoints/SDNet4/"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        data = subprocess.run(["git", "-C", DMPHN_CHECKOUT, "show", f"HEAD:{name}"], capture_output=True,
                              check=True).stdout
        (folder / os.path.basename(name)).write_bytes(data)
    weights = str(tmp_path / "sdnet4.weights.h5")
    assert main(["import", str(folder), "--out", weights]) == 0
    assert main(["export-torch", "--weights", weights, "--out", str(tmp_path / "sd4.safetensors")]) == 0
    pytest.importorskip("onnxruntime")
    assert main(["export-onnx", "--weights", weights, "--out", str(tmp_path / "sd4.onnx")]) == 0


def test_a_pitfall_computing_what_the_exact_layer_computes_is_never_named():
    """Under a tolerance below float32 rounding every layer 'diverges'; the pitfalls that compute the same there
    (SAME padding of a stride-1 conv, the 'deconv' port of a kernel-4 stride-2 conv-transpose) reproduce the
    rounding too, and must not be named: the cause is rounding."""
    keras.utils.set_random_seed(2)
    model = registry.build_model("srn-color")
    twin = export.build_twin("srn-color")
    twin.load_state_dict(export.keras_to_torch_state(model, twin))
    (r,) = check_parity("srn-color", model, twin, sizes=[(16, 16)], tol=AbsoluteTol(1e-12))
    assert not r["ok"] and r["cause"].startswith("float32 rounding"), (r["first_divergence"], r["cause"])
