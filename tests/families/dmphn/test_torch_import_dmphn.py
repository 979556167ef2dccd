"""The DMPHN importer of the original PyTorch .pkl files: exact layouts written from official-definition modules
(families/dmphn/original.py), parity, strict names, and the `import` verb reading what `import-torch` reads."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deblurkeras.families.dmphn.importer import import_dmphn  # noqa: E402
from deblurkeras.importers.cli import import_model  # noqa: E402
from twin_pairs import nchw, nhwc  # noqa: E402
from deblurkeras.errors import BadInputError, WeightsMismatchError  # noqa: E402
from deblurkeras.families.dmphn import original as ref  # noqa: E402

pytestmark = pytest.mark.torch
TOL = 1e-5


def _dmphn_dir(tmp_path, n_levels, seed=0):
    torch.manual_seed(seed)
    enc = {k: ref.dmphn_official_init(ref.Encoder()).eval() for k in range(1, n_levels + 1)}
    dec = {k: ref.dmphn_official_init(ref.Decoder()).eval() for k in range(1, n_levels + 1)}
    for k in enc:   # non-zero biases, so a bias mapped to the wrong place cannot hide
        for m in (enc[k], dec[k]):
            for name, p in m.named_parameters():
                if name.endswith("bias"):
                    p.data.normal_(0, 0.05)
        torch.save(enc[k].state_dict(), tmp_path / f"encoder_lv{k}.pkl")
        torch.save(dec[k].state_dict(), tmp_path / f"decoder_lv{k}.pkl")
    return enc, dec


@pytest.mark.parametrize("n_levels,size", [(3, (32, 24)), (4, (32, 32))])
def test_dmphn_import_parity(tmp_path, n_levels, size):
    enc, dec = _dmphn_dir(tmp_path, n_levels)
    model, name = import_model(tmp_path)            # auto: a directory is DMPHN, levels from files
    assert name == ("dmphn-1-2-4-8" if n_levels == 4 else "dmphn-1-2-4")
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, *size, 3)).astype("float32")
    with torch.no_grad():
        want = nhwc(ref.dmphn_forward(enc, dec, nchw(x)))
    got = np.asarray(model(x))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL, np.abs(got - want).max()
    assert np.abs(want).mean() > 1e-2            # the comparison is not between two near-zero outputs


def test_mismatch_names_the_tensors_and_assigns_nothing(tmp_path):
    enc, dec = _dmphn_dir(tmp_path, 3)
    sd = enc[2].state_dict()
    sd["layer5.weight"] = torch.zeros(64, 32, 5, 5)
    del sd["layer2.2.bias"]
    torch.save(sd, tmp_path / "encoder_lv2.pkl")
    from deblurkeras.families.dmphn.model import build_dmphn
    model = build_dmphn((1, 2, 4))
    before = [np.asarray(v).copy() for v in model.weights]
    with pytest.raises(WeightsMismatchError) as e:
        import_dmphn(tmp_path, model)
    msg = str(e.value)
    assert "encoder_lv2.pkl" in msg and "layer2.2.bias" in msg and "layer5.weight" in msg
    assert all(np.array_equal(a, np.asarray(v)) for a, v in zip(before, model.weights))
    with pytest.raises(BadInputError, match="3 levels"):
        import_dmphn(tmp_path, build_dmphn((1, 2, 4, 8)))      # level 4 would stay random


def test_one_import_verb_reads_what_import_torch_reads(tmp_path, capsys):
    from deblurkeras import weights
    from deblurkeras.cli import VERBS, main

    assert {"import", "import-tf1", "import-torch", "import-keras2"} <= set(VERBS)
    folder = tmp_path / "DMPHN_1_2_4"
    folder.mkdir()
    _dmphn_dir(folder, 3)
    a, b = tmp_path / "a.weights.h5", tmp_path / "b.weights.h5"
    assert main(["import", str(folder), "--out", str(a)]) == 0
    assert "imported dmphn-1-2-4" in capsys.readouterr().out
    assert main(["import-torch", str(folder), "--out", str(b)]) == 0
    (ma, na), (mb, nb) = weights.load(str(a)), weights.load(str(b))
    assert na == nb == "dmphn-1-2-4"
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(ma.weights, mb.weights))
    capsys.readouterr()
    assert main(["import", str(folder), "--format", "tf1", "--out", str(tmp_path / "c.weights.h5")]) == 2
    assert "not a tf1 checkpoint" in capsys.readouterr().err and not (tmp_path / "c.weights.h5").exists()
