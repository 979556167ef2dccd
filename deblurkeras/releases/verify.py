"""`weights verify PATH`: which release a file or folder the user already has is, proven by hash, or which file
differs and how.

A folder is matched against every release by file name (its files' paths below the release folder, or their
names); the release with the most files present wins, and each is checked (size, then sha256 or git blob id). A
single file is matched by size and hash against every catalogued file (so a renamed copy is still recognised), else
by name (to say how it differs).
"""
import os

from ..errors import show
from . import entries as cat


def _folder_files(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, folder).replace(os.sep, "/")] = p
    return out


def _lookup(release, f, files):
    for key in (release.relative(f), f"{release.local_folder}/{release.relative(f)}", f.path):
        if key in files:
            return files[key]
    by_name = [p for k, p in files.items() if k.rsplit("/", 1)[-1] == f.name]
    return by_name[0] if len(by_name) == 1 else None


def _describe(release):
    src = f"{release.source_repo}@{release.commit[:7]}" if release.commit else release.source_repo
    return f"{release.name} ({src})"


def verify_folder(folder):
    """(ok, lines)."""
    files = _folder_files(folder)
    scored = []
    for r in cat.catalogue():
        present = {f: _lookup(r, f, files) for f in r.files}
        n = sum(p is not None for p in present.values())
        if n:
            scored.append((n, -len(r.files), r, present))
    if not scored:
        return False, [f"{show(folder)}: no file of a catalogued release ({len(files)} files looked at)"]
    results = []
    for n, _, r, present in sorted(scored, key=lambda s: s[:2], reverse=True)[:4]:
        good, bad = [], []
        for f, p in present.items():
            if p is None:
                bad.append(f"{f.name}: missing")
                continue
            ok, got = f.matches(p)
            if ok and f.digest is not None:
                good.append(f)
            elif f.digest is None:
                bad.append(f"{f.name}: no hash on record (received {got})")
            else:
                bad.append(f"{show(p)}: differs: received {got}, expected {f.digest} ({f.size:,} bytes)")
        results.append((len(good), -len(bad), r, good, bad))
    nbest, _, r, good, bad = max(results, key=lambda s: s[:2])
    kind = f"{'official ' if not r.manual else ''}{r.local_folder} release {_describe(r)}"
    head = (f"{show(folder)}: the {kind}, {nbest} of {len(r.files)} files verified" if not bad else
            f"{show(folder)}: not the {kind} as published: {nbest} of {len(r.files)} files verified")
    return not bad, [head] + [f"  {line}" for line in bad]


def verify_file(path):
    size = os.path.getsize(path)
    name = os.path.basename(path)
    sha = None
    for r in cat.catalogue():
        for f in r.files:
            if f.size == size and f.digest is not None:
                got = f.hash_of(path) if f.git_blob else (sha := sha or cat.sha256_of(path))
                if got == f.digest:
                    return True, [f"{show(path)}: {f.path} of the release {_describe(r)}, verified ({f.digest})"]
    for r in cat.catalogue():
        for f in r.files:
            if f.name == name:
                if f.digest is None:
                    return False, [f"{show(path)}: named like {r.name}'s {f.name}, which has no hash on record: "
                                   f"cannot be proven (sha256 {sha or cat.sha256_of(path)})"]
                return False, [f"{show(path)}: not the released {f.path} of {r.name}: received {size:,} bytes "
                               f"{f.hash_of(path)}, expected {f.size:,} bytes {f.digest}"]
    return False, [f"{show(path)}: not a file of any catalogued release ({size:,} bytes, "
                   f"{sha or cat.sha256_of(path)})"]


def verify(path):
    """(ok, lines) for a file, a folder, or a release name (its copy in the cache)."""
    if cat.is_release_name(path):
        from .cache import original_dir
        release = cat.get(path)
        folder = original_dir(release)
        if not folder.exists():
            return False, [f"{path}: not in the cache ({folder})"]
        return verify_folder(folder)
    if os.path.isdir(path):
        return verify_folder(path)
    if os.path.isfile(path):
        return verify_file(path)
    if cat.looks_like_release(path):
        cat.get(path)                   # MODEL:TAG not catalogued: the close names
    return False, [f"{show(path)}: no such file or folder"]
