"""Short CPU training run of the dense-field GAN on the real side-by-side sample set; prints the figures.

Reads the JPEGs directly (LEFT half sharp, RIGHT half blurred, each resized to 256x256 if it is not already, as
build_hdf5 does), holds out the last `--val` files (sorted by name), trains the GANTrainer in the original mode on
random shared crops of the other pairs, prints the mean losses every `--log-every` steps, and evaluates PSNR/SSIM
(deblurkeras.metrics: uint8, full 256x256 image) of G(blurred) vs sharp against the blurred-input baseline on the
held-out pairs, before and after training.

This is a smoke-scale run, not a reproduction: the defaults (channel_rate 16, 64x64 crops, 300 steps) keep it to a
few CPU minutes, and the machines here are offline, so the VGG16 of the perceptual loss has random weights unless
`--vgg-weights PATH` gives the Keras `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`.

    .venv/bin/python experiments/dense_gan_short_run.py            # defaults as reported
    .venv/bin/python experiments/dense_gan_short_run.py --steps 50  # quicker look
Writes `<out>/generator.keras` (any size; `deblurkeras deblur/eval --model dense-gan --weights ...`) and
`<out>/figures.json`.
"""
import argparse
import json
import os
import pathlib
import sys
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "side_by_side_small" / "train"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder of side-by-side JPEGs (left sharp | right blurred)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--batch", type=int, default=2, help="batch size (the original: 2)")
    p.add_argument("--channel-rate", type=int, default=16, help="generator width (the original: 64)")
    p.add_argument("--val", type=int, default=16, help="held-out pairs (the last files by name)")
    p.add_argument("--mode", default="original", choices=["original", "combined"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--vgg-weights", default="none", help="'none' (random, offline), 'imagenet' or a local file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "runs" / "dense_gan_short"))
    return p.parse_args(argv)


def load_pair(path, size=256):
    """(sharp, blurred) uint8 (size, size, 3) from one side-by-side image."""
    import numpy as np
    from PIL import Image

    from deblurkeras.imageio import load_image

    img = load_image(path)
    w = img.shape[1] // 2
    halves = []
    for half in (img[:, :w], img[:, w:2 * w]):
        if half.shape[:2] != (size, size):
            half = np.asarray(Image.fromarray(half).resize((size, size), Image.LANCZOS))
        halves.append(half)
    return halves[0], halves[1]


def crop_stream(pairs, crop, batch, seed):
    """Endless (blurred, sharp) float32 batches in [-1, 1]: one random crop shared by the pair."""
    import numpy as np

    rng = np.random.default_rng(seed)
    while True:
        bl, sh = [], []
        for k in rng.integers(0, len(pairs), batch):
            sharp, blurred = pairs[k]
            y, x = rng.integers(0, sharp.shape[0] - crop + 1), rng.integers(0, sharp.shape[1] - crop + 1)
            sh.append(sharp[y:y + crop, x:x + crop])
            bl.append(blurred[y:y + crop, x:x + crop])
        yield (np.stack(bl).astype("float32") / 127.5 - 1.0, np.stack(sh).astype("float32") / 127.5 - 1.0)


def evaluate(generator, pairs):
    """Mean PSNR/SSIM of G(blurred) and of the blurred input against sharp (uint8, whole 256x256 images)."""
    import numpy as np

    from deblurkeras import metrics
    from deblurkeras.imageio import to_uint8

    out = {"psnr": [], "ssim": [], "psnr_blurred": [], "ssim_blurred": []}
    for sharp, blurred in pairs:
        x = blurred[None].astype("float32") / 127.5 - 1.0
        y = generator(x, training=False).numpy()[0]
        pred = to_uint8((y + 1.0) / 2.0)  # the package's PSNR convention: clip to [0, 1], *255, truncate
        out["psnr"].append(metrics.psnr(pred, sharp))
        out["ssim"].append(metrics.ssim(pred, sharp))
        out["psnr_blurred"].append(metrics.psnr(blurred, sharp))
        out["ssim_blurred"].append(metrics.ssim(blurred, sharp))
    return {k: float(np.mean(v)) for k, v in out.items()}


def main(argv=None):
    args = parse_args(argv)
    import deblurkeras  # noqa: F401  (Keras backend)
    import keras
    import tensorflow as tf

    from deblurkeras.families.dense_gan import model as dense_gan
    from deblurkeras.families.dense_gan import trainer as gan
    from deblurkeras.utils import atomic_path

    files = sorted(pathlib.Path(args.data).glob("*.jpg"))
    if len(files) <= args.val:
        raise SystemExit(f"{args.data}: {len(files)} JPEGs, need more than --val {args.val}")
    t0 = time.time()
    pairs = [load_pair(f) for f in files]
    train, held_out = pairs[:-args.val], pairs[-args.val:]
    print(f"data: {len(train)} training pairs, {len(held_out)} held out ({files[-args.val].name}..{files[-1].name}), "
          f"loaded in {time.time() - t0:.1f}s")

    keras.utils.set_random_seed(args.seed)
    generator = dense_gan.build_generator(channel_rate=args.channel_rate)
    discriminator = dense_gan.build_discriminator(patch_size=min(64, args.crop), image_shape=(args.crop, args.crop, 3))
    print(f"generator {generator.count_params():,} parameters (channel_rate {args.channel_rate}); "
          f"discriminator {discriminator.count_params():,} (patch {min(64, args.crop)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if args.vgg_weights == "none" else "default")
        content = gan.make_content_loss(vgg_weights=args.vgg_weights)
    if args.vgg_weights == "none":
        print("VGG16 perceptual loss with RANDOM weights (offline); pass --vgg-weights PATH for ImageNet features")
    trainer = gan.GANTrainer(generator, discriminator, content, mode=args.mode)
    trainer.compile(g_optimizer=keras.optimizers.Adam(args.lr, epsilon=1e-7),
                    d_optimizer=keras.optimizers.Adam(args.lr, epsilon=1e-7))

    before = evaluate(generator, held_out)
    print(f"held-out before training: G {before['psnr']:.2f} dB / SSIM {before['ssim']:.4f};  "
          f"blurred input {before['psnr_blurred']:.2f} dB / SSIM {before['ssim_blurred']:.4f}")

    spec = tf.TensorSpec((args.batch, args.crop, args.crop, 3), tf.float32)
    ds = tf.data.Dataset.from_generator(lambda: crop_stream(train, args.crop, args.batch, args.seed),
                                        output_signature=(spec, spec))
    print(f"training: mode {args.mode}, {args.steps} steps, batch {args.batch}, crop {args.crop}, Adam {args.lr}")
    print(f"{'step':>6} {'d_loss':>8} {'g_adv':>8} {'g_content':>10} {'psnr':>7} {'time':>7}")
    history, t_train = [], time.time()

    class Log(keras.callbacks.Callback):
        """One line per `log_every` steps (a Keras epoch here): the metrics are means over those steps."""

        def on_epoch_end(self, epoch, logs=None):
            row = {"step": (epoch + 1) * args.log_every, **{k: float(v) for k, v in logs.items()},
                   "time_s": time.time() - t_train}
            history.append(row)
            print(f"{row['step']:>6} {row['d_loss']:>8.4f} {row['g_adv']:>8.4f} {row['g_content']:>10.3f} "
                  f"{row['psnr']:>7.2f} {row['time_s']:>6.0f}s", flush=True)

    epochs = max(1, args.steps // args.log_every)  # the data stream continues across these epochs
    trainer.fit(ds, steps_per_epoch=args.log_every, epochs=epochs, verbose=0, callbacks=[Log()])
    args.steps = epochs * args.log_every

    after = evaluate(generator, held_out)
    print(f"held-out after {args.steps} steps: G {after['psnr']:.2f} dB / SSIM {after['ssim']:.4f};  "
          f"blurred input {after['psnr_blurred']:.2f} dB / SSIM {after['ssim_blurred']:.4f}  "
          f"(gain {after['psnr'] - after['psnr_blurred']:+.2f} dB)")

    os.makedirs(args.out, exist_ok=True)
    with atomic_path(os.path.join(args.out, "generator.keras")) as tmp:
        generator.save(tmp)
    figures = {"args": vars(args), "held_out_before": before, "held_out_after": after, "history": history,
               "generator_params": generator.count_params(), "train_time_s": time.time() - t_train}
    with atomic_path(os.path.join(args.out, "figures.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(figures, f, indent=1)
    print(f"wrote {args.out}/generator.keras and figures.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
