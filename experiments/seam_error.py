"""Seam error of tiled inference: PSNR of the tiled output against the untiled one, per tile overlap.

    python -m experiments.seam_error [--models srn-color] [--weights W.weights.h5] [--tile 512]
                                     [--overlaps 0,8,16,32,48,64,96,128] [--sizes 1024x768,1280x720]

The image: skimage's astronaut resized (PIL bicubic) to each size, landscape (W x H). Both runs use
`inference.deblur_array` (uint8 outputs, as written to disk); PSNR with data range 255 over the whole image.
The default overlap (inference.OVERLAP) is the smallest with PSNR >= 50 dB at every size for every model measured.
Weights: `--weights`, else the model's random initialisation (seed 0), which says so in the output.
"""
import argparse
import time

import numpy as np


def photo(w, h):
    from PIL import Image
    from skimage import data
    return np.asarray(Image.fromarray(np.asarray(data.astronaut())).resize((w, h), Image.BICUBIC))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="srn-color")
    p.add_argument("--weights", default=None, help="weights for the (single) model; default random init")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlaps", default="0,8,16,32,48,64,96,128")
    p.add_argument("--sizes", default="1024x768,1280x720")
    args = p.parse_args(argv)
    import keras

    from deblurkeras.families import build_model, model_io
    from deblurkeras.inference import deblur_array, load_model
    from deblurkeras.metrics import psnr

    overlaps = [int(o) for o in args.overlaps.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"tile {args.tile}; PSNR (dB) of tiled vs untiled uint8 output, per overlap (px)")
    print(f"{'model':15}{'weights':10}{'size':>10}" + "".join(f"{o:>8}" for o in overlaps))
    for name in args.models.split(","):
        keras.utils.set_random_seed(0)
        model = load_model(name, args.weights) if args.weights else build_model(name)
        io = model_io(name)
        for w, h in sizes:
            img = photo(w, h)
            t0 = time.perf_counter()
            whole = deblur_array(model, io, img, tile=0)
            cells = []
            for o in overlaps:
                tiled = deblur_array(model, io, img, tile=args.tile, overlap=o)
                cells.append(psnr(tiled, whole))
            label = "given" if args.weights else "random"
            print(f"{name:15}{label:10}{f'{w}x{h}':>10}" + "".join(f"{c:8.1f}" for c in cells)
                  + f"   ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
