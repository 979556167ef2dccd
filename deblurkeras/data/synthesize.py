"""Make blurred/sharp training pairs from sharp photos with random Boracchi-Foi camera-shake kernels.

Each pair: a random square crop of a photo (side 50-100% of the photo's short side, random horizontal flip),
resized to `size` x `size` with Pillow LANCZOS = the sharp image; the same crop convolved with a random motion
kernel (deblurkeras.data.blur_kernels) = the blurred image. Pair j of a split is a pure function of
(seed, split, j), so output is reproducible and independent of the order of generation.

Sources: default = the photos bundled with scikit-image (offline); `chelsea` and `stereo_motorcycle` are held
out for the test split so test pairs never show a photo seen in training. A folder of photos: every 5th file
(sorted) goes to test (all files serve both splits when there are fewer than 2).

Outputs: `synthesize_hdf5` writes the build_hdf5 layout directly (sharp = "full", blurred = "blur");
`synthesize_folder` writes side-by-side JPEGs (left sharp | right blurred) in train/ and test/.

    python data_tools/synthesize_blur.py --out synth.h5 --n-train 200 --n-test 20 --size 128
    python data_tools/synthesize_blur.py --out-dir synth/ --sources my_photos/ --n-train 100
"""
import os
import sys

import numpy as np

from ..errors import BadInputError
from ..imageio import IMAGE_EXTENSIONS, image_names, load_image, save_image
from .blur_kernels import EXPOSURES, blur_image, random_kernel

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
TEST_PHOTOS = ("chelsea", "stereo_motorcycle")


def skimage_photos(names):
    """[(name, uint8 RGB array)] of scikit-image's bundled photos."""
    import skimage.data

    out = []
    for name in names:
        img = getattr(skimage.data, name)()
        out.append((name, img[0] if isinstance(img, tuple) else img))
    return out


def _load_photo(path):
    return load_image(path, apply_exif=False)  # pixels as stored, like the dataset builder


def resolve_sources(sources):
    """-> (train_photos, test_photos), each a list of (name, uint8 RGB array)."""
    if sources is None:
        return skimage_photos(TRAIN_PHOTOS), skimage_photos(TEST_PHOTOS)
    if isinstance(sources, (str, os.PathLike)):
        folder = os.fspath(sources)
        if not os.path.isdir(folder):
            raise BadInputError(f"{folder}: source folder not found")
        files = image_names(folder)
        if not files:
            raise BadInputError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        photos = [(os.path.splitext(f)[0], _load_photo(os.path.join(folder, f))) for f in files]
    else:  # a list of (name, array) or arrays
        photos = [p if isinstance(p, tuple) else (f"photo{i}", np.asarray(p)) for i, p in enumerate(sources)]
    photos = [(n, _as_rgb(a)) for n, a in photos]
    if len(photos) < 2:
        return photos, photos
    return ([p for i, p in enumerate(photos) if i % 5 != 4], [p for i, p in enumerate(photos) if i % 5 == 4])


def _as_rgb(a):
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float64) * (255.0 if a.max() <= 1 else 1.0), 0, 255).round().astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3]


def make_pair(photos, j, size, seed, split, max_len=None, exposures=EXPOSURES, kernel=None):
    """(sharp, blurred, name) number j of a split: a pure function of its arguments (`kernel`: a fixed one)."""
    from PIL import Image

    rng = np.random.default_rng([seed, 0 if split == "train" else 1, j])
    name, photo = photos[j % len(photos)]
    h, w = photo.shape[:2]
    m = min(h, w)
    side = int(rng.integers(max(1, m // 2), m + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(photo[y:y + side, x:x + side]).resize((size, size), Image.LANCZOS)
    sharp = np.asarray(crop)
    if rng.random() < 0.5:
        sharp = sharp[:, ::-1]
    max_len = 60.0 * size / 256 if max_len is None else float(max_len)
    drawn = random_kernel(rng, canvas=int(np.ceil(max_len)) + 4, max_len=max_len, exposures=exposures)
    kernel = drawn if kernel is None else kernel  # drawn either way, so the crops do not depend on the bank
    blurred = blur_image(sharp, kernel)
    return np.ascontiguousarray(sharp), blurred, f"{name}_{j:05d}"


def kernel_bank(n_kernels, size, seed, max_len=None, exposures=EXPOSURES):
    """`n_kernels` random-trajectory kernels shared by both splits (pair j uses kernel j % n_kernels)."""
    max_len = 60.0 * size / 256 if max_len is None else float(max_len)
    return [random_kernel(np.random.default_rng([seed, 2, i]), canvas=int(np.ceil(max_len)) + 4, max_len=max_len,
                          exposures=exposures) for i in range(int(n_kernels))]


def _pairs(sources, n_train, n_test, size, seed, max_len, exposures, n_kernels=None):
    """Every pair gets its own random kernel, or with `n_kernels` one of a bank shared by train and test: a much
    easier, partly non-blind problem (a named option: the demo uses it to show a measurable gain in minutes)."""
    train, test = resolve_sources(sources)
    bank = kernel_bank(n_kernels, size, seed, max_len, exposures) if n_kernels else None
    for split, photos, n in (("train", train, n_train), ("test", test, n_test)):
        for j in range(n):
            kernel = bank[j % len(bank)] if bank else None
            yield (split,) + make_pair(photos, j, size, seed, split, max_len, exposures, kernel)


def _progress(total, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pair", disable=None)


def synthesize_hdf5(out_path, sources=None, n_train=200, n_test=20, size=256, seed=0, max_len=None,
                    exposures=EXPOSURES, compression=None, n_kernels=None):
    """Write `n_train` + `n_test` synthetic pairs of `size`x`size` to `out_path` in the build_hdf5 layout."""
    from .. import __version__
    from ..utils import atomic_path
    from .hdf5 import Hdf5Writer

    out_path = os.fspath(out_path)
    attrs = dict(source="scikit-image bundled photos" if sources is None else str(sources), size=size,
                 resize_filter="LANCZOS", layout="synthetic", blur="Boracchi-Foi random trajectories",
                 seed=seed, max_len=60.0 * size / 256 if max_len is None else float(max_len),
                 exposures=np.asarray(exposures, np.float64), tool="deblurkeras.data.synthesize",
                 n_kernels=int(n_kernels or 0), tool_version=__version__, complete=0)
    with atomic_path(out_path) as tmp, Hdf5Writer(tmp, (size, size), compression, attrs=attrs) as w:
        with _progress(n_train + n_test, "synthesize") as bar:
            for split, sharp, blurred, name in _pairs(sources, n_train, n_test, size, seed, max_len, exposures,
                                                      n_kernels):
                w.append(split, sharp, blurred, name)
                bar.update()
        w.set_attrs(n_train=w.n("train"), n_test=w.n("test"), complete=1)
        w.close()
    return out_path


def synthesize_folder(out_dir, sources=None, n_train=200, n_test=20, size=256, seed=0, max_len=None,
                      exposures=EXPOSURES, quality=95, n_kernels=None):
    """Write side-by-side JPEGs (left sharp | right blurred) to out_dir/train and out_dir/test."""
    for split in ("train", "test"):
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    with _progress(n_train + n_test, "synthesize") as bar:
        for split, sharp, blurred, name in _pairs(sources, n_train, n_test, size, seed, max_len, exposures,
                                                  n_kernels):
            save_image(os.path.join(out_dir, split, name + ".jpg"), np.concatenate([sharp, blurred], axis=1),
                       quality=quality)
            bar.update()
    return out_dir


def add_arguments(p):
    p.add_argument("--out", help="write an HDF5 file (build_hdf5 layout)")
    p.add_argument("--out-dir", help="write side-by-side JPEGs to OUT_DIR/train and OUT_DIR/test")
    p.add_argument("--sources", default=None, help="folder of sharp photos (default: scikit-image's bundled photos)")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-test", type=int, default=20)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-len", type=float, default=None, help="trajectory length in px (default 60*size/256)")
    p.add_argument("--exposures", type=float, nargs="+", default=list(EXPOSURES),
                   help="exposure fractions drawn per pair (default 0.01 0.1 0.5 1)")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None)
    p.add_argument("--n-kernels", type=int, default=None,
                   help="draw the kernels from a bank of N shared by train and test (default: a new one per pair)")


def run(args):
    if not args.out and not args.out_dir:
        raise BadInputError("give --out FILE.h5 and/or --out-dir DIR")
    kw = dict(sources=args.sources, n_train=args.n_train, n_test=args.n_test, size=args.size, seed=args.seed,
              max_len=args.max_len, exposures=tuple(args.exposures), n_kernels=args.n_kernels)
    if args.out:
        synthesize_hdf5(args.out, compression=args.compression, **kw)
        print(f"wrote {args.out}: {args.n_train} train + {args.n_test} test pairs of {args.size}x{args.size}")
    if args.out_dir:
        synthesize_folder(args.out_dir, **kw)
        print(f"wrote {args.out_dir}/train and /test: side-by-side JPEGs")
    return 0


def main(argv=None):
    from .script import script_main
    return script_main("synthesize_blur", sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
