"""Tiles for images over the memory budget: a grid of overlapping tiles, each run through the padded forward, blended
with linear ramps; an image that fits one tile takes exactly the untiled path."""
import sys

import numpy as np

from ..errors import DeblurKerasError
from .forward import run_padded


OVERLAP = 32  # default tile overlap (px); experiments/seam_error.py found no overlap <= 128 at 50 dB (random weights)


def _starts(length, tile, overlap):
    """Tile origins along one axis: stride tile-overlap, the last tile flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    return sorted(set(starts))


def _ramp(n, start, length, total, overlap):
    """Blend weights of a tile along one axis: linear ramps over `overlap` on sides shared with another tile."""
    w = np.ones(n, np.float32)
    r = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
    if overlap:
        if start > 0:
            w[:overlap] = np.minimum(w[:overlap], r)
        if start + length < total:
            w[n - overlap:] = np.minimum(w[n - overlap:], r[::-1])
    return w


def tile_grid(h, w, tile, overlap):
    """[(y0, x0)] of the tiles covering an (h, w) image."""
    return [(y0, x0) for y0 in _starts(h, tile, overlap) for x0 in _starts(w, tile, overlap)]


def _run_tiled(model, io, x, tile, overlap, progress=None):
    from ..memory import tile_side
    h, w, _ = x.shape
    tile = tile_side(tile, io)
    if overlap < 0 or overlap >= tile:
        raise DeblurKerasError(f"--overlap must be in [0, tile) (tile {tile} after rounding to the model's multiple "
                               f"{'x'.join(map(str, io.multiples))})")
    if h <= tile and w <= tile:
        return run_padded(model, io, x)  # exactly the untiled computation
    s = io.scale
    acc = np.zeros((h * s, w * s, 3), np.float32)
    norm = np.zeros((h * s, w * s, 1), np.float32)
    grid = tile_grid(h, w, tile, overlap)
    bar = _tile_bar(len(grid), progress)
    for y0, x0 in grid:
        th, tw = min(tile, h - y0), min(tile, w - x0)
        out = run_padded(model, io, x[y0:y0 + th, x0:x0 + tw])
        wy = _ramp(th * s, y0, th, h, overlap * s)
        wx = _ramp(tw * s, x0, tw, w, overlap * s)
        weight = (wy[:, None] * wx[None, :])[..., None]
        acc[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += out * weight
        norm[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += weight
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    acc /= norm
    return acc


def _tile_bar(n, progress):
    """A progress bar over the tiles of one image (below the images bar); `progress` is its description."""
    if not progress or n < 2:
        return None
    from tqdm import tqdm
    return tqdm(total=n, unit="tile", desc=progress if isinstance(progress, str) else "tiles", leave=False,
                file=sys.stderr, position=1, dynamic_ncols=True)
