"""Leftovers of killed runs (issue 31, item 10, the import / loader parts): a hidden `.NAME.<hex>-<pid>.partial*`
of a dead process is removed by the next save into that folder (what `import` writes with), and the loader's layout
check writes no copy of the weights to the temp folder (a kill there used to leave one)."""
import os
import subprocess
import sys
import time

import keras
import pytest

from deblurkeras import weights
from deblurkeras.families import build_model


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    return build_model("srresnet-x4", n_blocks=1, channels=8)


def test_a_stale_partial_of_a_killed_import_is_removed_by_the_next(tmp_path, small):
    dead, old = _dead_pid(), time.time() - 3600
    stale = [tmp_path / f".m.0123abcd-{dead}.partial.weights.h5", tmp_path / f".m.89abcdef-{dead}.partial.keras"]
    live = tmp_path / f".m.00000000-{os.getpid()}.partial.weights.h5"   # ours, alive: kept
    mine = tmp_path / ".m.weights.h5"                                      # a user's hidden file: kept
    for p in (*stale, live, mine):
        p.write_bytes(b"x")
        os.utime(p, (old, old))
    weights.save(small, tmp_path / "m.weights.h5")
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, mine.name, "m.weights.h5"])


def test_the_layout_check_writes_nothing_to_disk(tmp_path, small, monkeypatch):
    path = weights.save(small, tmp_path / "m.weights.h5")

    def refuse(*a, **k):
        raise AssertionError("the layout check wrote the weights to a file")

    monkeypatch.setattr(keras.Model, "save_weights", refuse)
    monkeypatch.setattr(weights.tempfile, "TemporaryDirectory", refuse)
    model = build_model("srresnet-x4", n_blocks=1, channels=8)
    weights.load_into(model, path)
    assert all((a.numpy() == b.numpy()).all() for a, b in zip(model.weights, small.weights))
