"""Build the HDF5 dataset of the original dense-field DeblurGAN `build_hdf5`: streaming, parallel, resumable, atomic.

    python data_tools/build_hdf5.py INPUT --out data.h5 [--layout side-by-side|gopro|pairs] [--size 256]
    deblurkeras build-hdf5 INPUT --out data.h5 --workers 2 --compression gzip

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

Robustness: the file is written as PATH.partial (chunked, one image per chunk row, flushed per image) and renamed
onto PATH only when complete, so an interrupted build never touches an existing PATH; --resume continues a
PATH.partial after the last pair it holds. Bad files (empty, truncated, not an image, too small, decompression
bomb, unreadable, unpaired, size mismatch) get a one-line message, are skipped and counted in the summary;
grayscale/palette/CMYK/RGBA/16-bit images are converted to 8-bit RGB and counted. --strict makes any skip fatal.
Exit status: 0 when pairs were written; 2 when nothing usable was found or in strict mode on a bad file.
"""
import argparse
import collections
import concurrent.futures as cf
import json
import multiprocessing
import os
import signal
import sys
import time
import warnings

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deblurkeras.errors import BadInputError  # noqa: E402

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".gif")
LAYOUTS = ("side-by-side", "gopro", "pairs")
SPLITS = ("train", "test")
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (MAX_IMAGE_PIXELS)


class Skip(Exception):
    """A bad input file: `reason` is the summary key, the message names the file."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


# ---------------------------------------------------------------- listing the inputs

def _images(folder):
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS) and not f.startswith("."))


def _match(blur_dir, sharp_dir, prefix=""):
    """Pair two folders by file name -> ([(name, (sharp, blur))], [unpaired messages])."""
    blur = set(_images(blur_dir)) if os.path.isdir(blur_dir) else set()
    sharp = set(_images(sharp_dir)) if os.path.isdir(sharp_dir) else set()
    items = [(prefix + n, (os.path.join(sharp_dir, n), os.path.join(blur_dir, n))) for n in sorted(blur & sharp)]
    unpaired = [f"{os.path.join(blur_dir, n)}: unpaired (no {os.path.join(sharp_dir, n)})" for n in sorted(blur - sharp)]
    unpaired += [f"{os.path.join(sharp_dir, n)}: unpaired (no {os.path.join(blur_dir, n)})" for n in sorted(sharp - blur)]
    return items, unpaired


def list_split(split_dir, layout, gopro_blur="blur"):
    """Sorted work items [(name, paths)] of one split and the messages of unpaired files.

    paths is (file,) for side-by-side and (sharp_file, blurred_file) for the paired layouts.
    """
    if layout == "side-by-side":
        return [(n, (os.path.join(split_dir, n),)) for n in _images(split_dir)], []
    if layout == "pairs":
        return _match(os.path.join(split_dir, "blur"), os.path.join(split_dir, "sharp"))
    items, unpaired = [], []
    for seq in sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d))):
        i, u = _match(os.path.join(split_dir, seq, gopro_blur), os.path.join(split_dir, seq, "sharp"), seq + "/")
        items += i
        unpaired += u
    return items, unpaired


# ---------------------------------------------------------------- decoding one item (runs in worker processes)

_CONVERSIONS = {"L": "grayscale", "LA": "grayscale", "1": "grayscale", "P": "palette", "PA": "palette",
                "CMYK": "cmyk", "RGBA": "rgba", "RGBX": "rgba", "YCbCr": "ycbcr", "I;16": "16-bit",
                "I;16L": "16-bit", "I;16B": "16-bit", "I;16N": "16-bit", "I": "16-bit"}


def load_rgb(path, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode `path` to an 8-bit RGB PIL image -> (image, conversion name or None). Raises Skip."""
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            raise Skip("empty file", f"{path}: zero-byte file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Skip:
        raise
    except UnidentifiedImageError:
        raise Skip("not an image", f"{path}: not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Skip("decompression bomb", f"{path}: decompression-bomb sized image ({e})") from None
    except OSError as e:
        raise Skip("unreadable", f"{path}: unreadable ({e.strerror or e})") from None
    try:
        w, h = im.size
        if w * h > max_pixels:
            raise Skip("decompression bomb", f"{path}: decompression-bomb sized image ({w}x{h} > {max_pixels} pixels)")
        try:
            im.load()
        except OSError as e:
            raise Skip("truncated", f"{path}: truncated or corrupt image data ({e})") from None
        except Exception as e:  # noqa: BLE001 - decoders raise all kinds on corrupt data
            raise Skip("truncated", f"{path}: corrupt image data ({type(e).__name__}: {e})") from None
        mode = im.mode
        if mode == "RGB":
            return im, None
        if mode not in _CONVERSIONS:
            raise Skip("not an image", f"{path}: unsupported pixel mode {mode}")
        if _CONVERSIONS[mode] == "16-bit":
            a = np.asarray(im, dtype=np.float64)
            a = a / 257.0 if a.max() > 255 else a  # 16-bit range -> 8 bits (rounded)
            im8 = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
            return im8.convert("RGB"), "16-bit"
        if mode in ("P", "PA"):
            return im.convert("RGBA").convert("RGB"), "palette"
        return im.convert("RGB"), _CONVERSIONS[mode]
    finally:
        # The pixels are in memory after load(); only the file handle goes (no copy of the image).
        if getattr(im, "fp", None) is not None:
            im.fp.close()


def _resize(im, size):
    from PIL import Image

    if size and im.size != (size, size):  # Pillow's resize to the same size is a plain copy: skip it
        im = im.resize((size, size), Image.LANCZOS)
    return np.asarray(im)


def _check_small(path, im, min_side):
    if min(im.size) < min_side:
        raise Skip("too small", f"{path}: image too small ({im.size[0]}x{im.size[1]}, need >= {min_side} px a side)")


def process(item, layout, size, min_side, max_pixels, delay=0.0):
    """Decode/resize one work item -> ("ok", name, sharp, blurred, conversions) or ("skip", name, reason, message)."""
    name, paths = item
    conversions = []
    try:
        if layout == "side-by-side":
            im, conv = load_rgb(paths[0], max_pixels)
            conversions.append((paths[0], conv))
            w, h = im.size
            half = w // 2  # odd width: the middle column belongs to neither half
            left, right = im.crop((0, 0, half, h)), im.crop((w - half, 0, w, h))
            _check_small(paths[0], left, min_side)
        else:
            (left, c1), (right, c2) = load_rgb(paths[0], max_pixels), load_rgb(paths[1], max_pixels)
            conversions += [(paths[0], c1), (paths[1], c2)]
            _check_small(paths[0], left, min_side)
            _check_small(paths[1], right, min_side)
            if not size and left.size != right.size:
                raise Skip("size mismatch", f"{paths[1]}: {right.size[0]}x{right.size[1]} differs from its sharp "
                                            f"image {left.size[0]}x{left.size[1]} (--size 0 keeps native sizes)")
        sharp, blurred = _resize(left, size), _resize(right, size)
    except Skip as s:
        return ("skip", name, s.reason, str(s))
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the build
        return ("skip", name, "unreadable", f"{paths[0]}: unreadable ({type(e).__name__}: {e})")
    if delay:
        time.sleep(delay)  # testing hook: makes a build slow enough to be killed half-way
    return ("ok", name, sharp, blurred, [(p, c) for p, c in conversions if c])


def _ignore_sigint():
    # Ctrl-C reaches the whole process group: the main process handles it (keeps PATH.partial), workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_one(args):
    return process(*args)


def make_pool(workers):
    """Worker processes for decode/resize (forkserver: no fork of a possibly multi-threaded parent)."""
    ctx = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
    return cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_sigint)


def results(items, layout, size, min_side, max_pixels, pool=None, workers=1, delay=0.0):
    """process() over items, in order. With a pool, a bounded window of 4 tasks per worker is in flight, so
    memory stays flat and the output is the same as with one worker."""
    tasks = ((it, layout, size, min_side, max_pixels, delay) for it in items)
    if pool is None:
        yield from map(_run_one, tasks)
        return
    window = collections.deque()
    try:
        for task in tasks:
            window.append(pool.submit(_run_one, task))
            if len(window) >= 4 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for fut in window:
            fut.cancel()


# ---------------------------------------------------------------- the build

def partial_path(out):
    return os.fspath(out) + ".partial"


def _summary_line(counter):
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


class Build:
    """One build: lists the inputs, writes PATH.partial through Hdf5Writer, renames it at the end."""

    def __init__(self, args):
        self.args = args
        self.input = os.path.abspath(args.input)
        self.out = os.fspath(args.out)
        self.partial = partial_path(self.out)
        self.skipped = {s: collections.Counter() for s in SPLITS}
        self.converted = collections.Counter()
        self.writer = None
        self.pool = None
        self.started = set()
        self.last_commit = 0.0

    def log(self, msg):
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)

    def bad(self, split, reason, message):
        if self.args.strict:
            raise BadInputError(f"{message} (--strict)")
        self.skipped[split][reason] += 1
        self.log(f"skipped: {message}")

    def attrs(self):
        from deblurkeras import __version__

        a = self.args
        return dict(source=self.input, size=a.size, resize_filter="LANCZOS" if a.size else "none", layout=a.layout,
                    gopro_blur=a.gopro_blur if a.layout == "gopro" else "",
                    odd_width="halves are the first and last W//2 columns; the middle column is dropped",
                    compression=a.compression or "none", tool="deblurkeras build-hdf5 (data_tools/build_hdf5.py)",
                    tool_version=__version__, complete=0)

    def open_writer(self, shape):
        from deblurkeras.data.hdf5 import Hdf5Writer

        self.writer = Hdf5Writer(self.partial, shape, self.args.compression, attrs=self.attrs())

    def try_resume(self):
        """Open an existing PATH.partial for --resume; returns False when there is none to continue."""
        import h5py

        from deblurkeras.data.hdf5 import Hdf5Writer, full_key

        if not os.path.exists(self.partial):
            self.log(f"--resume: no {self.partial}; starting a new build")
            return False
        try:
            with h5py.File(self.partial, "r") as f:
                stored = {k: f.attrs[k].item() if hasattr(f.attrs[k], "item") else f.attrs[k]
                          for k in ("source", "size", "layout") if k in f.attrs}
                shape = f[full_key("train")].shape[1:3] if full_key("train") in f else None
        except OSError as e:
            self.log(f"--resume: {self.partial} is unreadable ({e}); starting a new build")
            return False
        want = {"source": self.input, "size": self.args.size, "layout": self.args.layout}
        if stored != want:
            raise BadInputError(f"{self.partial}: was started with {stored}, not {want}; remove it or drop --resume")
        self.writer = Hdf5Writer(self.partial, shape, self.args.compression, mode="a")
        state = json.loads(self.writer.f.attrs.get("progress", "{}"))
        for split in SPLITS:
            self.skipped[split].update(state.get("skipped", {}).get(split, {}))
        self.converted.update(state.get("converted", {}))
        self.started = set(state.get("next", {}))  # splits whose unpaired files were already counted
        return True

    def save_progress(self, split, next_index, done=False, every=0.0):
        """Commit the writer with the resume state (next source index per split, skip counts).

        With `every` > 0 only when that many seconds passed since the last commit: flushing per image would
        cost more than decoding it; a resumed build redoes at most those seconds of work."""
        now = time.monotonic()
        if self.writer is None or now - self.last_commit < every:
            return
        self.last_commit = now
        st = json.loads(self.writer.f.attrs.get("progress", "{}"))
        st.setdefault("next", {})[split] = next_index
        st.setdefault("done", {})[split] = done
        st["skipped"] = {s: dict(c) for s, c in self.skipped.items()}
        st["converted"] = dict(self.converted)
        self.writer.commit(progress=json.dumps(st))

    def start_index(self, split, items):
        """Where a resumed split continues: after its last stored pair (and after skips recorded since)."""
        if self.writer is None:
            return 0
        st = json.loads(self.writer.f.attrs.get("progress", "{}"))
        if st.get("done", {}).get(split):
            return len(items)
        start = int(st.get("next", {}).get(split, 0))
        names = self.writer.names(split)
        if names:
            index = {n: i for i, (n, _) in enumerate(items)}
            if names[-1] not in index:
                raise BadInputError(f"{self.partial}: holds {names[-1]!r}, which is not in {self.input}/{split}; "
                                    "remove it or drop --resume")
            start = max(start, index[names[-1]] + 1)
        return start

    def build_split(self, split):
        from tqdm import tqdm

        a = self.args
        split_dir = os.path.join(self.input, split)
        if not os.path.isdir(split_dir):
            self.bad(split, "missing split", f"{split_dir}: missing {split}/ folder")
            return
        items, unpaired = list_split(split_dir, a.layout, a.gopro_blur)
        start = self.start_index(split, items)
        if split not in self.started:
            for msg in unpaired:
                self.bad(split, "unpaired", msg)
        if 0 < start < len(items):
            self.log(f"resuming {split} at {items[start][0]} ({start}/{len(items)})")
        if self.writer is not None:
            self.writer.reserve(split, len(items) - start)
        bar = tqdm(total=len(items), initial=start, desc=split, unit="img", disable=a.quiet)
        with bar:
            for k, res in enumerate(results(items[start:], a.layout, a.size, a.min_side, a.max_pixels,
                                            self.pool, a.workers, a.delay), start):
                if res[0] == "skip":
                    self.bad(split, res[2], res[3])
                else:
                    self.add(split, *res[1:])
                self.save_progress(split, k + 1, every=0.25)
                bar.update()
        self.save_progress(split, len(items), done=True)

    def add(self, split, name, sharp, blurred, conversions):
        if self.writer is None:
            self.open_writer(sharp.shape[:2])
        if sharp.shape[:2] != self.writer.shape or blurred.shape != sharp.shape:
            return self.bad(split, "size mismatch", f"{name}: {sharp.shape[1]}x{sharp.shape[0]} pair differs from "
                                                    f"{self.writer.shape[1]}x{self.writer.shape[0]} (--size 0)")
        for path, conv in conversions:
            self.converted[conv] += 1
            self.log(f"converted: {path}: {conv} -> 8-bit RGB")
        self.writer.append(split, sharp, blurred, name)

    def run(self):
        a = self.args
        if not os.path.isdir(self.input):
            raise BadInputError(f"{self.input}: input folder not found")
        if not a.resume or not self.try_resume():
            if os.path.exists(self.partial):
                os.remove(self.partial)  # a stale partial of another run: start over
            if a.size:
                self.open_writer((a.size, a.size))
        try:
            self.pool = make_pool(a.workers) if a.workers > 1 else None
            for split in SPLITS:
                self.build_split(split)
        except BadInputError:
            self.close()
            if os.path.exists(self.partial):
                os.remove(self.partial)  # strict mode: the same file would stop a resume again
            raise
        except BaseException:
            self.close()  # Ctrl-C or a crash: keep PATH.partial for --resume, never touch PATH
            self.log(f"interrupted: {self.partial} kept; rerun with --resume to continue")
            raise
        return self.finish()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        if self.writer is not None:
            self.writer.close()

    def finish(self):
        counts = {s: (self.writer.n(s) if self.writer else 0) for s in SPLITS}
        for split in SPLITS:
            print(f"{split}: {counts[split]} pairs written, {sum(self.skipped[split].values())} skipped "
                  f"({_summary_line(self.skipped[split])})")
        print(f"converted to 8-bit RGB: {_summary_line(self.converted)}")
        if sum(counts.values()) == 0:
            self.close()
            if os.path.exists(self.partial):
                os.remove(self.partial)
            raise BadInputError(f"{self.input}: no usable image pairs found; nothing written")
        self.writer.set_attrs(n_train=counts["train"], n_test=counts["test"], complete=1,
                              skipped=json.dumps({s: dict(c) for s, c in self.skipped.items()}),
                              converted=json.dumps(dict(self.converted)))
        if "progress" in self.writer.f.attrs:
            del self.writer.f.attrs["progress"]
        h, w = self.writer.shape
        self.close()
        os.replace(self.partial, self.out)
        print(f"wrote {self.out}: {counts['train']} train + {counts['test']} test pairs of {w}x{h}")
        return 0


def add_arguments(p):
    p.add_argument("input", help="folder holding train/ and test/")
    p.add_argument("--out", required=True, help="output HDF5 file (written as OUT.partial, renamed when complete)")
    p.add_argument("--layout", choices=LAYOUTS, default="side-by-side")
    p.add_argument("--gopro-blur", choices=("blur", "blur_gamma"), default="blur",
                   help="GoPro blurred folder: blur (linear, what SRN trained on) or blur_gamma")
    p.add_argument("--size", type=int, default=256, help="square side after LANCZOS resize; 0 keeps native size")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None)
    p.add_argument("--workers", type=int, default=1, help="decode/resize processes (output identical to 1)")
    p.add_argument("--resume", action="store_true", help="continue OUT.partial left by an interrupted build")
    p.add_argument("--strict", action="store_true", help="any bad input file is fatal")
    p.add_argument("--min-side", type=int, default=16, help="skip images whose half/side is smaller (px)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="skip images with more pixels (decompression bombs); default Pillow's limit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)  # testing: seconds per image


def run(args):
    if args.size < 0:
        raise BadInputError(f"--size {args.size}: must be >= 0")
    return Build(args).run()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="build_hdf5.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BadInputError as e:
        print(f"build_hdf5: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
