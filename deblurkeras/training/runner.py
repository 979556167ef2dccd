"""The training runner: one import for the pieces a caller needs (kept so `runner.train(cfg)` reads as before).

    config       load / merge / validate configs, `--set` overrides          (deblurkeras.training.config)
    contract     what every trainer provides to the runner                    (deblurkeras.training.contract)
    checkpoints  atomic save / load, latest, rotation, "good" checkpoints     (deblurkeras.training.checkpoints)
    logs         log.csv, TensorBoard scalars and images, preview PNGs        (deblurkeras.training.logs)
    loop         Run: strategy, start weights, fit loop, NaN guard, resume    (deblurkeras.training.loop)
"""
from .checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint  # noqa: F401
from .config import BASE, apply_override, family_module, load_config  # noqa: F401
from .logs import image_grid, save_grid_png, tb_images, tb_scalar  # noqa: F401
from ..errors import BadInputError  # noqa: F401
from .loop import (STRATEGIES, Run, TrainingDivergedError, fix_multiworker_build, is_chief,  # noqa: F401
                   make_strategy, precision_policy, run_precision, train)
