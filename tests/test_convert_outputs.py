"""What the export verbs (convert-keras, export-onnx, export-torch, compare) may write, remove and run: never a
folder holding an input, never a folder convert-keras did not create, stale temporaries of killed runs cleaned,
unwritable outputs and a --report naming a file refused on one line before the export, report paths that exist,
a convert-keras folder's model.py not run by compare unless asked."""
import json
import os
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from keras import layers  # noqa: E402

from deblurkeras.cli import main  # noqa: E402
from deblurkeras.convert.keras_to_torch import MARK  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A .keras file of a two-layer model (converts in a second or two)."""
    x = keras.Input((None, None, 3))
    y = layers.Conv2D(2, 3, padding="same", name="c")(x)
    path = tmp_path_factory.mktemp("m") / "tiny.keras"
    keras.Model(x, y).save(path)
    return path


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_out_holding_the_input_is_refused_and_nothing_deleted(tiny, tmp_path, capsys, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    model = proj / "tiny.keras"
    model.write_bytes(tiny.read_bytes())
    (proj / "notes.txt").write_text("mine")
    assert main(["convert-keras", str(model), "--out", str(proj), "--overwrite", "--onnx"]) == 2
    assert "holds the input" in one_error_line(capsys)
    monkeypatch.chdir(proj)
    assert main(["convert-keras", "tiny.keras", "--out", ".", "--overwrite"]) == 2
    assert "holds the input" in one_error_line(capsys)
    assert sorted(os.listdir(proj)) == ["notes.txt", "tiny.keras"]


def test_overwrite_replaces_only_a_folder_it_marked(tiny, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.png").write_bytes(b"x")
    assert main(["convert-keras", str(tiny), "--out", str(mine), "--overwrite", "--sizes", "8x8,5x7"]) == 2
    assert "not written by convert-keras" in one_error_line(capsys) and (mine / "photo.png").is_file()

    out = tmp_path / "conv"
    assert main(["convert-keras", str(tiny), "--out", str(out), "--sizes", "8x8,5x7"]) == 0
    listed = set(json.loads((out / MARK).read_text())["files"])
    assert {"model.py", "model.safetensors", "parity.json"} <= listed and set(os.listdir(out)) - listed == {MARK}
    assert main(["convert-keras", str(tiny), "--out", str(out), "--overwrite", "--sizes", "8x8,5x7"]) == 0
    capsys.readouterr()
    (out / "added.txt").write_text("mine")  # something the user put in since: the folder is no longer all ours
    assert main(["convert-keras", str(tiny), "--out", str(out), "--overwrite", "--sizes", "8x8,5x7"]) == 2
    assert "did not write (added.txt)" in one_error_line(capsys) and (out / "added.txt").read_text() == "mine"


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def stale(folder, name, is_dir=False):
    path = folder / f".{name}.deadbeef-{dead_pid()}.partial"
    path.mkdir() if is_dir else path.write_bytes(b"half")
    os.utime(path, (time.time() - 3600,) * 2)
    return path


def test_stale_temporaries_of_killed_runs_are_removed(tiny, tmp_path, capsys):
    left_dir = stale(tmp_path, "conv", is_dir=True)  # convert-keras' temporary folder
    left_onnx = tmp_path / f".m.deadbeef-{dead_pid()}.partial.onnx"  # export-onnx's temporary file
    left_onnx.write_bytes(b"half")
    os.utime(left_onnx, (time.time() - 3600,) * 2)
    live = tmp_path / f".m.deadbeef-{os.getpid()}.partial.onnx"  # a run in progress: kept
    live.write_bytes(b"")
    assert main(["convert-keras", str(tiny), "--out", str(tmp_path / "conv"), "--sizes", "8x8,5x7"]) == 0
    assert not left_dir.exists() and not left_onnx.exists() and live.exists()
    left = stale(tmp_path, "m.onnx")
    # export-onnx cleans before anything slow: here it then stops on a size SRN cannot run (no Keras build)
    assert main(["export-onnx", "--model", "srn-color", "--out", str(tmp_path / "m.onnx"),
                 "--sizes", "31x45,16x16"]) == 2
    assert not left.exists() and live.exists()
    capsys.readouterr()


@pytest.mark.parametrize("verb", ["export-onnx", "export-torch", "convert-keras"])
def test_report_naming_a_file_and_unwritable_output_are_one_line_before_the_export(verb, tiny, tmp_path, capsys,
                                                                                    monkeypatch):
    report = tmp_path / "report.txt"
    report.write_text("not a folder")
    args = {"export-onnx": ["export-onnx", "--model", "dense-gan", "--out", str(tmp_path / "g.onnx")],
            "export-torch": ["export-torch", "--model", "dense-gan", "--out", str(tmp_path / "g.safetensors")],
            "convert-keras": ["convert-keras", str(tiny), "--out", str(tmp_path / "conv")]}[verb]
    calls = []
    import deblurkeras.registry as registry
    from deblurkeras.convert import codegen
    monkeypatch.setattr(registry, "build_model", lambda *a, **k: calls.append(a))  # reaching the export = a failure
    monkeypatch.setattr(codegen, "generate", lambda *a, **k: calls.append(a))
    assert main(args + ["--report", str(report)]) == 2
    assert "exists and is not a folder" in one_error_line(capsys) and report.read_text() == "not a folder"
    if os.path.isdir("/sys") and not _writable("/sys"):  # a place nobody writes (root ignores folder modes)
        ro = ["--out", "/sys/out.onnx" if verb == "export-onnx" else "/sys/out"]
        assert main(args[:args.index("--out")] + ro + args[args.index("--out") + 2:]) == 2
        assert "cannot write in /sys" in one_error_line(capsys)
    import shutil
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))
    assert main(args) == 2
    assert "MiB free, the export needs about" in one_error_line(capsys)
    assert not calls and not [n for n in os.listdir(tmp_path) if ".partial" in n]


def _writable(folder):
    try:
        fd = os.open(os.path.join(folder, ".probe"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except OSError:
        return False
    os.close(fd)
    os.remove(os.path.join(folder, ".probe"))
    return True


def test_convert_keras_onnx_prints_report_paths_that_exist(tiny, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["convert-keras", str(tiny), "--out", str(tmp_path / "conv"), "--sizes", "8x8,5x7", "--onnx"]) == 0
    reports = [line.split("report: ", 1)[1] for line in capsys.readouterr().out.splitlines()
               if line.startswith("report: ")]
    assert len(reports) == 6 and all(os.path.isfile(p) for p in reports), reports  # parity.* and parity_onnx.*


def test_compare_does_not_run_a_folders_model_py_unless_asked(tiny, tmp_path, capsys):
    out = tmp_path / "conv"
    assert main(["convert-keras", str(tiny), "--out", str(out), "--sizes", "8x8"]) == 0
    ran = tmp_path / "ran.txt"
    with open(out / "model.py", "a", encoding="utf-8") as f:  # a folder from elsewhere: its code does something
        f.write(f"\nopen({str(ran)!r}, 'w').write('ran')\n")
    assert main(["compare", str(tiny), str(out), "--sizes", "8x8"]) == 0
    assert not ran.exists()  # the weights went into a module generated here
    assert main(["compare", str(tiny), str(out), "--sizes", "8x8", "--run-model-py"]) == 0
    assert ran.read_text() == "ran"
    capsys.readouterr()


def test_size_check_line_states_the_rule_not_the_runtime_error():
    from deblurkeras.convert.onnx_export import size_check_line
    results = [{"size": [32, 32], "size_check": "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code ... /o"}]
    line = size_check_line("srn-color", results)
    assert line == ("size check: the file refuses an input whose H x W is not a multiple of 16 x 16 "
                    "(tried at 33x33: refused)")
    assert size_check_line("dense-gan", [{"size": [8, 8], "size_check": None}]) is None


def test_export_onnx_lists_its_models(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["export-onnx", "--model", "srn", "--out", "x.onnx"])
    assert stop.value.code == 2 and "invalid choice: 'srn'" in capsys.readouterr().err
