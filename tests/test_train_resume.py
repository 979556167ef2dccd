"""`train --resume`: it reads the run's own config (no `--set` repeated), and a failed resume writes nothing.

The trainer is the real SRN trainer with the tiny generator (tests/families/srn/test_srn_trainer.tiny_generator),
run in-process through the CLI's main(), so each run takes a few seconds.
"""
import hashlib
import json
import os

import pytest
import yaml

from deblurkeras.cli import main
from deblurkeras.families.srn import trainer as srn

import tiny_trainers  # tests/ (on sys.path by conftest)

# A user's config without data.path and run.dir: those come by --set at the start, as the README's first run does.
CONFIG = {
    "model": {"name": "srn-color", "family": "srn"},
    "data": {"batch_size": 2, "crop": 16, "val_batch_size": 2, "val_crop": 16, "val_batches": 1},
    "train": {"total_steps": 2, "ckpt_every": 1, "log_every": 1, "lr": 1e-3},
    "run": {"progress": False},
}


@pytest.fixture
def started(tmp_path, monkeypatch, capsys):
    """A finished 2-step run in tmp_path/run, started with --set data.path=... --set run.dir=..."""
    from test_srn_trainer import tiny_generator

    monkeypatch.setattr(srn, "build_generator", lambda model_cfg: tiny_generator())
    cfg_path = tmp_path / "my.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    data = tiny_trainers.make_h5(tmp_path / "d.h5", size=24)
    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(cfg_path), "--set", f"data.path={data}", "--set",
                 f"run.dir={run_dir}"]) == 0
    capsys.readouterr()
    return cfg_path, run_dir


def snapshot(folder):
    """relative path -> sha256 of every file under `folder` (and the set of folders)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = None
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def summary(out):
    return json.loads(out[out.index("{"):])


@pytest.mark.parametrize("extra, says", [
    # the data file is gone (refused before TensorFlow: preflight)
    (["--set", "data.path={tmp}/moved.h5"], "data.path="),
    # a crop the images cannot give (refused when the data stream is built, after the checkpoint is restored)
    (["--set", "data.crop=32", "--set", "train.total_steps=3"], "crop 32 is larger"),
    # an optimizer that does not match the checkpoint (loss-scaled: refused when the checkpoint is restored)
    (["--precision", "float16", "--set", "train.total_steps=3"], "optimizer variables"),
])
def test_a_failed_resume_leaves_every_file_of_the_run_as_it_was(started, tmp_path, capsys, extra, says):
    cfg_path, run_dir = started
    before = snapshot(run_dir)
    extra = [e.format(tmp=tmp_path) for e in extra]
    rc = main(["train", "--config", str(cfg_path), "--set", f"run.dir={run_dir}", "--resume", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and says in err, err
    assert snapshot(run_dir) == before
    # and the `--config RUN/config.yaml --resume` route still works afterwards
    assert main(["train", "--config", str(run_dir / "config.yaml"), "--resume", "--set",
                 "train.total_steps=3"]) == 0
    assert summary(capsys.readouterr().out)["step"] == 3


def test_resume_reads_the_runs_own_config(started, capsys):
    """No --set of the start is repeated: data.path comes from RUN/config.yaml; --set changes the rest of the run."""
    cfg_path, run_dir = started
    assert main(["train", "--config", str(cfg_path), "--set", f"run.dir={run_dir}", "--resume",
                 "--set", "train.total_steps=3"]) == 0
    assert summary(capsys.readouterr().out)["step"] == 3
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["total_steps"] == 3 and saved["data"]["path"].endswith("d.h5")
    # --run-dir alone names the run: no --config at all
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--set", "train.total_steps=4"]) == 0
    assert summary(capsys.readouterr().out)["step"] == 4


def test_resume_names_config_entries_it_does_not_apply(started, tmp_path, capsys):
    cfg_path, run_dir = started
    edited = {**CONFIG, "train": {**CONFIG["train"], "lr": 5e-4}}
    other = tmp_path / "edited.yaml"
    other.write_text(yaml.safe_dump(edited))
    assert main(["train", "--config", str(other), "--run-dir", str(run_dir), "--resume",
                 "--set", "train.total_steps=3"]) == 0
    err = capsys.readouterr().err
    assert "differs in train.lr=0.0005, not applied (--set applies it)" in err, err
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["lr"] == 1e-3


def test_resume_without_config_or_run_folder_is_one_line(tmp_path, capsys):
    assert main(["train", "--resume"]) == 2
    assert "--config is required" in capsys.readouterr().err
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "none")]) == 2
    assert "no run to resume" in capsys.readouterr().err
