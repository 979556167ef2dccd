"""Write side-by-side images (LEFT sharp | RIGHT blurred) from two folders of matching file names.

The reverse of `build_hdf5 --layout pairs`: its output is the input layout of the original build_hdf5.

    python data_tools/combine_pairs.py --blur DIR --sharp DIR --out DIR [--ext jpg|png] [--quality 95]
    (deblurkeras.data.combine; JPEG written by imageio.save_image: 4:4:4 chroma)

The output keeps the input's format unless --ext says otherwise: a PNG (or BMP, TIFF, PPM) pair stays lossless, a
JPEG pair stays JPEG (--quality); formats Pillow would re-encode lossily or with a palette (WebP, GIF) become PNG.

Pairs are matched by file name; unpaired files and pairs whose two images differ in size are reported on one
line each and skipped (the summary counts them). Each output is written atomically. Exit status 2 when no pair
was written.
"""
import collections
import os
import sys

import numpy as np

from ..errors import BadInputError
from ..imageio import KEPT_EXTENSIONS, ImageReadError, decode, pair_files, save_image, unpaired_message




def output_ext(name, ext=None):
    """The extension (without the dot) of a pair's output: `ext`, else the input's own when kept, else png."""
    if ext:
        return ext
    own = os.path.splitext(name)[1].lower()
    return own[1:] if own in KEPT_EXTENSIONS else "png"  # lossless or JPEG as it came; others as PNG


def combine(blur_dir, sharp_dir, out_dir, ext=None, quality=95, log=print):
    """Write out_dir/<stem>.<ext> for every name present in both folders -> (written, Counter of skip reasons).
    `ext` None keeps each input's format (`output_ext`)."""
    for d in (blur_dir, sharp_dir):
        if not os.path.isdir(d):
            raise BadInputError(f"{d}: folder not found")
    pairs, unpaired = pair_files(blur_dir, sharp_dir)
    skipped = collections.Counter()
    for path, partner in sorted(unpaired):
        log(f"skipped: {unpaired_message(path, partner)}")
        skipped["unpaired"] += 1
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for name, sharp_path, blur_path in pairs:
        try:
            s, _ = decode(sharp_path)
            b, _ = decode(blur_path)
            if s.size != b.size:
                raise ImageReadError("size mismatch", f"{blur_path}: {b.size} differs from sharp {s.size}")
        except ImageReadError as e:
            log(f"skipped: {e}")
            skipped[e.reason] += 1
            continue
        target = os.path.join(out_dir, os.path.splitext(name)[0] + "." + output_ext(name, ext))
        save_image(target, np.concatenate([np.asarray(s), np.asarray(b)], axis=1), quality=quality)
        written += 1
    return written, skipped


def add_arguments(p):
    p.add_argument("--blur", required=True, help="folder of blurred images")
    p.add_argument("--sharp", required=True, help="folder of sharp images (same file names)")
    p.add_argument("--out", required=True, help="output folder of side-by-side images")
    p.add_argument("--ext", choices=("jpg", "png"), default=None,
                   help="output format (default: the input's: PNG stays PNG, JPEG stays JPEG; WebP and GIF -> PNG)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")


def run(args):
    written, skipped = combine(args.blur, args.sharp, args.out, args.ext, args.quality,
                               log=lambda m: print(m, file=sys.stderr))
    print(f"wrote {written} side-by-side images to {args.out}; skipped {sum(skipped.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(skipped.items())) or 'none'})")
    if not written:
        raise BadInputError(f"{args.blur}, {args.sharp}: no pairs written")
    return 0


def main(argv=None):
    from .script import script_main
    return script_main("combine_pairs", sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
