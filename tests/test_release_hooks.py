"""A release name wherever weights are accepted (issue 27, "What to build" 3): weights.load, load_into (a config's
init_weights), build_model(name, weights=TAG), deblur, eval, export-torch, compare. The release is a DMPHN 1-2-4
folder in the official layout (random weights, torch.save of state_dicts), served by the loopback server of
test_releases.py; first use fetches + imports, the second neither."""
import hashlib
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deblurkeras import releases, weights  # noqa: E402
from deblurkeras.cli import main  # noqa: E402
from deblurkeras.families.dmphn.importer import import_dmphn  # noqa: E402
from deblurkeras.registry import build_model  # noqa: E402
from deblurkeras.releases import cache, entries  # noqa: E402
from deblurkeras.releases.entries import Release, ReleaseFile  # noqa: E402
from test_releases import Server  # noqa: E402
from deblurkeras.families.dmphn import original as ref  # noqa: E402
from deblurkeras.families.sr import original as sr_ref  # noqa: E402

pytestmark = pytest.mark.torch
NAME = "dmphn-1-2-4:fixture"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, folder of the official-layout files, the release) for the whole module."""
    folder = tmp_path_factory.mktemp("official") / "DMPHN_1_2_4"
    folder.mkdir()
    torch.manual_seed(0)
    for k in (1, 2, 3):
        for part, cls in (("encoder", ref.Encoder), ("decoder", ref.Decoder)):
            m = ref.dmphn_official_init(cls())
            for n, p in m.named_parameters():
                if n.endswith("bias"):
                    p.data.normal_(0, 0.05)
            torch.save(m.state_dict(), folder / f"{part}_lv{k}.pkl")
    server = Server()
    files = []
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        path = f"checkpoints/DMPHN_1_2_4/{p.name}"
        server.files[path] = data
        files.append(ReleaseFile(path, len(data), sha256=hashlib.sha256(data).hexdigest()))
    rel = Release(model="dmphn-1-2-4", tag="fixture", files=tuple(files), urls=(server.url("good"),),
                  source_repo="owner/repo", commit="1" * 40, folder="checkpoints/DMPHN_1_2_4", importer="torch",
                  license="test", reproduces="test")
    yield server, folder, rel
    server.close()


@pytest.fixture
def release(served, tmp_path_factory, monkeypatch):
    """The fixture release in the catalogue, with one cache for the module (the first test fetches it)."""
    server, folder, rel = served
    monkeypatch.setenv("DEBLURKERAS_HOME", str(tmp_path_factory.getbasetemp() / "release_hooks_home"))
    for var in ("DEBLURKERAS_OFFLINE", "DEBLURKERAS_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    entries.add(rel)
    yield served
    entries.remove(rel.name)


def _same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        assert x.path == y.path and np.array_equal(np.asarray(x), np.asarray(y)), x.path


def _holds_the_files(model, folder):
    """Every tensor of every official file, mapped as the importer maps it, is in the model (no second build)."""
    from deblurkeras.importers.torch_state import as_state_dict, load_torch_file, plan, weighted_layers
    n = 0
    for path in sorted(folder.iterdir()):
        sub = model.get_layer(path.stem)
        for var, value in plan(weighted_layers(sub), as_state_dict(load_torch_file(path), path), path):
            assert np.array_equal(np.asarray(var), value), (path.name, var.path)
            n += 1
    assert n == len(model.weights)


def test_first_use_fetches_and_imports_the_second_neither(release, capsys):
    server, folder, rel = release
    model, name = weights.load(NAME)
    assert name == "dmphn-1-2-4"
    _holds_the_files(model, folder)                                # what `import-torch` gives by hand
    err = capsys.readouterr().err
    assert f"fetching {NAME}: 6 file(s)" in err and f"importing {NAME}" in err
    n = len(server.log)
    assert releases.resolve(NAME) == cache.imported_path(rel)     # cached: no request, no import
    assert len(server.log) == n and "importing" not in capsys.readouterr().err


@pytest.mark.slow
def test_build_model_with_a_tag_and_load_into_and_offline(release, monkeypatch):
    server, folder, _ = release
    want = import_dmphn(folder)
    monkeypatch.setenv("DEBLURKERAS_OFFLINE", "1")                 # in the cache by now, or fetched here
    try:
        model = build_model("dmphn-1-2-4", weights="fixture")
    except releases.OfflineError:                                  # run alone: fetch once online, then offline
        monkeypatch.delenv("DEBLURKERAS_OFFLINE")
        releases.fetch(NAME, progress=False)
        monkeypatch.setenv("DEBLURKERAS_OFFLINE", "1")
        model = build_model("dmphn-1-2-4", weights="fixture")
    _same_weights(model, want)
    target = build_model("dmphn-1-2-4")
    weights.load_into(target, NAME)                                # what a config's init_weights runs
    _same_weights(target, want)
    with pytest.raises(releases.UnknownReleaseError, match="did you mean dmphn-1-2-4:fixture"):
        build_model("dmphn-1-2-4", weights="fixtur")


@pytest.mark.slow
def test_a_changed_imported_file_is_imported_again(release):
    rel = release[2]
    releases.resolve(NAME)
    path = cache.imported_path(rel)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) - 1)
        f.write(b"\x01" if f.read(1) != b"\x01" else b"\x02")
    assert releases.resolve(NAME) == path
    _same_weights(weights.load(NAME)[0], import_dmphn(release[1]))


@pytest.mark.slow
def test_deblur_eval_export_and_compare_take_a_release_name(release, tmp_path, capsys):
    from PIL import Image
    img = (np.random.default_rng(0).uniform(0, 255, (24, 32, 3))).astype("uint8")
    Image.fromarray(img).save(tmp_path / "a.png")
    assert main(["deblur", str(tmp_path / "a.png"), "--weights", NAME, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
    pairs = tmp_path / "pairs"
    for sub in ("blur", "sharp"):
        (pairs / sub).mkdir(parents=True)
        Image.fromarray(img).save(pairs / sub / "a.png")
    assert main(["eval", "--weights", NAME, "--data", str(pairs), "--out", str(tmp_path / "ev")]) == 0
    out = tmp_path / "m.safetensors"
    assert main(["export-torch", "--weights", NAME, "--out", str(out), "--sizes", "16x24"]) == 0
    assert out.is_file()
    assert main(["compare", NAME, str(out), "--sizes", "16x24"]) == 0
    assert main(["deblur", str(tmp_path / "a.png"), "--weights", "dmphn-1-2-4:fixtur", "--out",
                 str(tmp_path / "o2")]) == 2
    assert "did you mean dmphn-1-2-4:fixture" in capsys.readouterr().err


@pytest.mark.slow
def test_a_manual_release_taken_with_from_then_upscale_by_name(tmp_path, monkeypatch, capsys):
    """srresnet-x4:coco (no URL, no hash on record): --from a state_dict copy, then `upscale --weights NAME`, whose
    output is what the Keras import of the same file gives."""
    from PIL import Image
    from deblurkeras.importers.cli import import_model
    monkeypatch.setenv("DEBLURKERAS_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    net = sr_ref.randomize_bn_and_prelu(sr_ref.SRResNet().eval(), 0)
    mine = tmp_path / "checkpoint_srresnet.pth.tar"
    torch.save({"model": net.state_dict()}, mine)
    assert main(["upscale", str(mine), "--weights", "srresnet-x4:coco", "--out", str(tmp_path / "x")]) == 2
    assert "weights fetch srresnet-x4:coco --from" in capsys.readouterr().err
    assert main(["weights", "fetch", "srresnet-x4:coco", "--from", str(mine)]) == 0
    img = np.random.default_rng(0).uniform(0, 255, (12, 10, 3)).astype("uint8")
    Image.fromarray(img).save(tmp_path / "lr.png")
    assert main(["upscale", str(tmp_path / "lr.png"), "--weights", "srresnet-x4:coco", "--out",
                 str(tmp_path / "up")]) == 0
    _same_weights(weights.load("srresnet-x4:coco")[0], import_model(mine)[0])
