"""Odd SDNet folders (issue 31, item 9): one clear line each instead of `unknown model 'stack-dmphn-1'`, and the
import's note names every .pkl it left unused."""
import os

import pytest

from deblurkeras.cli import main
from deblurkeras.errors import BadInputError
from deblurkeras.importers.cli import import_model

torch = pytest.importorskip("torch")


def _touch(folder, names):
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")
    return folder


def _stack(k):
    return [f"{p}_s{k}_lv{lv}.pkl" for p in ("encoder", "decoder") for lv in (1, 2, 3)]


def test_stacks_1_and_3_only_is_one_line(tmp_path, capsys):
    folder = _touch(tmp_path / "odd", _stack(1) + _stack(3))
    with pytest.raises(BadInputError, match=r"odd: SDNet files of stacks s1, s3; Stack-DMPHN reads stacks s1..sN, "
                                            r"all 6 files each, with N = 2, 3, 4 \(this folder gives N = 1\)"):
        import_model(folder)
    assert main(["import", str(folder), "--out", str(tmp_path / "m.weights.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stacks s1, s3" in err, err


@pytest.mark.parametrize("n_files, stacks", [(60, 10), pytest.param(10_002, 1_667, marks=pytest.mark.slow)])
def test_thousands_of_empty_sdnet_files_is_one_short_line(tmp_path, capsys, n_files, stacks):
    """The issue's case is 10,002 files (slow: creating them); 60 files take the same path."""
    names = [f"{p}_s{k}_lv{lv}.pkl" for k in range(1, stacks + 2) for p in ("encoder", "decoder") for lv in (1, 2, 3)]
    folder = _touch(tmp_path / "many", names[:n_files])
    assert main(["import", str(folder), "--out", str(tmp_path / "m.weights.h5")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 500, err
    assert f"and {stacks - 8:,} more stacks" in err and f"this folder gives N = {stacks:,}" in err, err


def test_an_sdnet_folder_named_for_more_stacks_than_exist(tmp_path):
    folder = _touch(tmp_path / "SDNet7", _stack(1) + _stack(2))
    with pytest.raises(BadInputError, match=r"SDNet7: SDNet files of stacks s1, s2; .* \(this folder gives N = 7\)"):
        import_model(folder)


def test_the_unused_note_names_every_other_pkl(tmp_path, monkeypatch):
    """Fast: the files are not read (torch_state patched); the note is what this checks."""
    from types import SimpleNamespace

    from deblurkeras.families.dmphn import importer
    from deblurkeras.importers import torch_state

    folder = _touch(tmp_path / "SDNet2", _stack(1) + _stack(2) + _stack(3)[:2] + ["encoder_lv1.pkl", "notes.pkl"])
    for name in ("load_torch_file", "as_state_dict"):
        monkeypatch.setattr(torch_state, name, lambda *a, **k: {})
    monkeypatch.setattr(torch_state, "plan", lambda *a, **k: [])
    stub = SimpleNamespace(name="stub", layers=[SimpleNamespace(name=f"encoder_s{k}_lv1") for k in (1, 2)],
                           get_layer=lambda n: SimpleNamespace(layers=[]))
    _, note = importer.import_stack_dmphn(folder, stub)
    assert note.endswith("unused: encoder_lv1.pkl, encoder_s3_lv1.pkl, encoder_s3_lv2.pkl, notes.pkl"), note


@pytest.mark.slow
def test_an_sdnet2_folder_with_the_dmphn_set_copied_in_names_the_six_unused(tmp_path, capsys):
    from deblurkeras.families.dmphn import original as ref

    folder = tmp_path / "SDNet2"
    folder.mkdir()
    torch.manual_seed(0)
    enc, dec = ref.Encoder().state_dict(), ref.Decoder().state_dict()
    for k in (1, 2):
        for lv in (1, 2, 3):
            torch.save(enc, folder / f"encoder_s{k}_lv{lv}.pkl")
            torch.save(dec, folder / f"decoder_s{k}_lv{lv}.pkl")
    dmphn = [f"{p}_lv{lv}.pkl" for p in ("encoder", "decoder") for lv in (1, 2, 3)]
    _touch(folder, dmphn)  # never read: their contents do not matter
    out = tmp_path / "m.weights.h5"
    assert main(["import", str(folder), "--out", str(out)]) == 0
    note = [ln for ln in capsys.readouterr().err.splitlines() if "unused" in ln]
    assert note and note[0].endswith("unused: " + ", ".join(sorted(dmphn))), note
    assert os.path.isfile(out)
