"""Export a registered Keras model to a safetensors PyTorch twin, then prove parity on a few sizes."""
import os
import time
import warnings

import numpy as np

from ..errors import BadInputError
from .. import registry
from ..utils import atomic_path, clean_stale_temps
from . import export, parity


def parse_sizes(text):
    """'64x64,63x81' -> [(64, 64), (63, 81)]."""
    sizes = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        try:
            h, w = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise BadInputError(f"bad size {item!r}: expected HxW, e.g. 64x64") from None
        if h < 1 or w < 1:
            raise BadInputError(f"bad size {item!r}: must be positive")
        sizes.append((h, w))
    return sizes


def parity_input(model_name, size, seed=0):
    """A random batch of one image in the model's input range (registry conventions), NHWC float32."""
    io = registry.model_io(model_name)
    x01 = np.random.RandomState(seed).rand(1, size[0], size[1], io.channels)
    return (x01 * np.asarray(io.in_scale) + np.asarray(io.in_offset)).astype(np.float32)


def check_parity(model_name, model, twin, sizes=None, tol=parity.DEFAULT_TOL, seed=0, progress=False):
    """run_parity on `sizes` (default: the twin's parity_sizes()); returns the list of results."""
    sizes = list(sizes or twin.parity_sizes())
    for size in sizes:
        twin.check_size(*size)
    capture = parity.keras_capture_model(model)
    peak = float(registry.model_io(model_name).out_scale)
    it = sizes
    if progress:
        from tqdm import tqdm
        it = tqdm(sizes, desc="parity", unit="size")
    return [parity.run_parity(model, twin, parity_input(model_name, s, seed), tol, peak, capture) for s in it]


def export_and_check(model_name, out, weights=None, report_dir=None, check=True, naive=None, sizes=None,
                     tol=parity.DEFAULT_TOL, overrides=None, seed=0, progress=False):
    """Write `out` (only if parity holds, or check=False); returns (ok, results, report paths, seconds)."""
    start = time.perf_counter()
    config = export.model_config(model_name, overrides)
    try:  # the exported twin is always the exact one; cheap to build, and it validates the configuration
        twin = export.build_twin(model_name, overrides)
    except (TypeError, ValueError) as err:
        raise BadInputError(f"{model_name}: bad configuration {config} ({err})") from None
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise BadInputError(f"{out}: directory {out_dir} does not exist")
    if check and sizes:  # user errors first, before the (slow) Keras build
        for size in sizes:
            twin.check_size(*size)
    if weights and not os.path.isfile(weights):
        raise BadInputError(f"{weights}: no such weights file")
    model = registry.build_model(model_name, **config)
    if weights:
        export.load_keras_weights(model, weights)
    else:
        warnings.warn(f"{model_name}: no --weights given, exporting the freshly initialised model", stacklevel=2)
    state = export.keras_to_torch_state(model, twin, source=os.fspath(weights) if weights else model.name)
    results, paths, ok = [], [], True
    clean_stale_temps(out_dir)  # temporaries a killed export left (ours only)
    try:
        with atomic_path(out) as tmp:
            meta = export.save_safetensors(state, tmp, model_name, config, weights)
            if check:
                checked = export.load_torch(tmp, naive=naive)  # what the file holds, rebuilt from its metadata
                results = check_parity(model_name, model, checked, sizes, tol, seed, progress)
                ok = all(r["ok"] for r in results)
                if report_dir:
                    paths = _reports(report_dir, meta, naive, results)
                if not ok:
                    raise _ParityFailed()
    except _ParityFailed:
        pass
    return ok, results, paths, time.perf_counter() - start


class _ParityFailed(Exception):
    """Internal: abort the atomic write so no file that fails parity is left behind."""


def _reports(report_dir, meta, naive, results):
    from . import report
    from .torch_layers import check_naive
    meta = {**meta, "naive": ",".join(sorted(check_naive(naive)))}
    return report.write_reports(report_dir, meta, results)
