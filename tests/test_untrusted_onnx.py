"""ONNX files that lie or point outside themselves (issue 31, items 4 and 11): checked against what their metadata
claims before the first image; one line naming the file each. The graphs are a few nodes written with onnx.helper
(no export: fast)."""
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install 'deblurkeras[onnx]'")
pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'deblurkeras[onnx]'")

from onnx import TensorProto, helper  # noqa: E402

from deblurkeras import registry  # noqa: E402
from deblurkeras.cli import main  # noqa: E402
from deblurkeras.convert.onnx_export import FORMAT, INPUT, OUTPUT  # noqa: E402
from deblurkeras.engines import OnnxEngine  # noqa: E402
from deblurkeras.errors import BadInputError  # noqa: E402

pytestmark = pytest.mark.onnx
ENGINES = ["onnxruntime"] + (["openvino"] if __import__("importlib").util.find_spec("openvino") else [])


def _meta(model, **over):
    io_ = registry.model_io(model)
    meta = {"format": FORMAT, "model": model, "multiples": json.dumps(list(io_.multiples)),
            "scale": str(io_.scale), "channels": str(io_.channels), "config": "{}"}
    meta.update(over)
    return meta


def write(path, meta, scale=1, nodes=None, initializers=(), input_name=INPUT, channels=3):
    """A graph NCHW -> NCHW that resizes by `scale` (1: Identity), with `meta` as its metadata."""
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", channels, "H", "W"])
    y = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", channels, "H2", "W2"])
    if nodes is None:
        if scale == 1:
            nodes = [helper.make_node("Identity", [input_name], [OUTPUT])]
        else:
            initializers = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, scale, scale])]
            nodes = [helper.make_node("Resize", [input_name, "", "scales"], [OUTPUT], mode="nearest")]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, os.fspath(path))
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_an_honest_tiny_graph_loads_and_runs(tmp_path, engine):
    path = write(tmp_path / "ok.onnx", _meta("srresnet-x4"), scale=4)
    eng = OnnxEngine(path, engine)
    assert eng.predict_nhwc(np.zeros((1, 5, 7, 3), np.float32)).shape == (1, 20, 28, 3)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_x1_graph_labelled_x4_is_refused(tmp_path, engine):
    """Was: `upscale` wrote a 64x80 "x4" image with exit 0."""
    path = write(tmp_path / "x1.onnx", _meta("srresnet-x4"), scale=1)
    with pytest.raises(BadInputError, match=r"x1.onnx: metadata says srresnet-x4 \(x4, 3 channels\) but the graph "
                                            r"turns a 32x32 \(HxW\) probe into \(1, 3, 32, 32\), not \(1, 3, 128, 128\)"):
        OnnxEngine(path, engine)


def test_an_sr_graph_labelled_as_dmphn_is_refused(tmp_path):
    """Was: a wrong image with exit 0."""
    path = write(tmp_path / "sr.onnx", _meta("dmphn-1-2-4"), scale=4)
    with pytest.raises(BadInputError, match="sr.onnx: metadata says dmphn-1-2-4 .* not the model it names"):
        OnnxEngine(path)


@pytest.mark.parametrize("value, says", [("[0, 0]", ".* is not \\[H, W\\] of integers"),
                                         ("junk", ".* is not \\[H, W\\] of integers"),
                                         ("[8]", ".* is not \\[H, W\\] of integers"),
                                         ("[8.5, 8]", ".* is not \\[H, W\\] of integers"),
                                         ("[4, 4]", "\\(4, 4\\) is not that of dmphn-1-2-4 \\(\\(8, 8\\)\\)")])
def test_bad_or_lying_multiples_are_one_line(tmp_path, value, says):
    """Were ZeroDivisionError / JSONDecodeError / ValueError tracebacks."""
    path = write(tmp_path / "m.onnx", _meta("dmphn-1-2-4", multiples=value))
    with pytest.raises(BadInputError, match=f"m.onnx: metadata multiples {says}"):
        OnnxEngine(path)


def test_lying_scale_and_channels_are_refused(tmp_path):
    with pytest.raises(BadInputError, match="metadata scale 1 is not that of srresnet-x4 \\(4\\)"):
        OnnxEngine(write(tmp_path / "s.onnx", _meta("srresnet-x4", scale="1"), scale=1))
    with pytest.raises(BadInputError, match="metadata channels 1 is not that of srn-color \\(3\\)"):
        OnnxEngine(write(tmp_path / "c.onnx", _meta("srn-color", channels="1")))


def test_a_graph_with_other_inputs_or_outputs_is_refused(tmp_path):
    with pytest.raises(BadInputError, match=r"i.onnx: graph inputs \['pixels'\], not the one image input"):
        OnnxEngine(write(tmp_path / "i.onnx", _meta("srn-color"), input_name="pixels"))
    with pytest.raises(BadInputError, match=r"c.onnx: graph input 'input' has shape \[None, 1, None, None\]"):
        OnnxEngine(write(tmp_path / "c.onnx", _meta("srn-color"), channels=1))


def _external(tmp_path, location, dims=(1,)):
    """A graph adding an initializer whose data is external, at `location`."""
    bias = TensorProto(name="bias", data_type=TensorProto.FLOAT, dims=list(dims))
    bias.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "4")):
        e = bias.external_data.add()
        e.key, e.value = k, v
    return write(tmp_path / "ext.onnx", _meta("srn-color"), initializers=[bias],
                 nodes=[helper.make_node("Add", [INPUT, "bias"], [OUTPUT])])


@pytest.mark.parametrize("where", ["../../secret.bin", "/etc/passwd", "link.bin"])
@pytest.mark.parametrize("engine", ENGINES)
def test_external_data_outside_the_folder_is_refused(tmp_path, where, engine):
    secret = tmp_path.parent / "secret.bin"
    secret.write_bytes(np.float32([7]).tobytes())
    if where == "link.bin":
        os.symlink(secret, tmp_path / "link.bin")
    path = _external(tmp_path, where)
    with pytest.raises(BadInputError, match=f"ext.onnx: tensor 'bias' keeps its data at {where!r}, outside"):
        OnnxEngine(path, engine)


def test_external_data_beside_the_model_is_read(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.float32([0.25]).tobytes())
    eng = OnnxEngine(_external(tmp_path, "w.bin"))
    assert np.allclose(eng.predict_nhwc(np.zeros((1, 16, 16, 3), np.float32)), 0.25)


def test_a_2_33_element_initializer_is_refused_before_loading(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 4)
    with pytest.raises(BadInputError, match=r"ext.onnx: tensor 'bias' declares \[8589934592\] = 8,589,934,592 "):
        OnnxEngine(_external(tmp_path, "w.bin", dims=(2 ** 33,)))


def test_a_graph_the_runtime_refuses_is_one_line(tmp_path):
    path = write(tmp_path / "bad.onnx", _meta("srn-color"), nodes=[helper.make_node("NoSuchOp", [INPUT], [OUTPUT])])
    with pytest.raises(BadInputError, match=r"bad.onnx: onnxruntime cannot load this ONNX file \("):
        OnnxEngine(path)


def test_cli_deblur_with_a_lying_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    path = write(tmp_path / "m.onnx", _meta("dmphn-1-2-4"), scale=4)
    out = tmp_path / "out"
    assert main(["deblur", str(tmp_path / "a.png"), "--weights", str(path), "--engine", "onnxruntime",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "m.onnx" in err and "not the model it names" in err, err
    assert not out.exists() or not os.listdir(out)


def test_a_graph_fixed_to_one_size_is_said_in_hxw_without_a_memory_hint(tmp_path):
    """A file that runs only at the size it was made for (a Reshape to a fixed shape, as a Split sized at export
    does): the failure names the input height x width in the project's HxW order and points at the export, not
    at --max-memory / --tile, which cannot help a shape error."""
    shape = helper.make_tensor("fixed", TensorProto.INT64, [4], [1, 3, 32, 32])
    nodes = [helper.make_node("Reshape", [INPUT, "fixed"], [OUTPUT])]
    path = write(tmp_path / "fixed.onnx", _meta("srn-color"), nodes=nodes, initializers=[shape])
    eng = OnnxEngine(path)  # the 32x32 probe passes: that is the size it was made for
    with pytest.raises(Exception) as info:
        eng.predict_nhwc(np.zeros((1, 48, 64, 3), np.float32))
    text = str(info.value)
    assert "48x64 (HxW)" in text and "exported for one size" in text
    assert "--max-memory" not in text and "--tile" not in text


def test_only_an_allocation_failure_suggests_a_smaller_memory_plan():
    from deblurkeras.engines import runtime_hint
    assert "--max-memory" in runtime_hint(RuntimeError("[ONNXRuntimeError] : 6 : Failed to allocate memory"))
    assert "--max-memory" not in runtime_hint(RuntimeError("Split node: sum of sizes was 16"))
