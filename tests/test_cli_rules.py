"""Issue 23: one overwrite rule across verbs, the cheap checks before TensorFlow loads, and the small things a
new user met (weights the CLI can identify, TensorFlow's start-up lines, file modes, the demo's progress)."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from deblurkeras import outputs
from deblurkeras.errors import BadInputError
from deblurkeras.inference import output_plan

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _png(path, h=16, w=16):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def _python(code, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO, **(env or {})}, timeout=300)


def test_every_verb_refuses_an_existing_output_before_tensorflow_or_torch_loads(tmp_path):
    t = tmp_path
    _png(str(t / "in.png"))
    (t / "w.weights.h5").write_bytes(b"not read: the run stops before")
    (t / "m.keras").write_bytes(b"not read either")
    (t / "dmphn").mkdir()
    for p in ("o1/in.png", "o2/summary.json", "o3/in_x4.png", "e.safetensors", "i.weights.h5", "ck/model.py"):
        os.makedirs(os.path.dirname(str(t / p)), exist_ok=True)
        (t / p).write_text("keep me")
    calls = {
        "deblur": ["deblur", f"{t}/in.png", "--weights", f"{t}/w.weights.h5", "--out", f"{t}/o1"],
        "eval": ["eval", "--weights", f"{t}/w.weights.h5", "--data", f"{t}/in.png", "--out", f"{t}/o2"],
        "upscale": ["upscale", f"{t}/in.png", "--weights", f"{t}/w.weights.h5", "--out", f"{t}/o3"],
        "export-torch": ["export-torch", "--model", "srn-color", "--out", f"{t}/e.safetensors"],
        "import-torch": ["import-torch", f"{t}/dmphn", "--out", f"{t}/i.weights.h5"],
        "import-tf1": ["import-tf1", f"{t}/dmphn", "--out", f"{t}/i.weights.h5"],
        "import": ["import", f"{t}/dmphn", "--out", f"{t}/i.weights.h5"],
        "convert-keras": ["convert-keras", f"{t}/m.keras", "--out", f"{t}/ck"],
        "missing weights": ["deblur", f"{t}/in.png", "--weights", f"{t}/nope.weights.h5", "--out", f"{t}/o9"],
    }
    r = _python(f"""
        import json, sys
        from deblurkeras import cli
        calls = {calls!r}
        rcs = {{k: cli.main(v) for k, v in calls.items()}}
        print(json.dumps({{"rcs": rcs, "tf": "tensorflow" in sys.modules, "torch": "torch" in sys.modules}}))
    """)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["rcs"] == {k: 2 for k in calls}, r.stderr
    assert not res["tf"] and not res["torch"]
    errs = r.stderr.strip().splitlines()
    assert len(errs) == len(calls), r.stderr
    for line, (verb, argv) in zip(errs, calls.items()):
        if verb == "missing weights":
            assert "nope.weights.h5: no such file" in line
        else:
            assert "exists" in line and "--overwrite" in line, line
    for p in ("o1/in.png", "o2/summary.json", "o3/in_x4.png", "e.safetensors", "i.weights.h5", "ck/model.py"):
        assert (t / p).read_text() == "keep me"
    assert not (t / "o9").exists()


def test_output_plan_replaces_only_with_overwrite(tmp_path):
    _png(str(tmp_path / "in.png"))
    _png(str(tmp_path / "out" / "in.png"))
    (_, _, err), = output_plan([str(tmp_path / "in.png")], str(tmp_path / "out"), os.path.basename)
    assert "exists; pass --overwrite" in err
    (_, _, err), = output_plan([str(tmp_path / "in.png")], str(tmp_path / "out"), os.path.basename, overwrite=True)
    assert err is None


def test_output_plan_asks_the_one_overwrite_rule(tmp_path, monkeypatch):
    """deblur and upscale plan their outputs with outputs.refusal, the rule the CLI's pre-check applies: a change
    of the rule reaches them too (no restated copy)."""
    from deblurkeras import outputs

    _png(str(tmp_path / "in.png"))
    monkeypatch.setattr(outputs, "refusal", lambda path, overwrite: f"{path}: refused by the rule")
    (_, dst, err), = output_plan([str(tmp_path / "in.png")], str(tmp_path / "out"), os.path.basename)
    assert err == f"{dst}: refused by the rule"


def test_a_tf1_prefix_counts_as_an_existing_input(tmp_path):
    (tmp_path / "deblur.model-523000.index").write_bytes(b"")
    ns = type("A", (), {"checkpoint": str(tmp_path / "deblur.model-523000")})()
    outputs.check_inputs(ns)
    ns.checkpoint = str(tmp_path / "deblur.model-1")
    with pytest.raises(BadInputError, match="deblur.model-1: no such file"):
        outputs.check_inputs(ns)


def test_weights_save_gives_a_file_the_cli_identifies_and_save_weights_does_not(tmp_path):
    """The README's Python way: deblurkeras.weights.save(model, path) writes the model's identity."""
    from deblurkeras import weights
    from deblurkeras.families import build_model

    model = build_model("srresnet-x4", channels=8, n_blocks=1)
    ours = weights.save(model, tmp_path / "ours.weights.h5")
    assert weights.resolve_name(ours) == "srresnet-x4"
    assert weights.read_identity(ours)["config"]["channels"] == 8
    model.save_weights(str(tmp_path / "plain.weights.h5"))
    with pytest.raises(BadInputError, match="pass --model"):
        weights.resolve_name(tmp_path / "plain.weights.h5")
    again, name = weights.load(ours)
    assert name == "srresnet-x4" and again.count_params() == model.count_params()


def test_importing_the_python_api_prints_no_tensorflow_start_up_lines():
    r = _python("""
        import deblurkeras
        from deblurkeras.families import build_model
        m = build_model("dmphn-1-2-4")
        import tensorflow as tf
        print(float(tf.reduce_sum(tf.ones(3))), m.count_params() > 0)
    """)
    assert r.returncode == 0 and r.stdout.split() == ["3.0", "True"], r.stderr
    noise = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert not noise, noise


@pytest.mark.torch
def test_exported_safetensors_get_the_umask_mode_like_other_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    from deblurkeras.convert.export import save_safetensors

    path = tmp_path / "t.safetensors"
    save_safetensors({"w": torch.zeros(2)}, path, "srn-color", {}, None)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


def _bar_of(cfg):
    from deblurkeras.training import loop

    run = loop.Run(cfg, log=lambda *a: None)
    run.chief = True
    bar = run._progress()
    bar.close()
    return bar.total, bar.unit


def test_a_time_budget_bar_counts_seconds_not_the_step_cap(tmp_path):
    from deblurkeras.training import config
    from tiny_trainers import user_config

    cfg = config.load_config(base=user_config(tmp_path, "srn-color", {}, total_steps=100000))
    cfg["run"].update(progress=True, time_budget_s=120)
    assert _bar_of(cfg) == (120, "s")
    cfg["run"]["time_budget_s"] = None
    assert _bar_of(cfg) == (100000, "step")


def test_the_demo_hands_auto_itself_to_the_run(tmp_path, monkeypatch):
    """It printed "precision bfloat16 (... as asked ...)" when the config asked for auto."""
    from deblurkeras import demo

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(runner, cfg):
        seen["precision"] = cfg["run"]["precision"]
        raise Stop

    monkeypatch.setattr(demo, "build_data", lambda *a, **k: str(tmp_path / "d.h5"))
    monkeypatch.setattr(demo, "_train_with_retries", fake_train)
    import argparse
    p = argparse.ArgumentParser()
    demo.add_arguments(p)
    with pytest.raises(Stop):
        demo.run(p.parse_args(["--out", str(tmp_path / "demo")]))
    assert seen["precision"] == "auto"
