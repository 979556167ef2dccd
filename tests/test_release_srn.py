"""SRN releases (issue 27): the .data sizes the catalogue derives (4 bytes per registered parameter: a TF bundle's
data shard is its tensors back to back) hold for a checkpoint written the way the original's was (a
tf.compat.v1 Saver over the official g_net names), and a release known by a git blob id (.data) and sha256 (.index,
.meta) is fetched from the loopback server and imported through the TF1 importer."""
import hashlib
import os

import numpy as np
import pytest

from deblurkeras import releases, weights
from deblurkeras.registry import entry
from deblurkeras.releases import entries
from deblurkeras.releases.entries import Release, ReleaseFile
from test_releases import Server
from test_tf1_import import official_shapes, random_tensors, write_tf1_checkpoint


@pytest.fixture(scope="module")
def gray_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("srn") / "gray"
    folder.mkdir()
    return write_tf1_checkpoint(folder / "deblur.model", random_tensors(official_shapes(1, False), 3))


def test_data_size_is_four_bytes_per_registered_parameter(gray_checkpoint):
    data = gray_checkpoint + ".data-00000-of-00001"
    assert os.path.getsize(data) == 4 * entry("srn-gray").params
    sizes = {f.path.rsplit("/", 1)[-1]: f.size for f in releases.get("srn-gray:gopro").files}
    assert sizes["deblur.model-523000.data-00000-of-00001"] == 4 * entry("srn-gray").params


@pytest.mark.slow
def test_a_git_blob_release_is_fetched_and_imported(gray_checkpoint, tmp_path, monkeypatch):
    from deblurkeras.families.srn.importer import import_weights
    monkeypatch.setenv("DEBLURKERAS_HOME", str(tmp_path / "home"))
    server, files = Server(), []
    try:
        for ext in (".data-00000-of-00001", ".index", ".meta"):
            data = open(gray_checkpoint + ext, "rb").read()
            path = f"checkpoints/gray/deblur.model-523000{ext}"
            server.files[path] = data
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            files.append(ReleaseFile(path, len(data), git_blob=blob) if ext.startswith(".data") else
                         ReleaseFile(path, len(data), sha256=hashlib.sha256(data).hexdigest()))
        entries.add(Release(model="srn-gray", tag="fixture", files=tuple(files), urls=(server.url("good"),),
                            source_repo="o/r", commit="2" * 40, folder="checkpoints/gray",
                            load="deblur.model-523000", importer="tf1"))
        model, name = weights.load("srn-gray:fixture")
        want, _ = import_weights(gray_checkpoint, model_name="srn-gray")
        assert name == "srn-gray"
        for a, b in zip(model.weights, want.weights):
            assert a.path == b.path and np.array_equal(np.asarray(a), np.asarray(b))
    finally:
        entries.remove("srn-gray:fixture")
        server.close()
