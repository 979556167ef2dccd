"""What the page does, without the page: the model list, the loaded models, one photo through `deblur`'s own path.

Nothing here imports Gradio, so it is tested directly (tests/test_serve.py). The rules the page relies on:
  - the model picker offers `Choice`s built on the server (`--weights` files and releases); the client sends back a
    label, which is looked up in that list and never used as a path (`Server.choice`);
  - a photo goes through exactly the calls `deblurkeras deblur` makes (inference.run: the declared-size check,
    `load_image` with EXIF orientation, `run_image` with the memory plan, `save_image` as PNG), so the page's PNG is
    byte for byte the CLI's for the same photo, weights and precision;
  - every file a session makes lives in its own folder (`Sessions`), removed when the session ends; the upload
    Gradio received is removed with it.
"""
import collections
import dataclasses
import os
import re
import shutil
import threading
import time

from ..errors import BadInputError, DeblurKerasError, first_line, one_line, show

PRECISIONS = ("auto", "float32", "bfloat16")   # the page's choice; auto first (the brief: precision auto)


# ------------------------------------------------------------------------------------------------ releases
def releases_api():
    """The release catalogue module (deblurkeras.releases: catalogue / is_cached / is_release_name / resolve), or
    None where this install has none: the page then lists the --weights files only."""
    try:
        from .. import releases
    except ImportError:
        return None
    return releases


def _mb(n):
    return f"{n / 1e6:.0f} MB" if n else "size unknown"


@dataclasses.dataclass(frozen=True)
class Choice:
    label: str    # what the picker shows (and the only thing the client sends back)
    source: str   # a release name or a --weights path: server side only
    release: bool


def model_choices(weights=(), api=None, fetchable=True):
    """The picker's entries: the `--weights` given (files, or release names), then the releases already cached, then
    (`fetchable`) those that can be fetched. Releases that need a manual download and are not cached are left out."""
    out, seen = [], set()

    def add(label, source, release):
        if source not in seen:
            seen.add(source)
            out.append(Choice(label, source, release))

    for w in weights:
        if api is not None and api.is_release_name(w):
            add(w + (" (cached)" if api.is_cached(w) else " (download)"), w, True)
        else:
            add(f"{os.path.basename(w)} (file)", w, False)
    if api is not None:
        rels = list(api.catalogue())
        for r in rels:
            if api.is_cached(r.name):
                add(f"{r.name} (cached)", r.name, True)
        for r in rels if fetchable else ():
            if not api.is_cached(r.name) and not getattr(r, "manual", False):
                add(f"{r.name} (download {_mb(getattr(r, 'total_size', 0))})", r.name, True)
    return out


def check_weights_args(weights, api=None):
    """`--weights` entries that are neither an existing file nor a release name: one BadInputError, at start."""
    for w in weights:
        if api is not None and api.is_release_name(w):
            continue
        if not os.path.exists(w):
            raise BadInputError(f"--weights {show(w)}: no such file" + ("" if api is None else " or release name"))


# ------------------------------------------------------------------------------------------------ models
class Models:
    """Loaded models by (source, precision), the `keep` most recently used kept in memory."""

    def __init__(self, api=None, offline=None, keep=2):
        self.api, self.offline, self.keep = api, offline, keep
        self._loaded = collections.OrderedDict()
        self._lock = threading.Lock()  # the start-up warm-up and a job never load at once

    def weights_path(self, choice):
        if not choice.release:
            return choice.source
        if self.api is None:
            raise BadInputError(f"{choice.source}: releases are not available in this install")
        return os.fspath(self.api.resolve(choice.source, offline=self.offline, progress=True))

    def get(self, choice, precision, announce=None):
        """(model, registered name, ModelIO, precision line) - as `deblur --weights W --precision P` loads them."""
        key = (choice.source, precision)
        with self._lock:
            return self._get(key, choice, precision, announce)

    def _get(self, key, choice, precision, announce):
        from .. import engines
        from ..inference import load_model
        from ..precision import resolve
        from ..registry import model_io

        if key not in self._loaded:
            path = self.weights_path(choice)
            model, name = engines.load("keras", path, None, precision, lambda: load_model(None, path), announce)
            io = model_io(name)
            if not io.image:
                raise BadInputError(f"{choice.label}: holds {name}, which does not produce images")
            self._loaded[key] = (model, name, io, resolve(precision).reason)
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(key)
        return self._loaded[key]

    def warm_up(self, choice, precision="auto"):
        """Load `choice` in a background thread (TensorFlow's import and the model's first trace take seconds), so
        the first job does not wait for them; a file only, never a download. Failures wait for a job to report."""
        def load():
            try:
                model, _, io, _ = self.get(choice, precision)
                import numpy as np
                from ..inference import run_padded
                mh, mw = io.multiples
                run_padded(model, io, np.zeros((mh, mw, 3), np.float32))  # traces the forward function
            except Exception:  # noqa: BLE001 - the job that uses it says what is wrong
                pass
        if not choice.release:
            threading.Thread(target=load, name="deblurkeras-warm-up", daemon=True).start()


# ------------------------------------------------------------------------------------------------ sessions
class Sessions:
    """One folder per browser session under `root`; `end(session)` removes it and the uploads it was handed."""

    def __init__(self, root):
        self.root = os.fspath(root)
        self._uploads = collections.defaultdict(set)
        self._lock = threading.Lock()

    def folder(self, session):
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", session or ""):
            raise BadInputError("no valid session")  # Gradio's session hash; never a client path
        return os.path.join(self.root, "sessions", session)

    def new_job_folder(self, session):
        """A fresh folder for this session's next result; the session's earlier results are removed first (one
        result per tab is all the page shows)."""
        base = self.folder(session)
        shutil.rmtree(base, ignore_errors=True)
        job = os.path.join(base, f"job-{time.monotonic_ns()}")
        os.makedirs(job, mode=0o700)
        return job

    def upload(self, session, path):
        """Accept the file Gradio stored for an upload: it must lie inside `root` (Gradio already refuses other
        paths; checked again here, so no path a client sends is ever read). Returns the path; it goes at `end`."""
        path = os.fspath(path)
        if not _inside(path, self.root) or not os.path.isfile(path):
            raise BadInputError("the upload is not a file this server received; upload the photo again")
        with self._lock:
            self._uploads[session].add(path)
        return path

    def end(self, session):
        """Remove everything of `session`: its folder and the upload files (with their one-file Gradio folders)."""
        with self._lock:
            uploads = self._uploads.pop(session, set())
        shutil.rmtree(self.folder(session), ignore_errors=True)
        for up in uploads:
            _remove_upload(up, self.root)


def _inside(path, root):
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real != top and os.path.commonpath([real, top]) == top


def _remove_upload(path, root):
    """An upload Gradio stored as ROOT/<hash>/<name>: the file, and its folder once empty. Only inside `root`."""
    if not _inside(path, root):
        return
    path = os.path.realpath(path)
    try:
        os.remove(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------ one photo
@dataclasses.dataclass
class Result:
    png: str            # the full-resolution result, as `deblur --ext png` writes it
    before: str         # the input (EXIF applied, RGB) as PNG, for the slider
    in_size: tuple      # (h, w)
    out_size: tuple     # (h, w)
    seconds: float      # the model run (run_image), without loading
    plan: str           # "whole image" or how it tiled
    tiles: int          # 0 when whole
    model: str          # registered model name
    precision: str      # the precision line
    notes: list

    def summary(self):
        (ih, iw), (oh, ow) = self.in_size, self.out_size
        lines = [f"**{self.model}**: {ih}x{iw} -> **{oh}x{ow}** px (HxW) in **{self.seconds:.2f} s**",
                 f"tiled: **{'yes, ' + str(self.tiles) + ' tiles' if self.tiles else 'no'}** ({self.plan})",
                 self.precision]
        return "  \n".join(lines + [one_line(n) for n in self.notes])


def safe_stem(name):
    """A file-name stem for the download from the client's file name: letters, digits, - and _ only."""
    stem = os.path.splitext(os.path.basename(str(name or "")))[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:64] or "photo"


def _relabel(e, path, label):
    """The error's one line with the server's temporary path replaced by the name the user uploaded."""
    return one_line(str(e).replace(show(path), label).replace(os.fspath(path), label))


def deblur_upload(path, label, model_entry, budget, max_pixels, out_dir, stem="photo"):
    """One uploaded file through `deblurkeras deblur`'s calls (inference.run) -> Result; errors are
    DeblurKerasError with one line naming `label` (never the server's temporary path)."""
    from ..imageio import load_image, save_image
    from ..inference import OVERLAP, check_declared_size, run_image, tile_grid
    from .. import memory

    model, name, io, precision_line = model_entry
    notes = []
    try:
        check_declared_size(path, name, io, budget, None, max_pixels)
        img = load_image(path, max_pixels=max_pixels, note=notes.append)
        h, w = img.shape[:2]
        p = memory.plan(name, io, h, w, budget, None)
        tiles = len(tile_grid(h, w, memory.tile_side(p.tile, io), OVERLAP)) if p.tile else 0
        t0 = time.perf_counter()
        out = run_image(model, name, io, img, label, budget, None, OVERLAP, note=notes.append)
        seconds = time.perf_counter() - t0
        suffix = f"x{io.scale}" if io.scale > 1 else "deblurred"
        png = os.path.join(out_dir, f"{stem}_{suffix}.png")
        save_image(png, out)
        before = os.path.join(out_dir, f"{stem}_input.png")
        save_image(before, img)
    except DeblurKerasError as e:
        raise BadInputError(_relabel(e, path, label)) from None
    except MemoryError:
        raise BadInputError(f"{label}: out of memory; the server's --max-memory is too high for this machine") \
            from None
    return Result(png, before, (h, w), out.shape[:2], seconds, p.describe(h, w) if p.tile else "whole image",
                  tiles, name, precision_line, [_relabel(n, path, label) for n in notes])


def error_line(e):
    """What the page says about a failure: the DeblurKerasError's line, or the exception's first line."""
    if isinstance(e, DeblurKerasError):
        return one_line(e)
    return f"{type(e).__name__}: {one_line(first_line(e))}"
