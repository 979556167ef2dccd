"""`deblurkeras weights list | fetch | verify | path`: the released weights of the originals, by name.

    deblurkeras weights list                               a table: release, files, size, source, in the cache
    deblurkeras weights fetch stack-dmphn-4:gopro          fetch + verify into the cache (progress in bytes)
    deblurkeras weights fetch srresnet-x4:coco --from F    a copy downloaded by hand, verified the same way
    deblurkeras weights verify DIR_OR_FILE                 which release it is, or which file differs and how
    deblurkeras weights path stack-dmphn-4:gopro           the cached folder of the original files

Exit status: 0 done / verified, 1 `verify` found a difference, 2 an error (one line).
"""
import os

ACTIONS = ("list", "fetch", "verify", "path")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="the catalogue, and what the cache holds (hashes recomputed)")
    p.add_argument("--long", action="store_true",
                   help="also each release's addresses, licence, importer and what it reproduces")
    p = sub.add_parser("fetch", help="fetch and verify releases into the cache")
    p.add_argument("release", nargs="+", metavar="RELEASE", help="MODEL:TAG, e.g. stack-dmphn-4:gopro")
    p.add_argument("--from", dest="from_path", metavar="DIR_OR_FILE",
                   help="a copy downloaded by hand: verified file by file, then copied into the cache")
    p.add_argument("--import", dest="do_import", action="store_true",
                   help="also import into Keras now (else on first use)")
    p.add_argument("--offline", action="store_true", help="open no connection (as DEBLURKERAS_OFFLINE=1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("verify", help="identify a file or folder you have (or a cached release) by hash")
    p.add_argument("target", metavar="PATH|RELEASE")
    p = sub.add_parser("path", help="print the cached folder of a release's original files")
    p.add_argument("release", metavar="RELEASE")


def _size(n):
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def _cache_state(release):
    from .cache import imported_path, missing_files
    missing = missing_files(release)
    if len(missing) == len(release.files):
        return "-"
    if missing:
        return f"partial ({len(release.files) - len(missing)}/{len(release.files)})"
    return "verified" + (" + imported" if imported_path(release).is_file() else "")


def run_list(args):
    from . import catalogue, home
    rows = [("RELEASE", "MODEL", "FILES", "SIZE", "SOURCE", "CACHE")]
    for r in catalogue():
        src = "manual (--from)" if r.manual else f"{r.source_repo}@{(r.commit or '')[:7]}"
        rows.append((r.name, r.model, str(len(r.files)), _size(r.total_size), src, _cache_state(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if args.long:
        for r in catalogue():
            print(f"\n{r.name}: {r.importer} importer; licence: {r.license}")
            for line in ([f"tried in order: {', '.join(r.urls)}"] if r.urls else []) + \
                    ([r.note] if r.note else []) + [f"reproduces: {r.reproduces}"]:
                print(f"  {line}")
    print(f"cache: {home()}")
    return 0


def run_fetch(args):
    from . import fetch, get, resolve
    if args.from_path and len(args.release) != 1:
        from ..errors import BadInputError
        raise BadInputError("--from takes one release at a time")
    releases = [get(name) for name in args.release]         # every name checked before anything is fetched
    for r in releases:
        folder = fetch(r.name, offline=args.offline or None, progress=not args.quiet, source=args.from_path)
        print(f"{r.name}: {len(r.files)} files verified -> {folder}")
        if args.do_import:
            print(f"{r.name}: imported -> {resolve(r.name, offline=args.offline or None)}")
    return 0


def run_verify(args):
    from . import verify
    ok, lines = verify(args.target)
    for line in lines:
        print(line)
    return 0 if ok else 1


def run_path(args):
    from ..errors import BadInputError
    from . import get, is_cached
    from .cache import original_dir
    release = get(args.release)
    if not is_cached(release.name):
        raise BadInputError(f"{release.name}: not (wholly) in the cache; `deblurkeras weights fetch {release.name}`")
    print(original_dir(release))
    return 0


def run(args):
    if getattr(args, "offline", False):
        os.environ["DEBLURKERAS_OFFLINE"] = "1"
    return {"list": run_list, "fetch": run_fetch, "verify": run_verify, "path": run_path}[args.action](args)
