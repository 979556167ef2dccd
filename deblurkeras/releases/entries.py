"""The catalogue of released weights: every family's `releases` module (FamilySpec.releases), read as plain data.

A release is one set of files an original published for one registered model, named `MODEL:TAG`
(`stack-dmphn-4:gopro`). Each file is known by its path in the source repository, its size and its sha256 - or,
where only that is on record, its git blob id (SHA-1 of "blob <size>\\0" + content, as `git hash-object` computes
it). A release without a file URL (a folder link, no hash) is `manual`: the user fetches it by hand and hands it over
with `deblurkeras weights fetch NAME --from PATH`.
"""
import dataclasses
import difflib
import hashlib
import importlib
import os

from ..errors import DeblurKerasError

CHUNK = 1 << 20


class UnknownReleaseError(DeblurKerasError):
    """A MODEL:TAG that is not in the catalogue."""


@dataclasses.dataclass(frozen=True)
class ReleaseFile:
    """One released file: `path` in the source repository, `size` in bytes, and its `sha256` or `git_blob` id
    (both None for a manual file with no hash on record; then `size` is None too)."""
    path: str
    size: int = None
    sha256: str = None
    git_blob: str = None

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def digest(self):
        """"sha256:<hex>", "git-blob:<hex>" or None: what proves the file."""
        return f"sha256:{self.sha256}" if self.sha256 else f"git-blob:{self.git_blob}" if self.git_blob else None

    def hash_of(self, path):
        """The digest of a local file, computed the way this file's record is ("sha256:..." unless it is a git
        blob id). None-recorded files get their sha256 (recorded as received)."""
        return git_blob_id(path) if self.git_blob else sha256_of(path)

    def matches(self, path):
        """(ok, received digest): does the local file at `path` have this file's size and digest?"""
        size = os.path.getsize(path)
        if self.size is not None and size != self.size:
            return False, f"size {size:,} bytes (expected {self.size:,})"
        got = self.hash_of(path)
        return (self.digest is None or got == self.digest), got


@dataclasses.dataclass(frozen=True)
class Release:
    """One release. `urls`: base addresses tried in order (a file's URL = base + its path in the repository);
    `folder`: the files' folder in the repository (its name is kept in the cache: the DMPHN importer reads the
    stack count from `SDNet<N>`); `load`: what the importer is given inside that folder ("" = the folder)."""
    model: str
    tag: str
    files: tuple
    urls: tuple = ()
    source_repo: str = None
    commit: str = None
    license: str = ""
    importer: str = ""
    reproduces: str = ""
    folder: str = ""
    load: str = ""
    manual: bool = False
    note: str = ""
    family: str = ""

    @property
    def name(self):
        return f"{self.model}:{self.tag}"

    @property
    def total_size(self):
        """Bytes of all files (None when a manual file's size is not on record)."""
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)

    @property
    def local_folder(self):
        """The folder name the files keep in the cache: the repository folder's own name."""
        return self.folder.rstrip("/").rsplit("/", 1)[-1] or "files"

    def relative(self, f):
        """A file's path below its release folder."""
        prefix = self.folder.rstrip("/") + "/" if self.folder else ""
        return f.path[len(prefix):] if f.path.startswith(prefix) else f.name


# --------------------------------------------------------------------------------------------- hashes
def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def git_blob_id(path):
    """"git-blob:<sha1>" exactly as `git hash-object` computes it: SHA-1 of b"blob <size>\\0" + content."""
    h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return "git-blob:" + h.hexdigest()


# --------------------------------------------------------------------------------------------- reading the data
def _file(folder, row):
    name, size, digest = row
    path = f"{folder.rstrip('/')}/{name}" if folder else name
    if digest is None:
        return ReleaseFile(path, size)
    if digest.startswith("git-blob:"):
        return ReleaseFile(path, size, git_blob=digest[len("git-blob:"):])
    return ReleaseFile(path, size, sha256=digest)


def releases_of(module, family=""):
    """The Release objects of one family's catalogue module (plain data: see families/dmphn/releases.py)."""
    mod = importlib.import_module(module) if isinstance(module, str) else module
    out = []
    for item in mod.RELEASES:
        folder = item.get("folder", "")
        repo, commit = item.get("repo", mod.REPO), item.get("commit", mod.COMMIT)
        rows = item.get("files", mod.FILES.get(folder, ()))
        urls = tuple(u.format(repo=repo, commit=commit, path="") for u in item.get("urls", mod.URLS))
        out.append(Release(
            model=item["model"], tag=item["tag"], files=tuple(_file(folder, r) for r in rows), urls=urls,
            source_repo=repo, commit=commit, license=item.get("license", mod.LICENSE),
            importer=item.get("importer", getattr(mod, "IMPORTER", "torch")), reproduces=item.get("reproduces", ""),
            folder=folder, load=item.get("load", ""), manual=bool(item.get("manual", False)),
            note=item.get("note", ""), family=family))
    return out


_EXTRA = []          # releases added at run time (tests: fixture releases on a loopback server)


def catalogue():
    """Every release of every family (registry order), then any added with `add`."""
    from ..registry import families

    out = []
    for fam in families().values():
        if fam.releases:
            out += releases_of(fam.releases, fam.name)
    return out + list(_EXTRA)


def add(release):
    """Add a release to the catalogue for this process (replacing one of the same name). Returns it."""
    _EXTRA[:] = [r for r in _EXTRA if r.name != release.name] + [release]
    return release


def remove(name):
    _EXTRA[:] = [r for r in _EXTRA if r.name != name]


def names():
    return [r.name for r in catalogue()]


def is_release_name(text):
    """True for a catalogued MODEL:TAG. A path that exists is never a release name (a file may hold a colon)."""
    if not isinstance(text, str) or ":" not in text or os.path.exists(text):
        return False
    return text in names()


def looks_like_release(text):
    """MODEL:TAG of a registered model (catalogued or not), and not an existing path: a name the user meant."""
    from ..registry import model_names

    if not isinstance(text, str) or os.path.exists(text) or text.count(":") != 1:
        return False
    model, tag = text.split(":")
    return model in model_names() and bool(tag) and "/" not in tag and os.sep not in tag


def get(name):
    """The Release called `name`; UnknownReleaseError (one line, with the close names) otherwise."""
    for r in catalogue():
        if r.name == name:
            return r
    known = names()
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
    raise UnknownReleaseError(f"{name}: no such release ({hint}; `deblurkeras weights list` shows them all)")
