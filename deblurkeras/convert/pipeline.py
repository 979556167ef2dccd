"""Export a registered Keras model to a safetensors PyTorch twin, then prove parity on a few sizes."""
import time

import numpy as np

from ..errors import BadInputError
from .. import registry
from ..utils import atomic_path
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


def check_parity(model_name, model, twin, sizes=None, tol=parity.DEFAULT_TOL, seed=0, progress=False, overrides=None):
    """run_parity on `sizes` (default: the twin's parity_sizes()), with the likely cause of a first divergence
    (deblurkeras.convert.causes); returns the list of results."""
    sizes = list(sizes or twin.parity_sizes())
    for size in sizes:
        twin.check_size(*size)
    capture = parity.keras_capture_model(model)
    peak = float(registry.model_io(model_name).out_scale)
    it = sizes
    if progress:
        from tqdm import tqdm
        it = tqdm(sizes, desc="parity", unit="size")
    from .causes import twin_diagnosis
    return [parity.run_parity(model, twin, x, tol, peak, capture, twin_diagnosis(model_name, twin, x, tol, overrides))
            for x in (parity_input(model_name, s, seed) for s in it)]


def export_and_check(model_name, out, weights=None, report_dir=None, check=True, naive=None, sizes=None,
                     tol=parity.DEFAULT_TOL, overrides=None, seed=0, progress=False):
    """Write `out` (only if parity holds, or check=False); returns (ok, results, report paths, seconds)."""
    start = time.perf_counter()
    # the exported twin is always the exact one; the naive pitfalls apply to the copy checked
    config, twin, model = export.prepare(model_name, out, weights, overrides, sizes=sizes if check else (),
                                         report_dir=report_dir)
    state = twin.state_dict()
    results, paths, ok = [], [], True
    try:
        with atomic_path(out) as tmp:
            meta = export.save_safetensors(state, tmp, model_name, config, weights)
            if check:
                checked = export.load_torch(tmp, naive=naive)  # what the file holds, rebuilt from its metadata
                results = check_parity(model_name, model, checked, sizes, tol, seed, progress, overrides)
                ok = all(r["ok"] for r in results)
                if report_dir:
                    paths = _reports(report_dir, meta, naive, results)
                if not ok:
                    raise _ParityFailed()
    except _ParityFailed:
        pass
    except OSError as err:  # the disk filled up during the write: one line, nothing left behind
        raise BadInputError(f"{out}: cannot be written ({err.strerror or err})") from None
    return ok, results, paths, time.perf_counter() - start


class _ParityFailed(Exception):
    """Internal: abort the atomic write so no file that fails parity is left behind."""


def _reports(report_dir, meta, naive, results):
    from . import report
    from .torch_layers import check_naive
    meta = {**meta, "naive": ",".join(sorted(check_naive(naive)))}
    return report.write_reports(report_dir, meta, results)
