"""build-hdf5's decoding: one work item -> its (sharp, blurred) uint8 arrays, in this process or in forked workers.

deblurkeras.imageio decodes (one set of conversions for every tool; EXIF orientation ignored unless --exif); --size S
resizes each image to S x S with Pillow LANCZOS. `start_results` hands the results back in task order whatever the
number of workers (data.forkpool), so the output does not depend on --workers.
"""
import time

import numpy as np

from ..imageio import DEFAULT_MAX_PIXELS, ImageReadError, decode

PILLOW_BLOCKS = 16  # freed image blocks Pillow keeps for reuse (its default 0 returns each to the system)


def load_rgb(path, max_pixels=DEFAULT_MAX_PIXELS, exif=False):
    """8-bit RGB PIL image of `path` and its conversion name (imageio.decode; EXIF ignored unless `exif`)."""
    return decode(path, apply_exif=exif, max_pixels=max_pixels)


def _resize(im, size):
    from PIL import Image

    if size and im.size != (size, size):  # Pillow's resize to the same size is a plain copy: skip it
        im = im.resize((size, size), Image.LANCZOS)
    return np.asarray(im)


def _check_small(path, wh, min_side):
    if min(wh) < min_side:
        raise ImageReadError("too small", f"{path}: image too small ({wh[0]}x{wh[1]}, need >= {min_side} px a side)")


def process(item, layout, size, min_side, max_pixels, exif=False, delay=0.0):
    """Decode/resize one work item -> ("ok", name, sharp, blurred, conversions) or ("skip", name, reason, message)."""
    name, paths = item
    conversions = []
    try:
        if layout == "side-by-side":
            im, conv = load_rgb(paths[0], max_pixels, exif)
            conversions.append((paths[0], conv))
            w, h = im.size
            half = w // 2  # odd width: the middle column belongs to neither half
            _check_small(paths[0], (half, h), min_side)
            if not size or (half, h) == (size, size):
                # No resize (the original's resize to the same size is a copy): the halves are views of one
                # array, the same bytes as PIL's crops with fewer copies.
                a = np.asarray(im)
                sharp, blurred = a[:, :half], a[:, w - half:]
            else:
                sharp = _resize(im.crop((0, 0, half, h)), size)
                blurred = _resize(im.crop((w - half, 0, w, h)), size)
        else:
            (left, c1), (right, c2) = load_rgb(paths[0], max_pixels, exif), load_rgb(paths[1], max_pixels, exif)
            conversions += [(paths[0], c1), (paths[1], c2)]
            _check_small(paths[0], left.size, min_side)
            _check_small(paths[1], right.size, min_side)
            if not size and left.size != right.size:
                raise ImageReadError("size mismatch", f"{paths[1]}: {right.size[0]}x{right.size[1]} differs from "
                                                      f"its sharp image {left.size[0]}x{left.size[1]} "
                                                      "(--size 0 keeps native sizes)")
            sharp, blurred = _resize(left, size), _resize(right, size)
    except ImageReadError as s:
        return ("skip", name, s.reason, str(s))
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the build
        return ("skip", name, "unreadable", f"{paths[0]}: unreadable ({type(e).__name__}: {e})")
    if delay:
        time.sleep(delay)  # testing hook: makes a build slow enough to be killed half-way
    return ("ok", name, sharp, blurred, [(p, c) for p, c in conversions if c])


class _Task:
    """process() with the build's fixed options, over (split, item) tasks (inherited by forked workers)."""

    def __init__(self, a):
        self.opts = (a.layout, a.size, a.min_side, a.max_pixels, a.exif, a.delay)

    def __call__(self, task):
        return process(task[1], *self.opts)


def _pair_bytes(item, args):
    """Bytes of one (sharp, blurred) result: --size fixes it, else the first image's header says (other sizes
    then travel through the pipe). 0 when unknown."""
    if args.size:
        return 2 * args.size * args.size * 3
    from PIL import Image

    try:
        with Image.open(item[1][0]) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - a bad first file is reported by its worker; no ring then
        return 0
    if args.exif:
        w = h = max(w, h)  # a quarter turn swaps the sides
    return 2 * ((w // 2) if args.layout == "side-by-side" else w) * h * 3


class _InProcess:
    def __init__(self, fn, tasks):
        self.fn, self.tasks = fn, tasks

    def __iter__(self):
        return map(self.fn, self.tasks)

    def close(self):
        pass


def start_results(tasks, args, workers=1, log=print):
    """An iterable of process() results over (split, item) tasks, in order; call .close() when done.

    Several workers: forked processes (data.forkpool), started here at once (before any progress-bar thread),
    that decode while this process writes; the output is the same as with one."""
    from .forkpool import ForkPool, fork_is_safe, tune_malloc, why_not_fork

    from PIL import Image

    # Pillow frees every image buffer back to the system by default, so each new image pays fresh page faults:
    # keeping a few freed blocks for reuse halved the per-image decode+crop time (1.48 -> 0.85 ms, 512x256 JPEGs).
    # Pixels are unchanged. (Inherited by the forked workers.)
    Image.core.set_blocks_max(PILLOW_BLOCKS)
    if fork_is_safe():  # a plain tool process (no TensorFlow/PyTorch allocators to disturb): reuse big buffers
        tune_malloc()
    fn = _Task(args)
    if workers > 1 and len(tasks) > 1:
        if fork_is_safe():
            Image.preinit()  # the common decoders, imported once here rather than in every worker
            return ForkPool(fn, tasks, workers, slot_bytes=_pair_bytes(tasks[0][1], args))
        log(f"--workers {workers}: fork is unsafe in this process ({why_not_fork()}); decoding in-process")
    return _InProcess(fn, tasks)
