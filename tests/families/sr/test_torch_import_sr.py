"""The SRResNet / SRGAN importer of the tutorial's PyTorch checkpoints: layouts written from official-definition
modules (families/sr/original.py), parity, the tutorial's whole-module pickles refused, the `import-torch` verb."""
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deblurkeras.importers.cli import import_model  # noqa: E402
from twin_pairs import nchw, nhwc  # noqa: E402
from deblurkeras.errors import BadInputError  # noqa: E402
from deblurkeras.families.sr import original as ref  # noqa: E402

pytestmark = pytest.mark.torch
TOL = 1e-5


def _sr_pair(seed=0):
    torch.manual_seed(seed)
    return ref.randomize_bn_and_prelu(ref.SRResNet().eval(), seed)


def test_srresnet_import_parity_checkpoint_layout(tmp_path):
    net = _sr_pair()
    path = tmp_path / "checkpoint_srresnet.pth"
    torch.save({"epoch": 3, "model": net.state_dict()}, path)
    model, name = import_model(path)
    assert name == "srresnet-x4"
    x = np.random.default_rng(2).normal(0, 1, (2, 12, 10, 3)).astype("float32")
    with torch.no_grad():
        want = nhwc(net(nchw(x)))
    got = np.asarray(model(x, training=False))
    assert got.shape == (2, 48, 40, 3)
    assert np.abs(got - want).max() <= TOL, np.abs(got - want).max()


def test_srgan_import_parity_generator_and_discriminator(tmp_path):
    torch.manual_seed(3)
    gen = ref.randomize_bn_and_prelu(ref.Generator().eval(), 3)
    disc = ref.randomize_bn_and_prelu(ref.Discriminator().eval(), 4)
    path = tmp_path / "checkpoint_srgan.pth"
    torch.save({"epoch": 1, "generator": gen.state_dict(), "discriminator": disc.state_dict()}, path)
    g, name = import_model(path)
    assert name == "srgan-x4"
    d, _ = import_model(path, "srgan-d")
    lr = np.random.default_rng(3).normal(0, 1, (1, 8, 8, 3)).astype("float32")
    hr = np.random.default_rng(4).normal(0, 1, (2, 96, 96, 3)).astype("float32")
    with torch.no_grad():
        want_g, want_d = nhwc(gen(nchw(lr))), disc(nchw(hr)).numpy()
    assert np.abs(np.asarray(g(lr, training=False)) - want_g).max() <= TOL
    got_d = np.asarray(d(hr, training=False))
    assert got_d.shape == (2, 1)
    assert np.abs(got_d - want_d).max() <= TOL * max(1.0, np.abs(want_d).max()), (got_d, want_d)


def test_whole_module_pickle_is_refused_with_resave_hint(tmp_path):
    path = tmp_path / "checkpoint_srresnet.pth"
    torch.save({"epoch": 0, "model": ref.SRResNet(n_blocks=1)}, path)       # the tutorial's own format
    with pytest.raises(BadInputError, match=r"state_dict\(\)"):
        import_model(path)


def test_cli_import_writes_weights_and_rejects_bad_files(tmp_path, capsys):
    from deblurkeras.cli import main
    net = _sr_pair()
    ckpt = tmp_path / "c.pth"
    torch.save({"model": net.state_dict()}, ckpt)
    out = tmp_path / "o" / "srresnet.weights.h5"
    assert main(["import-torch", str(ckpt), "--out", str(out)]) == 0
    assert out.is_file() and not any("partial" in p for p in os.listdir(out.parent))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(pickle.dumps([1, 2, 3]))
    assert main(["import-torch", str(bad), "--model", "srresnet-x4", "--out", str(tmp_path / "x.weights.h5")]) == 2
    assert "bad.pth" in capsys.readouterr().err
    assert not (tmp_path / "x.weights.h5").exists()
