"""build-hdf5's writer: one build from listed inputs to the renamed HDF5 file (see deblurkeras.data.build).

`Build.run`: list the inputs and check --out (build_listing), continue a PATH.partial on --resume (build_resume),
decode in workers (build_decode) while this process appends each pair through data.hdf5.Hdf5Writer, commit the
resume state every 0.25 s, and rename PATH.partial onto PATH once complete. Bad files are skipped (counted and named
on one line) unless --strict; an interruption keeps PATH.partial and never touches PATH.
"""
import collections
import json
import os
import sys
import time

from ..errors import BadInputError
from ..imageio import unpaired_message
from . import build_listing as listing, build_resume as resume
from .build_decode import start_results
from .build_listing import SPLITS
from .hdf5 import empty_split_fix


def _summary_line(counter):
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


class Build:
    """One build: lists the inputs, checks --out, writes PATH.partial through Hdf5Writer, renames it at the end."""

    def __init__(self, args):
        self.args = args
        self.input = os.path.abspath(args.input)
        self.out = os.fspath(args.out)
        self.partial = resume.partial_path(self.out)
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
        resume.record_inputs(self.writer, self.inputs_json)

    def try_resume(self):
        """Open an existing PATH.partial for --resume (its counts carried on); False when there is none."""
        opened = resume.open_partial(self.partial, self.attrs(), self.args.compression, self.inputs_json, self.log)
        if opened is None:
            return False
        self.writer, state = opened
        for split in SPLITS:
            self.skipped[split].update(state.get("skipped", {}).get(split, {}))
        self.converted.update(state.get("converted", {}))
        self.started = set(state.get("next", {}))  # splits whose unpaired files were already counted
        return True

    def save_progress(self, split, next_index, done=False, every=0.0):
        """Commit the writer with the resume state; with `every` > 0 only when that many seconds passed since
        the last commit: flushing per image would cost more than decoding it; a resumed build redoes at most those
        seconds of work."""
        now = time.monotonic()
        if self.writer is None or now - self.last_commit < every:
            return
        self.last_commit = now
        resume.commit_progress(self.writer, split, next_index, done, self.skipped, self.converted)

    # ------------------------------------------------------------ the build
    def plan(self):
        """Per split: (items, start index); and the task list [(split, item)] of everything still to do."""
        plan, tasks = {}, []
        for split in SPLITS:
            if self.listing[split] is None:
                continue
            items, _ = self.listing[split]
            start = resume.start_index(self.writer, split, items, self.partial, self.input)
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
        self.listing = listing.list_inputs(self.input, a.layout, a.gopro_blur)
        listing.check_output(self.out, self.partial, self.listing, a.overwrite)
        self.inputs_json = listing.fingerprint(self.listing, self.input)
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
        resume.drop_bookkeeping(self.writer)
        h, w = self.writer.shape
        self.close()
        replaced = os.path.exists(self.out) or os.path.islink(self.out)
        os.replace(self.partial, self.out)
        print(f"wrote {self.out}: {counts['train']} train + {counts['test']} test pairs of {h}x{w} (HxW)"
              + (" (replaced the existing file: --overwrite)" if replaced else ""))
        for split in SPLITS:
            if counts[split] == 0:  # said now, not at `train`'s first validation
                print(f"note: the {split} split is empty (no pairs in {os.path.join(self.input, split)}/); "
                      f"`train` reads it {'for validation' if split == 'test' else 'to train'}: "
                      f"{empty_split_fix(split)}")
        return 0


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
