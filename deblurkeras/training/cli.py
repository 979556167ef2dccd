"""`deblurkeras train --config X.yaml [--set key=value ...] [--resume] [--strategy S] [--precision P]`.

The config names the model, data, schedule and run directory; its defaults are deblurkeras.training.config.BASE
under the family's own (FamilySpec.config). `--set section.key=value` overrides any entry (value parsed as YAML),
e.g. `--set train.total_steps=1000`; an unknown key or a wrong type is an error (exit status 2).
"""
from ..utils import dumps_json

from . import config, loop
from .. import precision


def add_arguments(p):
    p.add_argument("--config", required=True, help="YAML config: a path, or a shipped name such as srn/gopro_color (see README)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set data.path=gopro.h5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in run.dir from its latest checkpoint")
    p.add_argument("--strategy", choices=loop.STRATEGIES, default=None,
                   help="tf.distribute strategy (default: run.strategy of the config); multiworker reads TF_CONFIG")
    p.add_argument("--precision", choices=precision.NAMES, default=None,
                   help="override run.precision: float32 (faithful), bfloat16, float16 (GPUs, loss-scaled) or auto")
    p.add_argument("--mixed-precision", action="store_true", default=None,
                   help="deprecated: the same as --precision float16")
    p.add_argument("--run-dir", default=None, help="override run.dir")


def run(args):
    cfg = config.load_config(args.config, args.overrides)
    if args.strategy:
        cfg["run"]["strategy"] = args.strategy
    if args.precision or args.mixed_precision:
        cfg["run"]["precision"] = args.precision or "float16"
    if args.run_dir:
        cfg["run"]["dir"] = args.run_dir
    summary = loop.train(cfg, resume=args.resume)
    print(dumps_json(summary, indent=1))
    return 0
