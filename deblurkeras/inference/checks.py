"""The size and memory options deblur, eval and upscale share, and the checks that refuse bad values or an image
too large from its header, before anything is decoded or loaded."""
import re

from .. import memory
from ..errors import BadInputError, show
from ..imageio import DEFAULT_MAX_PIXELS, declared_size
from .tiles import OVERLAP


def _size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2))


def add_memory_arguments(parser):
    """--tile / --overlap / --max-memory, shared by deblur, eval and upscale."""
    g = parser.add_argument_group("size and memory")
    g.add_argument("--tile", type=int, default=None,
                   help="tile side in px (default: automatic, only for images that would exceed --max-memory or "
                        "hold a tensor over 2^31 elements; 0: never tile)")
    g.add_argument("--overlap", type=int, default=OVERLAP,
                   help=f"tile overlap in px, blended with linear ramps (default {OVERLAP}; seam error table: "
                        "deblurkeras/docs/inference.md)")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="memory budget for one image: 3G, 800M, or a percentage of the available memory "
                        f"(default {int(100 * memory.DEFAULT_FRACTION)}%%)")
    g.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images declaring more pixels, before decoding them (default {DEFAULT_MAX_PIXELS}, "
                        "Pillow's decompression-bomb limit; 0: no cap, the memory budget still applies)")


def check_tile_args(args):
    """--tile / --overlap / --max-pixels values that cannot mean anything: BadInputError before the model loads."""
    if args.tile is not None and args.tile < 0:
        raise BadInputError(f"--tile {args.tile}: expected a tile side in px (> 0), or 0 to never tile")
    if args.overlap < 0:
        raise BadInputError(f"--overlap {args.overlap}: expected >= 0 px")
    if getattr(args, "max_pixels", 0) < 0:
        raise BadInputError(f"--max-pixels {args.max_pixels}: expected >= 0 (0: no cap)")


def check_pad_to(pad_to, io, name):
    """--pad-to must be a size the model takes: positive multiples of its `multiples` (16 for SRN)."""
    if pad_to is None:
        return
    (ph, pw), (mh, mw) = pad_to, io.multiples
    if ph <= 0 or pw <= 0 or ph % mh or pw % mw:
        raise BadInputError(f"--pad-to {ph}x{pw}: {name} needs a height multiple of {mh} and a width multiple of "
                            f"{mw} (e.g. {max(mh, -(-ph // mh) * mh)}x{max(mw, -(-pw // mw) * mw)})")


def check_declared_size(path, name, io, budget, tile=None, max_pixels=DEFAULT_MAX_PIXELS, pad_to=None, shrink=1):
    """Refuse an image from the size its header declares, before decoding it: over `max_pixels`, or (its LR size
    `shrink` times smaller) not runnable within `budget` even in tiles. BadInputError naming the file."""
    w, h = declared_size(path, max_pixels)
    if pad_to is not None and tile is None:
        tile = 0
    try:
        memory.plan(name, io, max(1, h // shrink), max(1, w // shrink), budget, tile)
    except BadInputError as e:
        raise type(e)(f"{show(path)}: {e}") from None
