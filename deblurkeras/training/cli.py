"""`deblurkeras train --config X.yaml [--set key=value ...] [--resume] [--strategy S] [--precision P]`.

The config names the model, data, schedule and run directory; its defaults are deblurkeras.training.config.BASE
under the family's own (FamilySpec.config). `--set section.key=value` overrides any entry (value parsed as YAML),
e.g. `--set train.total_steps=1000`; an unknown key or a wrong type is an error (exit status 2).

`--resume` continues a run with the config it was started with (RUN/config.yaml, written by the run): nothing given
at the start has to be repeated, and `--set` changes the rest of the run (`--set train.total_steps=...` extends it).
The run folder is `--run-dir`, else the run.dir of `--config` and `--set`; `--config` may be left out when
`--run-dir` names the run, and `--config RUN/config.yaml --resume` is the same run. Entries of another `--config`
that differ from the run's are named and not applied (`--set` applies them).
"""
import os
import sys

from ..errors import BadInputError
from ..utils import dumps_json

from . import config, loop
from .. import precision


def add_arguments(p):
    p.add_argument("--config", default=None,
                   help="YAML config: a path, or a shipped name such as srn/gopro_color (see README); optional "
                        "with --resume --run-dir RUN (the run's own config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set data.path=gopro.h5 (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in run.dir from its latest checkpoint, with the run's own config.yaml "
                        "(--set changes it)")
    p.add_argument("--strategy", choices=loop.STRATEGIES, default=None,
                   help="tf.distribute strategy (default: run.strategy of the config); multiworker reads TF_CONFIG")
    p.add_argument("--precision", choices=precision.NAMES, default=None,
                   help="override run.precision: float32 (faithful), bfloat16, float16 (GPUs, loss-scaled) or auto")
    p.add_argument("--mixed-precision", action="store_true", default=None,
                   help="deprecated: the same as --precision float16")
    p.add_argument("--run-dir", default=None, help="override run.dir")
    p.add_argument("--print-config", action="store_true",
                   help="print the config this command line means (every key, defaults filled in) and exit "
                        "without training")


def saved_config(run_dir):
    return os.path.join(run_dir, "config.yaml")


def run_config(args, log=None):
    """The resolved config a `train` command line means (see the module docstring for `--resume`)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if args.config is None and not (args.resume and args.run_dir):
        raise BadInputError("--config is required (or --resume --run-dir RUN, to continue a run with its own "
                            "config)")
    cfg = None
    if args.resume:
        run_dir = args.run_dir or config.load_config(args.config, args.overrides)["run"]["dir"]
        saved = saved_config(run_dir)
        if os.path.isfile(saved):
            cfg = config.load_config(saved, args.overrides)
            cfg["run"]["dir"] = run_dir  # where it is now (the folder may have moved since it started)
            if args.config is not None:
                _name_ignored(args.config, saved, cfg, args.overrides, log)
        elif args.config is None:
            raise BadInputError(f"{run_dir}: no run to resume (no config.yaml); give --config to start it")
    if cfg is None:
        cfg = config.load_config(args.config, args.overrides)
    if args.strategy:
        cfg["run"]["strategy"] = args.strategy
    if args.precision or args.mixed_precision:
        cfg["run"]["precision"] = args.precision or "float16"
    if args.run_dir:
        cfg["run"]["dir"] = args.run_dir
    return config.validate(cfg)


def _name_ignored(path, saved, cfg, overrides, log):
    """Say which entries of a `--config` given with --resume differ from the run's own config (they are not
    applied: a resume continues the run as it was started, and only --set changes it)."""
    if os.path.isfile(path) and os.path.samefile(path, saved):
        return  # `--config RUN/config.yaml --resume`
    given = {item.split("=", 1)[0].strip() for item in overrides}
    differ = [f"{section}.{key}={value!r}" for section, keys in config.read_yaml(path).items()
              for key, value in keys.items()
              if (section, key) != ("run", "dir") and f"{section}.{key}" not in given
              and cfg.get(section, {}).get(key) != value]
    if differ:
        shown = ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
        log(f"resume: {saved} is the run's config; {path} differs in {shown}, not applied (--set applies it)")


def run(args):
    cfg = run_config(args)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        return 0
    summary = loop.train(cfg, resume=args.resume)
    print(dumps_json(summary, indent=1))
    return 0
