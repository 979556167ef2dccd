"""The cache of released weights, and `resolve`: a release name -> the imported Keras weights file.

Layout (under settings.home(), $DEBLURKERAS_HOME or ~/.cache/deblurkeras):

    releases/<model>/<tag>/original/<folder>/...   the release's files as published, every one verified
                                                   (<folder>: the repository folder's name, e.g. SDNet4)
    releases/<model>/<tag>/imported.weights.h5     the same weights imported into Keras by the strict importer
    releases/<model>/<tag>/release.json            what was verified: each file's digest, where it came from, the
                                                   imported file's sha256
    downloads/<digest>.part                        transfers under way (resumed by the next fetch)
    locks/<model>_<tag>.lock                       one process at a time per release (flock)

A file enters original/ only by a rename from downloads/ after its size and hash matched, so the cache never shows a
half-written or wrong file. The imported file is written atomically and trusted only while its sha256 is the one
release.json recorded; otherwise it is imported again from the (re-verified) originals.
"""
import contextlib
import json
import os
import pathlib
import shutil
import sys
import time

from ..errors import DeblurKerasError, show
from ..utils import atomic_path
from . import entries as cat
from . import download as fetch, settings

try:
    import fcntl
except ImportError:  # not POSIX: no lock (two processes fetching one release are then the user's business)
    fcntl = None

IMPORTED = "imported.weights.h5"
RECORD = "release.json"


class OfflineError(DeblurKerasError):
    """Offline mode and the release is not in the cache."""


class ManualReleaseError(DeblurKerasError):
    """A release with no file URL: the user must download it by hand and pass --from."""


def _say(line):
    print(f"deblurkeras: {line}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- layout
def release_dir(release):
    return settings.home() / "releases" / release.model / release.tag


def original_dir(release):
    """The folder of the release's original files in the cache (what `weights path` prints)."""
    return release_dir(release) / "original" / release.local_folder


def original_path(release, f):
    return original_dir(release) / release.relative(f)


def load_path(release):
    """What the release's importer is given: the folder, or a file / checkpoint prefix inside it."""
    return original_dir(release) / release.load if release.load else original_dir(release)


def imported_path(release):
    return release_dir(release) / IMPORTED


def part_path(f):
    key = (f.sha256 or f.git_blob or f.name).replace("/", "_")
    return settings.home() / "downloads" / f"{key}.part"


@contextlib.contextmanager
def locked(release, announce=_say):
    """Hold the release's lock file; a second process waits (saying so once) instead of writing beside us."""
    folder = settings.home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{release.model}_{release.tag}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                announce(f"{release.name}: another deblurkeras process is fetching it; waiting")
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)        # closing releases the flock


# --------------------------------------------------------------------------------------------- record
def read_record(release):
    try:
        with open(release_dir(release) / RECORD, encoding="utf-8") as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_record(release, **changes):
    rec = {**read_record(release), "release": release.name, **changes}
    path = release_dir(release) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
    return rec


# --------------------------------------------------------------------------------------------- verification
def _check_cached(release, f, rec):
    """(ok, why) for one cached original: size + digest, or for a file with no hash on record the sha256 the
    record kept when it was handed over."""
    path = original_path(release, f)
    if not path.is_file():
        return False, "missing"
    ok, got = f.matches(path)
    if f.digest is None:
        want = (rec.get("files") or {}).get(f.path)
        ok = want is not None and got == want
    return ok, got


def missing_files(release, drop_bad=False, announce=None):
    """The release's files not (correctly) in the cache; with `drop_bad`, a cached file that fails its check is
    removed (and said), so a fetch replaces it."""
    rec, out = read_record(release), []
    for f in release.files:
        ok, got = _check_cached(release, f, rec)
        if not ok:
            out.append(f)
            if got != "missing" and drop_bad:
                if announce:
                    announce(f"{original_path(release, f)}: changed in the cache ({got}); fetching it again")
                os.remove(original_path(release, f))
    return out


def is_cached(name):
    """True when every original file of the release is in the cache and verified (hashes recomputed now)."""
    release = cat.get(name)
    return not missing_files(release)


# --------------------------------------------------------------------------------------------- fetching
def file_urls(release, f):
    """The addresses of one file, in order: the mirror alone when DEBLURKERAS_MIRROR is set."""
    mirror = settings.mirror()
    if mirror:
        return [f"{mirror}/{release.source_repo}/{f.path}"]
    return [base + f.path for base in release.urls]


def _mb(n):
    return f"{n / 1e6:.1f} MB"


def _where(release):
    mirror = settings.mirror()
    if mirror:
        return f"mirror {mirror}"
    host = release.urls[0].split("/")[2] if release.urls else "?"
    return f"{host} ({release.source_repo}@{(release.commit or '')[:7]})"


def from_command(release):
    return f"deblurkeras weights fetch {release.name} --from DIR_OR_FILE"


def ensure_original(release, offline=None, progress=True, announce=_say):
    """Every original file of the release verified in the cache, fetching what is missing. Call under `locked`."""
    todo = missing_files(release, drop_bad=True, announce=announce)
    if not todo:
        return original_dir(release)
    if settings.offline(offline):
        raise OfflineError(f"{release.name}: not in the cache ({original_dir(release)}) and offline mode "
                           f"(DEBLURKERAS_OFFLINE / --offline) opens no connection; fetch it online first "
                           f"(`deblurkeras weights fetch {release.name}`) or `{from_command(release)}`")
    if release.manual:
        raise ManualReleaseError(f"{release.name}: no file URL to fetch from ({release.note}); download "
                                 f"{', '.join(f.name for f in todo)} by hand, then `{from_command(release)}`")
    total = sum(f.size for f in todo)
    announce(f"fetching {release.name}: {len(todo)} file(s), {_mb(total)} from {_where(release)} "
             f"into {release_dir(release)}")
    from tqdm import tqdm
    sources = {}
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=release.name, file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        for f in todo:
            sources[f.path] = _fetch_file(release, f, bar, announce)
    _write_record(release, files={**(read_record(release).get("files") or {}),
                                  **{f.path: f.digest for f in todo}},
                  sources={**(read_record(release).get("sources") or {}), **sources}, fetched=time.time())
    return original_dir(release)


def _fetch_file(release, f, bar, announce):
    """One file: each URL in turn until one delivers the right bytes; then renamed into the cache."""
    part = part_path(f)
    part.parent.mkdir(parents=True, exist_ok=True)
    failures, mismatch = [], None
    for url in file_urls(release, f):
        done = os.path.getsize(part) if part.exists() else 0
        bar.update(min(done, f.size))
        try:
            fetch.transfer(url, part, f.size, bar)
        except fetch.SourceFailed as e:
            bar.update(-min(os.path.getsize(part) if part.exists() else 0, f.size))
            failures.append(f"{url}: {e}")
            announce(f"{url}: {e}")
            continue
        ok, got = f.matches(part)
        if ok:
            dest = original_path(release, f)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(part, dest)
            except OSError as e:
                raise fetch.FetchError(f"{dest}: cannot write ({e}); the cache is as it was") from None
            return url
        os.remove(part)
        bar.update(-f.size)
        mismatch = (f"{f.path}: the bytes from {url} are not the release's: expected {f.digest}, received {got}; "
                    f"not cached")
        failures.append(f"{url}: hash mismatch")
        announce(mismatch)
    if mismatch and len(failures) == 1:
        raise fetch.HashMismatchError(mismatch)
    raise fetch.FetchError(f"{release.name}: no source delivered {f.path} ({'; '.join(failures) or 'no URL'}); "
                           f"download it by hand, then `{from_command(release)}`")


# --------------------------------------------------------------------------------------------- --from
def _candidates(release, f, src):
    """Where `f` may be inside a user's folder (or a file given for a one-file release)."""
    if src.is_file():
        return [src] if len(release.files) == 1 or src.name == f.name else []
    rel = release.relative(f)
    return [src / rel, src / f.name, src / release.local_folder / rel, src / f.path]


def install_from(release, src, announce=_say):
    """Take a copy the user downloaded by hand (a folder or a file): every file verified (size + hash) before any
    enters the cache; a file with no hash on record is taken as given and its sha256 recorded. Call under `locked`."""
    src = pathlib.Path(src)
    if not src.exists():
        raise fetch.FetchError(f"{show(src)}: no such file or folder (--from)")
    found, problems = {}, []
    for f in release.files:
        path = next((p for p in _candidates(release, f, src) if p.is_file()), None)
        if path is None:
            problems.append(f"{f.name} missing")
            continue
        ok, got = f.matches(path)
        if not ok:
            raise fetch.HashMismatchError(f"{show(path)}: not the release's {f.path}: expected "
                                          f"{f.digest or 'its size'}, received {got}; nothing was cached")
        found[f] = (path, got)
    if problems:
        raise fetch.FetchError(f"{show(src)}: not the whole {release.name} release ({', '.join(problems)})")
    digests = {}
    for f, (path, got) in found.items():
        part = part_path(f)
        part.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, part)
            if f.hash_of(part) != got:
                raise fetch.FetchError(f"{show(path)}: changed while it was copied; nothing more was cached")
            dest = original_path(release, f)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.remove(part)
            raise fetch.FetchError(f"{show(path)}: cannot copy into the cache ({e})") from None
        digests[f.path] = got
        if f.digest is None:
            announce(f"{f.name}: no hash on record for {release.name}; taken as given (sha256 recorded: {got}), "
                     f"the strict import checks its tensors")
    _write_record(release, files={**(read_record(release).get("files") or {}), **digests},
                  sources={f.path: f"--from {os.fspath(p)}" for f, (p, _) in found.items()}, fetched=time.time())
    announce(f"{release.name}: {len(found)} of {len(release.files)} files verified from {show(src)} -> "
             f"{original_dir(release)}")
    return original_dir(release)


# --------------------------------------------------------------------------------------------- resolve
def fetch_release(name, offline=None, progress=True, source=None, announce=_say):
    """Originals of a release verified in the cache (fetched, or taken from `source`); returns their folder."""
    release = cat.get(name)
    with locked(release, announce):
        if source is not None:
            return install_from(release, source, announce)
        return ensure_original(release, offline, progress, announce)


def _imported_ok(release):
    path = imported_path(release)
    want = read_record(release).get("imported_sha256")
    return path.is_file() and want is not None and cat.sha256_of(path) == want


def import_release(release, announce=_say):
    """The originals through the family's strict importer, saved as our Keras weights. Call under `locked`."""
    from .. import weights

    announce(f"importing {release.name} ({release.importer} importer) -> {imported_path(release)}")
    model, name = weights.load(load_path(release), release.model)
    weights.save(model, imported_path(release), name)
    _write_record(release, imported_sha256=cat.sha256_of(imported_path(release)))
    return imported_path(release)


def resolve(name_or_path, offline=None, progress=True, announce=_say):
    """A release name -> the imported Keras weights in the cache (fetched, verified and imported on first use);
    any other string (a path) -> unchanged. A registered model's MODEL:TAG that is not catalogued is refused by
    name, with the close names."""
    if isinstance(name_or_path, str) and not cat.is_release_name(name_or_path):
        if cat.looks_like_release(name_or_path):
            cat.get(name_or_path)             # raises UnknownReleaseError with the close names
        return name_or_path
    if not isinstance(name_or_path, str):
        return name_or_path
    release = cat.get(name_or_path)
    if _imported_ok(release):                 # the second use: neither network nor import
        return imported_path(release)
    with locked(release, announce):
        if _imported_ok(release):             # another process finished it while we waited
            return imported_path(release)
        ensure_original(release, offline, progress, announce)
        return import_release(release, announce)
