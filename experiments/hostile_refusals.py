"""How fast crafted files are refused, and at what memory (issue 31): the figures the README's "hostile or damaged
files" list quotes.

Each case runs `python -m deblurkeras.cli VERB ...` in a fresh process on a crafted file (written here), timed from
process start to exit (interpreter start-up and imports included), with the peak RSS of that process (os.wait4's
ru_maxrss). It prints per case the exit status, seconds, peak RSS and the error line.

Cases:
  keras2-10gb      a Keras-2 .h5 declaring a 10 GB dataset (the file is ~10 kB): import-keras2
  weights-65536    a .weights.h5 whose identity says srresnet-x4 channels 65536: deblur
  weights-1024     ... channels 1024 (within the schema; refused by the meta-device count): deblur
  pkl-bomb         a DMPHN encoder_lv*.pkl set whose first storage record is 512 MiB of zeros deflated: import-torch
  keras-bomb       a .keras with three 512 MiB zero assets deflated: deblur
  onnx-x1-as-x4    an identity graph labelled srresnet-x4: upscale --engine onnxruntime

    python experiments/hostile_refusals.py [--work DIR]

Not a test (each case starts TensorFlow: ~10-20 s on a 2-core machine).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOMB = 512 << 20


def run(args, cwd):
    """(exit status, seconds, peak RSS in MiB of that process, last stderr line)."""
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "deblurkeras.cli", *args], stdout=subprocess.DEVNULL,
                                stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        err.seek(0)
        last = (err.read().strip().splitlines() or [""])[-1]
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / 1024, last


def _rezip(src, dst, replace=None, add=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = (replace or {}).get(info.filename)
            if data is None:
                zout.writestr(info, zin.read(info.filename))
            else:
                zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in add:
            zout.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)


def identity_onnx(path, model):
    """An NCHW identity graph whose metadata names `model` (what `export-onnx` writes, minus the model)."""
    import onnx
    from onnx import TensorProto, helper

    from deblurkeras import registry
    from deblurkeras.convert.onnx_export import FORMAT, INPUT, OUTPUT
    io_ = registry.model_io(model)
    x = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", 3, "H", "W"])
    proto = helper.make_model(helper.make_graph([helper.make_node("Identity", [INPUT], [OUTPUT])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    meta = {"format": FORMAT, "model": model, "multiples": json.dumps(list(io_.multiples)),
            "scale": str(io_.scale), "channels": str(io_.channels), "config": "{}"}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, path)
    return path


def make_cases(work):
    import h5py
    import keras
    import numpy as np
    import torch
    from PIL import Image

    from deblurkeras.families.dmphn import original as ref

    from deblurkeras import weights
    from deblurkeras.families import build_model

    img = os.path.join(work, "a.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    cases = {}

    path = os.path.join(work, "g.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"conv2d_1"])
        g = f.create_group("conv2d_1")
        g.attrs["weight_names"] = np.array([b"conv2d_1/kernel:0"])
        g.create_dataset("conv2d_1/kernel:0", shape=(50_000, 50_000), dtype="f4")
    cases["keras2-10gb"] = ["import-keras2", path, "--out", os.path.join(work, "o1.weights.h5")]

    keras.utils.set_random_seed(0)
    clean = os.path.join(work, "sr.weights.h5")
    weights.save(build_model("srresnet-x4"), clean)
    for channels in (65536, 1024):
        path = os.path.join(work, f"sr{channels}.weights.h5")
        with open(clean, "rb") as a, open(path, "wb") as b:
            b.write(a.read())
        with h5py.File(path, "a") as f:
            f.attrs["deblurkeras"] = json.dumps({"model": "srresnet-x4", "config": {"scale": 4, "channels": channels}})
        cases[f"weights-{channels}"] = ["deblur", img, "--weights", path, "--out", os.path.join(work, f"o{channels}")]

    folder = os.path.join(work, "DMPHN_1_2_4")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    for lv in (1, 2, 3):
        torch.save(ref.Encoder().state_dict(), os.path.join(folder, f"encoder_lv{lv}.pkl"))
        torch.save(ref.Decoder().state_dict(), os.path.join(folder, f"decoder_lv{lv}.pkl"))
    first = os.path.join(folder, "encoder_lv1.pkl")
    with zipfile.ZipFile(first) as z:
        record = next(n for n in z.namelist() if n.endswith("/data/0"))
    _rezip(first, first + ".new", {record: b"\0" * BOMB})
    os.replace(first + ".new", first)
    cases["pkl-bomb"] = ["import-torch", folder, "--out", os.path.join(work, "o2.weights.h5")]

    kclean = os.path.join(work, "sr.keras")
    weights.save(build_model("srresnet-x4", n_blocks=1, channels=8), kclean)
    bomb = os.path.join(work, "bomb.keras")
    _rezip(kclean, bomb, add=[(f"assets/zero{i}.bin", b"\0" * BOMB) for i in range(3)])
    cases["keras-bomb"] = ["deblur", img, "--weights", bomb, "--out", os.path.join(work, "o3")]

    onnx_path = identity_onnx(os.path.join(work, "x1.onnx"), "srresnet-x4")
    cases["onnx-x1-as-x4"] = ["upscale", img, "--weights", str(onnx_path), "--engine", "onnxruntime",
                              "--out", os.path.join(work, "o4")]
    sizes = {"keras2-10gb": "g.h5", "pkl-bomb": os.path.join("DMPHN_1_2_4", "encoder_lv1.pkl"),
             "keras-bomb": "bomb.keras"}
    return cases, {k: os.path.getsize(os.path.join(work, v)) for k, v in sizes.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", help="folder for the crafted files (default: a new temporary folder)")
    p.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="hostile_")
    os.makedirs(work, exist_ok=True)
    if args.make_only:  # in a child: the measuring parent stays small (a child's peak RSS starts at its parent's)
        cases, sizes = make_cases(work)
        with open(os.path.join(work, "cases.json"), "w") as f:
            json.dump({"cases": cases, "sizes": sizes}, f)
        return
    subprocess.run([sys.executable, os.path.abspath(__file__), "--work", work, "--make-only"], check=True,
                   env={**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}, stderr=subprocess.DEVNULL)
    with open(os.path.join(work, "cases.json")) as f:
        made = json.load(f)
    print(f"load average {os.getloadavg()[0]:.1f}; files in {work}")
    for name, argv in made["cases"].items():
        code, seconds, rss, err = run(argv, work)
        size = f", file {made['sizes'][name] / 2**20:.2f} MiB" if name in made["sizes"] else ""
        print(f"{name:14s} exit {code}  {seconds:5.1f} s  peak RSS {rss:6.0f} MiB{size}  | {err[:150]}", flush=True)


if __name__ == "__main__":
    main()
