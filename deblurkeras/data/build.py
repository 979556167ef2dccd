"""Build the HDF5 dataset of the original dense-field DeblurGAN `build_hdf5`: streaming, parallel, resumable, atomic.

    deblurkeras build-hdf5 INPUT --out data.h5 [--layout side-by-side|gopro|pairs] [--size 256] [--workers 2]
    python data_tools/build_hdf5.py INPUT --out data.h5 ...      (the same, as a script)

Output datasets {train,test}_data_{full,blur}: uint8 (N, S, S, 3), RGB, channels-last, pairs aligned by index,
sorted by file name; plus {split}_names (source file names) and file attributes (source, size, resize_filter,
layout, counts, skipped/converted counts, tool_version). Readable unchanged by the original loader.

Input layouts (INPUT holds `train/` and `test/`; a missing one is reported and skipped):
  side-by-side (default)  <split>/*.jpg|png...: LEFT half = sharp ("full"), RIGHT half = blurred.
                          Odd widths: the halves are the first and last W//2 columns; the middle column is dropped.
  gopro                   <split>/GOPR*/{blur|blur_gamma}/NAME + <split>/GOPR*/sharp/NAME (GoPro_Large),
                          paired by file name; stored names are `GOPRxxxx/NAME`. --gopro-blur picks blur_gamma.
  pairs                   <split>/blur/NAME + <split>/sharp/NAME, paired by file name.

--size S (default 256): each image resized to S x S with Pillow LANCZOS (the successor of the original's
ANTIALIAS; aspect not kept, like the original). --size 0 keeps the native size: the first usable pair fixes
it and later pairs of another size are skipped ("size mismatch").

Decoding: deblurkeras.imageio (one set of conversions for every tool); EXIF orientation is ignored like the
original (--exif applies it). --workers N: N forked decode processes (data.forkpool) while this process writes;
identical output; they die with this process.

Output safety: --out must be a file path, not a folder, never one of the inputs; an existing OUT is replaced only
with --overwrite. All checked before anything is built.

Robustness: the file is written as PATH.partial (chunked, one image per chunk row, flushed per image) and renamed
onto PATH only when complete, so an interrupted build never touches an existing PATH; --resume continues a
PATH.partial after the last pair it holds, and refuses when the options (size, layout, compression, exif) or
the input files (names, sizes, mtimes, recorded in the partial) differ from the ones it was started with.
Bad files (empty, truncated, not an image, too small, decompression bomb, unreadable, unpaired, size mismatch)
get a one-line message, are skipped and counted in the summary;
grayscale/palette/CMYK/RGBA/16-bit images are converted to 8-bit RGB and counted. --strict makes any skip fatal.
Exit status: 0 when pairs were written; 2 when nothing usable was found or in strict mode on a bad file.

Files: build.py (this CLI), build_listing.py (inputs, fingerprint, --out checks), build_decode.py (decoding,
workers), build_resume.py (PATH.partial bookkeeping), build_writer.py (Build: the run that writes).
"""
import argparse
import sys

from ..errors import BadInputError
from ..imageio import DEFAULT_MAX_PIXELS
from .build_listing import LAYOUTS
from .build_writer import Build


def add_arguments(p):
    p.add_argument("input", help="folder holding train/ and test/")
    p.add_argument("--out", required=True, help="output HDF5 file (written as OUT.partial, renamed when complete)")
    p.add_argument("--layout", choices=LAYOUTS, default="side-by-side",
                   help="input layout (default side-by-side): side-by-side = <split>/NAME with LEFT half sharp, "
                        "RIGHT half blurred; gopro = <split>/GOPR*/blur|sharp/NAME (GoPro_Large); pairs = "
                        "<split>/blur/NAME + <split>/sharp/NAME")
    p.add_argument("--gopro-blur", choices=("blur", "blur_gamma"), default="blur",
                   help="GoPro blurred folder: blur (linear, what SRN trained on) or blur_gamma")
    p.add_argument("--size", type=int, default=256,
                   help="square side after LANCZOS resize (default 256, the original's); 0 keeps the native size")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None,
                   help="HDF5 compression of the images (default none, as the original): gzip (level 4, smaller, "
                        "slower to write and read) or lzf (fast, less compact)")
    p.add_argument("--workers", type=int, default=1, help="decode/resize processes (default 1; the output is identical for any N)")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT.partial left by an interrupted build (same options, unchanged inputs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT (refused without it)")
    p.add_argument("--exif", action="store_true",
                   help="apply EXIF orientation (default: pixels as stored, like the original)")
    p.add_argument("--strict", action="store_true", help="any bad input file is fatal")
    p.add_argument("--min-side", type=int, default=16, help="skip images whose half/side is smaller (px, default 16)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="skip images with more pixels (decompression bombs); default Pillow's limit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)  # testing: seconds per image


def run(args):
    if args.size < 0:
        raise BadInputError(f"--size {args.size}: must be >= 0")
    return Build(args).run()


def main(argv=None):
    from .script import script_main
    return script_main("build_hdf5", sys.modules[__name__], argv, prog="build_hdf5.py")


if __name__ == "__main__":
    sys.exit(main())
