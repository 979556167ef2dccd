"""How much memory running a model on an image takes, and the tiling that keeps it inside a budget.

Estimate = model working memory + the image's own buffers:
  - working memory: `bytes_per_pixel * padded input pixels` (the slope of peak RSS against pixels, measured per model
    by experiments/calibrate_memory.py; gray models count their batch of 3 in the slope);
  - image buffers in `inference.predict_01`: the float input (12 B/px), the blended float output and its weights
    (16 B per output px), uint8 in and out (3 + 3 B).
The largest tensor of a run (`elements_per_pixel * padded pixels`, the most elements of any op output in the traced
graph) must stay under 2^31 elements: kernels that index with int32 cannot address more, so such a run is never
attempted, whatever the budget (not verified op by op here: one such tensor is 8 GB of float32).

`plan()` says whether an image runs whole or in tiles: whole when it fits `budget` bytes; otherwise the largest tile
(at most AUTO_TILE px, a multiple of the model's `multiple`) whose working memory fits both what the image buffers
leave of the budget and TILE_WORK; if even MIN_TILE does not fit, the image cannot run within the budget
(`TooLargeError`).
The default budget is half of the memory available now (MemAvailable of /proc/meminfo).
"""
import dataclasses
import math
import os
import re

from .errors import BadInputError

MAX_ELEMENTS = 2 ** 31 - 1
AUTO_TILE = 1024   # the largest automatic tile side (px of the model input)
MIN_TILE = 64      # below this the overlap would be most of the tile
TILE_WORK = 1 << 30  # automatic tiles use at most this much working memory, whatever the budget (a 12 MP photo
                     # then peaks under 3 GB with any model; larger tiles only save the overlap's recomputation)
DEFAULT_FRACTION = 0.5



class TooLargeError(BadInputError):
    """An image that cannot run within the memory budget even in the smallest tiles."""


@dataclasses.dataclass(frozen=True)
class Plan:
    tile: int          # 0: the whole image in one run
    estimate: int      # estimated peak bytes of the chosen way
    whole: int         # estimated peak bytes of the untiled run
    reason: str = ""   # why it tiles ("" when it does not)

    def describe(self, h, w):
        if not self.tile:
            return f"{h}x{w} (HxW): whole image, ~{fmt_bytes(self.estimate)}"
        return f"{h}x{w} (HxW): {self.reason}: tiling {self.tile} px (~{fmt_bytes(self.estimate)})"


def fmt_bytes(n):
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def available_bytes():
    """MemAvailable from /proc/meminfo (Linux); free physical pages elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def parse_budget(text):
    """'2G', '1.5GB', '800M', '64k', '123456' (bytes) or '50%' (of available memory) -> bytes. None -> default."""
    if text is None:
        return int(DEFAULT_FRACTION * available_bytes())
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%|[kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not m:
        raise BadInputError(f"--max-memory {text!r}: expected bytes like 2G, 800M or a percentage like 50%")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit == "%":
        return int(value / 100 * available_bytes())
    return int(value * 1024 ** "-kmgt".index(unit or "-"))


def coeffs(name):
    """(bytes of peak RSS, largest tensor's elements) per padded input pixel: the model's ModelSpec.memory."""
    from .registry import entry

    measured = entry(name).memory
    if measured is None:
        raise KeyError(f"no memory coefficients for model {name!r}; run experiments/calibrate_memory.py")
    return measured


def _padded(h, w, io):
    mh, mw = io.multiples
    return math.ceil(h / mh) * mh * math.ceil(w / mw) * mw


def image_bytes(h, w, io):
    s2 = io.scale * io.scale
    return h * w * (12 + 3) + h * w * s2 * (16 + 3)


def work_bytes(name, h, w, io):
    """Model working memory of one run on an (h, w) input (or tile)."""
    return int(coeffs(name)[0] * _padded(h, w, io))


def largest_tensor(name, h, w, io):
    return int(coeffs(name)[1] * _padded(h, w, io))


def tile_side(tile, io):
    """A tile side rounded down to the model's multiple on both axes (the lcm keeps tiles square)."""
    m = math.lcm(*io.multiples)
    return max(m, tile // m * m)


def _auto_tile(name, io, h, w, room):
    """The largest tile side (a multiple of the model's multiples, MIN_TILE..AUTO_TILE) whose working memory fits
    `room` bytes and whose largest tensor stays under 2^31 elements; None if there is none."""
    m = math.lcm(*io.multiples)
    for t in range(tile_side(AUTO_TILE, io), tile_side(MIN_TILE, io) - 1, -m):
        if work_bytes(name, min(t, h), min(t, w), io) <= room and largest_tensor(name, t, t, io) <= MAX_ELEMENTS:
            return t
    return None


def plan(name, io, h, w, budget, tile=None):
    """How to run an (h, w) image: `tile` None = automatic, 0 = whole image always, N = tiles of N px."""
    whole = image_bytes(h, w, io) + work_bytes(name, h, w, io)
    too_big = largest_tensor(name, h, w, io) > MAX_ELEMENTS
    if tile == 0 or (tile is None and whole <= budget and not too_big):
        if too_big:
            raise BadInputError(f"{h}x{w} (HxW): one run would need a tensor over 2^31 elements; use tiles (--tile)")
        return Plan(0, whole, whole)
    if tile:  # the user's tile size
        t = tile_side(tile, io)
        if largest_tensor(name, t, t, io) > MAX_ELEMENTS:
            raise BadInputError(f"--tile {tile}: a tile would need a tensor over 2^31 elements; use a smaller tile")
        return Plan(t, image_bytes(h, w, io) + work_bytes(name, min(t, h), min(t, w), io), whole, "--tile")
    reason = "a tensor over 2^31 elements" if too_big else \
        f"~{fmt_bytes(whole)} untiled > --max-memory {fmt_bytes(budget)}"
    room = min(budget - image_bytes(h, w, io), TILE_WORK)
    t = _auto_tile(name, io, h, w, room)
    if t is None:
        floor = tile_side(MIN_TILE, io)
        need = image_bytes(h, w, io) + work_bytes(name, min(floor, h), min(floor, w), io)
        raise TooLargeError(f"{h}x{w} (HxW) needs ~{fmt_bytes(need)} even in {floor}-px tiles, more than "
                            f"--max-memory {fmt_bytes(budget)}")
    return Plan(t, image_bytes(h, w, io) + work_bytes(name, min(t, h), min(t, w), io), whole, reason)
