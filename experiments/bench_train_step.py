"""Training steps/s of SRN colour (SRNTrainer.train_step) on random data, measured in this run.

    python experiments/bench_train_step.py --batch 4 --crop 64 --steps 10
    python experiments/bench_train_step.py --batch 16 --crop 256 --xla --mixed-precision   # on a GPU
Prints one JSON line: device, settings, warm-up time (trace/compile + first steps), steps/s, images/s.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--variant", default="color")
    p.add_argument("--xla", action="store_true", help="jit_compile the train step")
    p.add_argument("--mixed-precision", action="store_true", help="mixed_float16 with loss scaling")
    args = p.parse_args(argv)

    import deblurkeras  # noqa: F401  (sets the Keras backend)
    import keras
    import numpy as np
    import tensorflow as tf

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    from deblurkeras.families.srn.trainer import build_trainer

    cfg = {"model": {"name": f"srn-{args.variant}"}, "train": {"total_steps": 524000, "jit_compile": args.xla}}
    trainer = build_trainer(cfg, precision="float16" if args.mixed_precision else None)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, args.crop, args.crop, 3), dtype=np.float32)
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape).astype(np.float32), 0, 1)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()

    t0 = time.perf_counter()
    trainer.fit(ds, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
    dt = time.perf_counter() - t0
    gpus = tf.config.list_physical_devices("GPU")
    print(json.dumps({
        "device": "GPU:" + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "?") if gpus
        else f"CPU x{os.cpu_count()}",
        "variant": args.variant, "batch": args.batch, "crop": args.crop, "xla": args.xla,
        "mixed_precision": args.mixed_precision, "warmup_s": round(warm, 2), "timed_steps": args.steps,
        "steps_per_s": round(args.steps / dt, 3), "images_per_s": round(args.steps * args.batch / dt, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
