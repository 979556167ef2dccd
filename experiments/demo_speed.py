"""Seconds per training step of the demo's own run (its config, data and precision), for `demo.s_per_step`.

    python experiments/demo_speed.py [--steps 120] [--config srn/demo]

Trains the demo config for --steps steps on its synthetic data in a temporary folder and reads the run's log.csv:
wall seconds per step after the first 20 (tracing), and the process's CPU seconds per step over the same steps.
Prints one JSON line with the load average at the start and the end: on a machine shared with other work the
wall figure is an upper bound for an idle one.
"""
import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SKIP = 20  # steps left out of the timing: tf.function tracing and the first oneDNN kernel choices


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--config", default="srn/demo")
    args = p.parse_args(argv)

    from deblurkeras.demo import build_data
    from deblurkeras.precision import resolve
    from deblurkeras.training import config, loop

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.load_config(args.config, [f"train.total_steps={args.steps}", f"train.ckpt_every={args.steps}",
                                               "train.log_every=1", "run.progress=false"])
        demo_cfg = cfg.pop("demo")
        cfg["data"]["path"], cfg["run"]["dir"] = build_data(demo_cfg, tmp), os.path.join(tmp, "run")
        cpu = []

        def cpu_at_step(run_on_step=loop.Run.on_step):
            def on_step(self, logs):
                run_on_step(self, logs)
                if self.step in (SKIP, args.steps):
                    r = resource.getrusage(resource.RUSAGE_SELF)
                    cpu.append(r.ru_utime + r.ru_stime)
            return on_step

        loop.Run.on_step = cpu_at_step()
        loop.train(cfg, log=lambda m: None)
        with open(os.path.join(tmp, "run", "log.csv")) as f:
            elapsed = {int(r["step"]): float(r["elapsed_s"]) for r in csv.DictReader(f) if r["split"] == "train"}
    n = args.steps - SKIP
    print(json.dumps({"config": args.config, "precision": resolve(cfg["run"]["precision"]).name,
                      "timed_steps": n, "wall_s_per_step": round((elapsed[args.steps] - elapsed[SKIP]) / n, 4),
                      "cpu_s_per_step": round((cpu[1] - cpu[0]) / n, 4), "cpus": os.cpu_count(),
                      "loadavg_start": load0, "loadavg_end": os.getloadavg()[0],
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S")}))


if __name__ == "__main__":
    main()
