"""The CLI's last line of defence (issue 31, item 11): a name that is not UTF-8 printed to a strict UTF-8 stdout,
Ctrl-C while modules load (one line, exit 130), and a Keras-2 file whose kernel widths ask for a huge model."""
import io
import os
import sys

import h5py
import numpy as np
import pytest

from deblurkeras import cli
from deblurkeras.errors import BadInputError


def test_ctrl_c_while_a_verb_module_loads_is_one_line_exit_130(monkeypatch, capsys):
    def interrupted(verb):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_verb", interrupted)
    assert cli.main(["deblur", "--help"]) == 130
    assert capsys.readouterr().err.strip() == "deblurkeras deblur: interrupted"


def test_ctrl_c_inside_an_extension_import_is_one_line_exit_130(monkeypatch, capsys):
    """numpy / TensorFlow turn a Ctrl-C during their initialisation into ImportError("initialization failed")."""
    def interrupted(verb):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("initialization failed")

    monkeypatch.setattr(cli, "load_verb", interrupted)
    assert cli.main(["train", "--help"]) == 130
    assert capsys.readouterr().err.strip() == "deblurkeras train: interrupted"


def test_a_real_import_error_still_shows(monkeypatch):
    def broken(verb):
        raise ImportError("No module named 'onnx'")

    monkeypatch.setattr(cli, "load_verb", broken)
    with pytest.raises(ImportError):
        cli.main(["deblur", "--help"])


def test_a_non_utf8_name_on_a_strict_utf8_stdout(monkeypatch, tmp_path):
    """Was: the output written, then UnicodeEncodeError and exit 1 (PYTHONIOENCODING=utf-8)."""
    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", strict)
    name = os.fsdecode(b"caf\xe9.png")

    class Verb:
        def add_arguments(self, parser):
            parser.add_argument("--out")

        def run(self, args):
            print(f"wrote {name}")
            return 0

    monkeypatch.setattr(cli, "load_verb", lambda verb: Verb())
    assert cli.main(["deblur", "--out", str(tmp_path / "o")]) == 0
    assert raw.getvalue() == b"wrote caf\\udce9.png\n"


def test_a_keras2_kernel_of_400000_channels_is_refused_before_building(tmp_path):
    from deblurkeras.families.dense_gan.importer import load_file

    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"conv2d_1"])
        g = f.create_group("conv2d_1")
        g.attrs["weight_names"] = np.array([b"conv2d_1/kernel:0"])
        g.create_dataset("conv2d_1/kernel:0", shape=(1, 1, 3, 400_000), dtype="f4")  # 4.8 MB unwritten
    with pytest.raises(BadInputError, match=r"g.h5: the stored config of dense-gan has channel_rate=100000 "
                                            r"\(default 64; at most 16x"):
        load_file(path)
