"""Parity of the PyTorch importers and short CPU training runs of DMPHN, SRResNet and SRGAN, with eval numbers.

    python experiments/short_runs_dmphn_sr.py                   # everything (a few minutes per run on 2 cores)
    python experiments/short_runs_dmphn_sr.py --only parity      # parity | dmphn | srresnet | srgan
Data: the real side-by-side sample set (left sharp | right blurred) when present (--sample-dir), else skipped for
DMPHN; SR trains on scikit-image's bundled photos and is evaluated on sharp halves of sample images (held out).
Every run goes through the real machinery (`deblurkeras.training.loop.train` with the experiments' YAML configs,
overridden to tiny settings), so the numbers are what `deblurkeras train` would give. All figures are measured
here; nothing is hard-coded. Prints one JSON object per section and writes them all to --out/summary.json.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SAMPLE = os.path.join(os.path.dirname(REPO), "shared", "data", "side_by_side_small", "train")


# ----------------------------------------------------------------------------------------------- parity
def parity(tmp):
    """Official-definition torch modules -> official checkpoint layouts -> import -> max |Keras - torch|."""
    import torch

    from deblurkeras.importers.cli import import_model
    from deblurkeras.families.dmphn import original as dmphn_ref
    from deblurkeras.families.sr import original as sr_ref

    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    out, rng = {}, np.random.default_rng(0)
    for n, size in ((3, 64), (4, 64)):
        d = os.path.join(tmp, f"dmphn{n}")
        os.makedirs(d)
        torch.manual_seed(n)
        enc = {k: dmphn_ref.dmphn_official_init(dmphn_ref.Encoder()).eval() for k in range(1, n + 1)}
        dec = {k: dmphn_ref.dmphn_official_init(dmphn_ref.Decoder()).eval() for k in range(1, n + 1)}
        for k in enc:
            torch.save(enc[k].state_dict(), os.path.join(d, f"encoder_lv{k}.pkl"))
            torch.save(dec[k].state_dict(), os.path.join(d, f"decoder_lv{k}.pkl"))
        model, name = import_model(d)
        x = rng.uniform(-0.5, 0.5, (1, size, size, 3)).astype("float32")
        with torch.no_grad():
            want = dmphn_ref.dmphn_forward(enc, dec, nchw(x)).numpy().transpose(0, 2, 3, 1)
        diff = np.abs(np.asarray(model(x)) - want)
        out[name] = {"input": list(x.shape), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                     "output_abs_mean": float(np.abs(want).mean())}
    torch.manual_seed(7)
    gen = sr_ref.randomize_bn_and_prelu(sr_ref.Generator().eval(), 7)
    disc = sr_ref.randomize_bn_and_prelu(sr_ref.Discriminator().eval(), 8)
    path = os.path.join(tmp, "checkpoint_srgan.pth")
    torch.save({"epoch": 0, "generator": gen.state_dict(), "discriminator": disc.state_dict()}, path)
    srpath = os.path.join(tmp, "checkpoint_srresnet.pth")
    torch.save({"epoch": 0, "model": gen.net.state_dict()}, srpath)
    lr = rng.normal(0, 1, (1, 24, 24, 3)).astype("float32")
    hr = rng.normal(0, 1, (2, 96, 96, 3)).astype("float32")
    with torch.no_grad():
        want_g = gen(nchw(lr)).numpy().transpose(0, 2, 3, 1)
        want_d = disc(nchw(hr)).numpy()
    for label, (src, kind, x, want) in {"srresnet-x4": (srpath, "srresnet-x4", lr, want_g),
                                        "srgan-x4 (generator)": (path, "srgan-x4", lr, want_g),
                                        "srgan-d": (path, "srgan-d", hr, want_d)}.items():
        model, _ = import_model(src, kind)
        diff = np.abs(np.asarray(model(x, training=False)) - want)
        out[label] = {"input": list(x.shape), "max_abs_diff": float(diff.max()),
                      "max_rel_diff": float(diff.max() / max(np.abs(want).max(), 1e-12))}
    from deblurkeras.families.dmphn.model import build_decoder, build_encoder
    from deblurkeras.families.sr.model import build_srresnet
    out["params"] = {
        "dmphn_pair_keras": int(build_encoder().count_params() + build_decoder().count_params()),
        "dmphn_pair_torch": int(sum(p.numel() for m in (dmphn_ref.Encoder(), dmphn_ref.Decoder())
                                    for p in m.parameters())),
        "srresnet_trainable_keras": int(sum(np.prod(w.shape) for w in build_srresnet().trainable_weights)),
        "srresnet_torch": int(sum(p.numel() for p in sr_ref.SRResNet().parameters())),
        "srgan_d_torch": int(sum(p.numel() for p in sr_ref.Discriminator().parameters())),
    }
    return out


# ----------------------------------------------------------------------------------------------- data
def _sample_pairs(sample_dir, start, stop):
    """(sharp, blurred, name) uint8 halves of side-by-side JPEGs number-sorted [start:stop]."""
    from PIL import Image

    paths = sorted(glob.glob(os.path.join(sample_dir, "*.jpg")),
                   key=lambda p: int(os.path.splitext(os.path.basename(p))[0]) if
                   os.path.basename(p)[:-4].isdigit() else 0)[start:stop]
    pairs = []
    for p in paths:
        a = np.asarray(Image.open(p).convert("RGB"))
        w = a.shape[1] // 2
        pairs.append((a[:, :w], a[:, w:], os.path.basename(p)))
    return pairs


def _write_hdf5(path, train, test):
    from deblurkeras.data import Hdf5Writer

    with Hdf5Writer(path, train[0][0].shape[:2]) as w:
        for split, pairs in (("train", train), ("test", test)):
            for sharp, blurred, name in pairs:
                w.append(split, sharp, blurred, name)


def _run(config, overrides, run_dir):
    from deblurkeras.training import config as run_config, loop

    cfg = run_config.load_config(os.path.join(REPO, "experiments", config), overrides)
    cfg["run"].update(dir=run_dir, progress=False)
    t0 = time.time()
    summary = loop.train(cfg, log=lambda *a: None)
    return summary, time.time() - t0


# ----------------------------------------------------------------------------------------------- DMPHN
def dmphn(tmp, sample_dir, steps, n_train=96, n_test=12, name="dmphn-1-2-4-8", crop=128, batch=4):
    from deblurkeras.inference import deblur_array, load_model
    from deblurkeras.metrics import psnr, ssim
    from deblurkeras.families import model_io

    pairs = _sample_pairs(sample_dir, 0, n_train + n_test)
    h5 = os.path.join(tmp, "sample.h5")
    _write_hdf5(h5, pairs[:n_train], pairs[n_train:])
    run_dir = os.path.join(tmp, "run_dmphn")
    summary, secs = _run("dmphn_gopro_1_2_4_8.yaml", [
        f"model.name={name}", f"data.path={h5}", f"data.batch_size={batch}", f"data.crop={crop}",
        "data.val_crop=256", "data.val_batch_size=4", "data.val_batches=1", f"train.total_steps={steps}",
        f"train.ckpt_every={steps}", "train.log_every=10", f"train.boundaries=[{steps * 10}]"], run_dir)
    model, io = load_model(name, summary["weights"]["generator"]), model_io(name)
    rows = []
    for sharp, blurred, _ in pairs[n_train:]:
        out = deblur_array(model, io, blurred, transpose=False)
        rows.append((psnr(out, sharp), ssim(out, sharp), psnr(blurred, sharp), ssim(blurred, sharp)))
    m = np.mean(rows, axis=0)
    return {"model": name, "data": f"{n_train} real sample pairs (256x256 halves), test {n_test} held-out pairs, "
                                    f"full 256x256, RGB, no border crop",
            "steps": steps, "batch": batch, "crop": crop, "train_seconds": round(secs, 1),
            "test_psnr": float(m[0]), "test_ssim": float(m[1]), "blurred_input_psnr": float(m[2]),
            "blurred_input_ssim": float(m[3]), "ssim": "skimage gaussian sigma 1.5 (deblurkeras.metrics)"}


# ----------------------------------------------------------------------------------------------- SR
def _sr_eval(name, weights, sample_dir, n_eval, tmp, label):
    """`deblurkeras upscale --evaluate` on sharp halves of held-out sample images: Y channel, 4-px border."""
    from PIL import Image

    from deblurkeras.cli import main

    d = os.path.join(tmp, f"hr_{label}")
    os.makedirs(d, exist_ok=True)
    for sharp, _, fname in _sample_pairs(sample_dir, -n_eval, None):   # never in the DMPHN run
        Image.fromarray(sharp).save(os.path.join(d, fname.replace(".jpg", ".png")))
    out = os.path.join(tmp, f"sr_{label}")
    rc = main(["upscale", d, "--model", name, "--weights", weights, "--out", out, "--evaluate"])
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        report = json.load(f)
    return rc, report


def srresnet(tmp, sample_dir, steps, batch=8, crop=96, n_eval=8):
    summary, secs = _run("srresnet_x4.yaml", [
        "data.path=skimage", f"data.batch_size={batch}", f"data.crop={crop}", "data.val_batch_size=4",
        "data.val_batches=1", f"train.total_steps={steps}", f"train.ckpt_every={steps}", "train.log_every=10",
        "train.lr=1.0e-4"], os.path.join(tmp, "run_srresnet"))
    weights = summary["weights"]["generator"]
    rc, rep = _sr_eval("srresnet-x4", weights, sample_dir, n_eval, tmp, "srresnet")
    return {"model": "srresnet-x4", "train_data": "scikit-image bundled photos, random 96x96 HR crops",
            "steps": steps, "batch": batch, "train_seconds": round(secs, 1), "eval": rep["mean"],
            "eval_images": rep["n_images"], "convention": rep["convention"], "weights": weights}


def srgan(tmp, sample_dir, steps, init, batch=4, crop=96, n_eval=8):
    summary, secs = _run("srgan_x4.yaml", [
        "data.path=skimage", f"data.batch_size={batch}", f"data.crop={crop}", "data.val_batch_size=4",
        "data.val_batches=1", f"train.total_steps={steps}", f"train.ckpt_every={steps}", "train.log_every=10",
        f"train.boundaries=[{steps // 2}]", f"model.init_weights={init}", "loss.vgg_weights=none"],
        os.path.join(tmp, "run_srgan"))
    rc, rep = _sr_eval("srgan-x4", summary["weights"]["generator"], sample_dir, n_eval, tmp, "srgan")
    return {"model": "srgan-x4", "init": init, "vgg_weights": "none (offline: random VGG19, content loss is not "
            "perceptual here)", "steps": steps, "batch": batch, "train_seconds": round(secs, 1),
            "eval": rep["mean"], "eval_images": rep["n_images"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("parity", "dmphn", "srresnet", "srgan"), action="append")
    p.add_argument("--sample-dir", default=SAMPLE)
    p.add_argument("--dmphn-steps", type=int, default=150)
    p.add_argument("--srresnet-steps", type=int, default=150)
    p.add_argument("--srgan-steps", type=int, default=20)
    p.add_argument("--out", default=None, help="keep runs and summary.json here (default: a temp dir)")
    args = p.parse_args(argv)
    import deblurkeras  # noqa: F401

    only = set(args.only or ("parity", "dmphn", "srresnet", "srgan"))
    tmp = args.out or tempfile.mkdtemp(prefix="short_runs_")
    os.makedirs(tmp, exist_ok=True)
    results = {}

    def report(key, value):
        results[key] = value
        print(json.dumps({key: value}, indent=1), flush=True)

    if "parity" in only:
        report("parity", parity(tmp))
    have_sample = os.path.isdir(args.sample_dir)
    if "dmphn" in only:
        report("dmphn", dmphn(tmp, args.sample_dir, args.dmphn_steps) if have_sample
               else f"skipped: no sample set at {args.sample_dir}")
    init = None
    if "srresnet" in only or "srgan" in only:
        if not have_sample:
            report("sr", f"skipped: no sample set at {args.sample_dir} (used for evaluation)")
        else:
            if "srresnet" in only or "srgan" in only:
                r = srresnet(tmp, args.sample_dir, args.srresnet_steps)
                init = r.pop("weights")
                report("srresnet", r)
            if "srgan" in only:
                report("srgan", srgan(tmp, args.sample_dir, args.srgan_steps, init))
    with open(os.path.join(tmp, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(f"summary: {os.path.join(tmp, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
