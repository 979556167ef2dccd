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
"""
import argparse
import collections
import json
import os
import sys
import time
import zlib

import numpy as np

from ..errors import BadInputError, DeblurKerasError
from ..imageio import DEFAULT_MAX_PIXELS, ImageReadError, decode, image_names, pair_files, unpaired_message

LAYOUTS = ("side-by-side", "gopro", "pairs")
SPLITS = ("train", "test")
PILLOW_BLOCKS = 16  # freed image blocks Pillow keeps for reuse (its default 0 returns each to the system)
INPUTS_KEY = "build_inputs"  # dataset of a .partial: the input files (name, size, mtime) it was started from


# ---------------------------------------------------------------- listing the inputs

def flat_folder_hint(folder):
    """The one-line error for a pair folder given where a dataset folder (train/ + test/) is expected."""
    from ..imageio import list_images

    n = len(list_images([folder])) if os.path.isdir(folder) else 0
    found = f"{n} images at its top level" if n else "nothing usable at its top level"
    return (f"{folder}: no train/ or test/ folder inside ({found}); build-hdf5 reads a dataset folder, "
            f"DIR/train/ + DIR/test/, each a pair folder: move the pairs there (combine_pairs --out DIR/train)")


def list_split(split_dir, layout, gopro_blur="blur"):
    """Sorted work items [(name, paths)] of one split and the unpaired files [(path, missing partner)].

    paths is (file,) for side-by-side and (sharp_file, blurred_file) for the paired layouts (imageio.pair_files).
    """
    if layout == "side-by-side":
        return [(n, (os.path.join(split_dir, n),)) for n in image_names(split_dir)], []
    if layout == "pairs":
        pairs, unpaired = pair_files(os.path.join(split_dir, "blur"), os.path.join(split_dir, "sharp"))
        return [(n, (s, b)) for n, s, b in pairs], unpaired
    items, unpaired = [], []
    for seq in sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d))):
        pairs, u = pair_files(os.path.join(split_dir, seq, gopro_blur), os.path.join(split_dir, seq, "sharp"),
                              seq + "/")
        items += [(n, (s, b)) for n, s, b in pairs]
        unpaired += u
    return items, unpaired


# ---------------------------------------------------------------- decoding one item (runs in worker processes)

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


# ---------------------------------------------------------------- the build

def partial_path(out):
    return os.fspath(out) + ".partial"


def _summary_line(counter):
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


class Build:
    """One build: lists the inputs, checks --out, writes PATH.partial through Hdf5Writer, renames it at the end."""

    def __init__(self, args):
        self.args = args
        self.input = os.path.abspath(args.input)
        self.out = os.fspath(args.out)
        self.partial = partial_path(self.out)
        self.skipped = {s: collections.Counter() for s in SPLITS}
        self.converted = collections.Counter()
        self.listing = {}  # split -> (items, unpaired), or None for a missing split folder
        self.writer = None
        self.pool = None
        self.started = set()
        self.last_commit = 0.0

    def log(self, msg):
        if self.args.quiet:  # no bars to keep clear of: spare the import of tqdm (a fixed cost of ~0.1 s)
            print(msg, file=sys.stderr)
            return
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)

    def bad(self, split, reason, message):
        if self.args.strict:
            raise BadInputError(f"{message} (--strict)")
        self.skipped[split][reason] += 1
        self.log(f"skipped: {message}")

    # ------------------------------------------------------------ before anything is written
    def list_inputs(self):
        a = self.args
        if not os.path.isdir(self.input):
            raise BadInputError(f"{self.input}: input folder not found")
        if not any(os.path.isdir(os.path.join(self.input, s)) for s in SPLITS):
            raise BadInputError(flat_folder_hint(self.input))
        for split in SPLITS:
            split_dir = os.path.join(self.input, split)
            self.listing[split] = list_split(split_dir, a.layout, a.gopro_blur) if os.path.isdir(split_dir) else None

    def input_files(self):
        """Every file the listing holds (items and unpaired ones), in listing order."""
        for split in SPLITS:
            if self.listing[split] is None:
                continue
            items, unpaired = self.listing[split]
            for _, paths in items:
                yield from paths
            for path, _ in unpaired:
                yield path

    def check_output(self):
        """--out must be a new file path (or --overwrite), never a folder, never one of the inputs."""
        out = self.out
        if os.path.isdir(out):
            raise BadInputError(f"--out {out}: is an existing folder; give a file path such as "
                                f"{os.path.join(out, 'data.h5')} (nothing was built)")
        parent = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(parent):
            raise BadInputError(f"--out {out}: folder {parent} does not exist (nothing was built)")
        # The same name, or the same file under another name (a link): compared by (device, inode), which costs
        # one stat per input where realpath() cost a dozen lstat calls (0.2 s for 2,400 inputs).
        names = {os.path.abspath(t) for t in (out, self.partial)}
        files = {_file_id(t) for t in (out, self.partial)} - {None}
        for path in self.input_files():
            if os.path.abspath(path) in names or (files and _file_id(path) in files):
                raise BadInputError(f"--out {out}: would write over the input file {path}; choose another path")
        if (os.path.exists(out) or os.path.islink(out)) and not self.args.overwrite:
            raise BadInputError(f"--out {out}: exists; pass --overwrite to replace it (nothing was built)")

    def fingerprint(self):
        """JSON of the inputs (relative name, size, mtime) and missing splits: what --resume checks."""
        files = []
        for path in self.input_files():
            try:
                st = os.stat(path)
                files.append([os.path.relpath(path, self.input), st.st_size, st.st_mtime_ns])
            except OSError:
                files.append([os.path.relpath(path, self.input), -1, -1])
        missing = [s for s in SPLITS if self.listing[s] is None]
        return json.dumps({"files": files, "missing_splits": missing}, separators=(",", ":"))

    # ------------------------------------------------------------ the partial file
    def attrs(self):
        from deblurkeras import __version__

        a = self.args
        return dict(source=self.input, size=a.size, resize_filter="LANCZOS" if a.size else "none", layout=a.layout,
                    gopro_blur=a.gopro_blur if a.layout == "gopro" else "",
                    odd_width="halves are the first and last W//2 columns; the middle column is dropped",
                    exif="applied" if a.exif else "ignored (like the original)",
                    compression=a.compression or "none", tool="deblurkeras build-hdf5 (deblurkeras/data/build.py)",
                    tool_version=__version__, complete=0)

    def open_writer(self, shape):
        from .hdf5 import Hdf5Writer

        self.writer = Hdf5Writer(self.partial, shape, self.args.compression, attrs=self.attrs())
        record = np.frombuffer(zlib.compress(self.inputs_json.encode("utf-8")), np.uint8)
        self.writer.f.create_dataset(INPUTS_KEY, data=record)

    def _refuse(self, why):
        raise BadInputError(f"--resume: {self.partial} {why}; remove it or build without --resume")

    def check_resumable(self, f):
        """The partial must come from the same options and the same, unchanged, input files."""
        a = self.args
        stored = {k: (f.attrs[k].item() if hasattr(f.attrs[k], "item") else f.attrs[k])
                  for k in ("source", "size", "layout", "compression", "exif") if k in f.attrs}
        want = self.attrs()
        if stored.get("compression", "none") != want["compression"]:
            raise BadInputError(f"--resume: {self.partial} was started with --compression "
                                f"{stored.get('compression', 'none')}, not {a.compression or 'none'}; resume with "
                                "the same option, or remove it")
        for key, option in (("source", "INPUT"), ("size", "--size"), ("layout", "--layout"), ("exif", "--exif")):
            if stored.get(key) != want[key]:
                self._refuse(f"was started with {option} {stored.get(key)!r}, not {want[key]!r}")
        if INPUTS_KEY not in f:
            self._refuse("holds no record of its input files, so they cannot be checked")
        old = json.loads(zlib.decompress(f[INPUTS_KEY][()].tobytes()))
        new = json.loads(self.inputs_json)
        if old != new:
            self._refuse(f"was started from other input files ({_difference(old, new)})")

    def try_resume(self):
        """Open an existing PATH.partial for --resume; returns False when there is none to continue."""
        import h5py

        from .hdf5 import Hdf5Writer, full_key

        if not os.path.exists(self.partial):
            self.log(f"--resume: no {self.partial}; starting a new build")
            return False
        try:
            with h5py.File(self.partial, "r") as f:
                self.check_resumable(f)
                shape = f[full_key("train")].shape[1:3] if full_key("train") in f else None
        except OSError as e:
            self.log(f"--resume: {self.partial} is unreadable ({e}); starting a new build")
            return False
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

    # ------------------------------------------------------------ the build
    def plan(self):
        """Per split: (items, start index); and the task list [(split, item)] of everything still to do."""
        plan, tasks = {}, []
        for split in SPLITS:
            if self.listing[split] is None:
                continue
            items, _ = self.listing[split]
            start = self.start_index(split, items)
            plan[split] = (items, start)
            tasks += [(split, it) for it in items[start:]]
        return plan, tasks

    def build_split(self, split, plan, results):
        a = self.args
        if split not in plan:
            self.bad(split, "missing split", f"{os.path.join(self.input, split)}: missing {split}/ folder")
            return
        items, start = plan[split]
        if split not in self.started:
            for path, partner in self.listing[split][1]:
                self.bad(split, "unpaired", unpaired_message(path, partner))
        if 0 < start < len(items):
            self.log(f"resuming {split} at {items[start][0]} ({start}/{len(items)})")
        if self.writer is not None:
            self.writer.reserve(split, len(items) - start)
        with _progress(len(items), start, split, a.quiet) as bar:
            for k in range(start, len(items)):
                res = next(results)
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
        self.list_inputs()
        self.check_output()
        self.inputs_json = self.fingerprint()
        if not a.resume or not self.try_resume():
            if os.path.exists(self.partial):
                os.remove(self.partial)  # a stale partial of another run: start over
            if a.size:
                self.open_writer((a.size, a.size))
        try:
            plan, tasks = self.plan()
            # Workers fork now, before any progress bar starts a thread; they decode while this process writes.
            self.pool = start_results(tasks, a, a.workers, self.log)
            results = iter(self.pool)
            for split in SPLITS:
                self.build_split(split, plan, results)
        except BadInputError:
            self.close()
            if os.path.exists(self.partial):
                os.remove(self.partial)  # strict mode: the same file would stop a resume again
            raise
        except BaseException:
            self.close()  # Ctrl-C, a dead worker or a crash: keep PATH.partial for --resume, never touch PATH
            self.log(f"interrupted: {self.partial} kept; rerun with --resume to continue")
            raise
        return self.finish()

    def close(self):
        if self.pool is not None:
            self.pool.close()
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
        for key in ("progress",):
            if key in self.writer.f.attrs:
                del self.writer.f.attrs[key]
        if INPUTS_KEY in self.writer.f:
            del self.writer.f[INPUTS_KEY]  # resume bookkeeping only
        h, w = self.writer.shape
        self.close()
        replaced = os.path.exists(self.out) or os.path.islink(self.out)
        os.replace(self.partial, self.out)
        print(f"wrote {self.out}: {counts['train']} train + {counts['test']} test pairs of {h}x{w} (HxW)"
              + (" (replaced the existing file: --overwrite)" if replaced else ""))
        return 0


def _file_id(path):
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


class _NoBar:
    def update(self, n=1):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _progress(total, initial, desc, quiet):
    """A progress bar in records (images) per split; nothing (and no tqdm import) with --quiet."""
    if quiet:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="img")


def _difference(old, new):
    """A short description of how two input records differ, naming a file."""
    if old.get("missing_splits") != new.get("missing_splits"):
        return f"missing split folders {old.get('missing_splits')} then, {new.get('missing_splits')} now"
    before = {f[0]: tuple(f[1:]) for f in old["files"]}
    now = {f[0]: tuple(f[1:]) for f in new["files"]}
    gone, added = sorted(set(before) - set(now)), sorted(set(now) - set(before))
    changed = sorted(n for n in set(before) & set(now) if before[n] != now[n])
    parts = [f"{len(v)} {what}, e.g. {v[0]}" for what, v in (("removed", gone), ("added", added),
                                                               ("changed in size or time", changed)) if v]
    return "; ".join(parts) or "the file order changed"


def add_arguments(p):
    p.add_argument("input", help="folder holding train/ and test/")
    p.add_argument("--out", required=True, help="output HDF5 file (written as OUT.partial, renamed when complete)")
    p.add_argument("--layout", choices=LAYOUTS, default="side-by-side")
    p.add_argument("--gopro-blur", choices=("blur", "blur_gamma"), default="blur",
                   help="GoPro blurred folder: blur (linear, what SRN trained on) or blur_gamma")
    p.add_argument("--size", type=int, default=256, help="square side after LANCZOS resize; 0 keeps native size")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None)
    p.add_argument("--workers", type=int, default=1, help="decode/resize processes (output identical to 1)")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT.partial left by an interrupted build (same options, unchanged inputs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT (refused without it)")
    p.add_argument("--exif", action="store_true",
                   help="apply EXIF orientation (default: pixels as stored, like the original)")
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
    except DeblurKerasError as e:
        print(f"build_hdf5: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
