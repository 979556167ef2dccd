"""Issue 27's Done-when, with the real released files: `deblur --weights stack-dmphn-4:gopro` through a mirror.

    python experiments/release_roundtrip.py [GIT_DIR] [--release stack-dmphn-4:gopro] [--limit N] [--json OUT]

GIT_DIR: a fetched copy (bare git directory) of HongguangZhang/DMPHN-cvpr19-master (default
../.mirror/HongguangZhang+DMPHN-cvpr19-master/repo beside this checkout). Its files at the catalogued commit are
extracted (`git show`) into a temporary folder laid out as a mirror, `<root>/HongguangZhang/DMPHN-cvpr19-master/<path>`,
served by a loopback HTTP server, and reached only through DEBLURKERAS_MIRROR, with a fresh DEBLURKERAS_HOME. Then:

  1. `weights verify` on the extracted release folder names it; on a copy with one changed byte names that file;
  2. `--offline weights fetch` before anything is cached: refused in one line, no request reaches the server;
  3. `deblurkeras deblur test_samples/ --weights RELEASE --out OUT` (a subprocess, as a user runs it): fetch,
     verify, import, deblur;
  4. the cached imported weights against the same files imported by hand (`import_stack_dmphn` / `import_dmphn`):
     max |difference| over every tensor;
  5. a second resolve, offline: no request, no import;
  6. the outputs against the authors' PNGs (test_results/<set>_test_res/): % identical values (the deblur
     default, truncation to uint8, which the SDNet3/SDNet4 PNGs were written with), mean and max |difference|.

Prints one line per step and the figure; exits 1 when a check fails. Nothing from the repository is copied into this
one (the temporary folder is removed unless --keep).
"""
import argparse
import functools
import http.server
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments"))
DEFAULT_GIT = os.path.join(os.path.dirname(REPO), ".mirror", "HongguangZhang+DMPHN-cvpr19-master", "repo")


def git_show(git_dir, commit, path, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "wb") as f:
        subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:{path}"], stdout=f, check=True)


def git_list(git_dir, commit, folder):
    out = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "--name-only", f"{commit}:{folder}"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(n for n in out.split() if n)


def lay_out_mirror(git_dir, release, root, limit):
    """Release files, the first `limit` test samples and the authors' results under root/<owner>/<repo>/."""
    base = os.path.join(root, *release.source_repo.split("/"))
    paths = [f.path for f in release.files]
    samples = git_list(git_dir, release.commit, "test_samples")[:limit]
    # the authors wrote each set's outputs beside its checkpoints' name: checkpoints/SDNet4 -> test_results/SDNet4_test_res
    result_dir = f"test_results/{posixpath.basename(release.folder)}_test_res"
    paths += [f"test_samples/{n}" for n in samples] + [f"{result_dir}/{n}" for n in samples]
    for p in paths:
        git_show(git_dir, release.commit, p, os.path.join(base, p))
    return base, samples, result_dir


class Quiet(http.server.SimpleHTTPRequestHandler):
    log = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        Quiet.log.append(self.path)
        return super().do_GET()


def serve(root):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


def step(ok, text):
    print(f"[{'ok' if ok else 'FAIL'}] {text}", flush=True)
    return ok


def max_weight_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a.weights, b.weights))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("git_dir", nargs="?", default=DEFAULT_GIT)
    ap.add_argument("--release", default="stack-dmphn-4:gopro")
    ap.add_argument("--limit", type=int, default=20, help="test frames (default all 20)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.git_dir):
        print(f"{args.git_dir}: no fetched DMPHN-cvpr19-master git directory", file=sys.stderr)
        return 2
    from deblurkeras import releases
    from deblurkeras.cli import main as cli

    release = releases.get(args.release)
    tmp = tempfile.mkdtemp(prefix="release_roundtrip.")
    ok, report = True, {"release": release.name}
    try:
        base, samples, result_dir = lay_out_mirror(args.git_dir, release, os.path.join(tmp, "mirror"), args.limit)
        httpd = serve(os.path.join(tmp, "mirror"))
        os.environ.update(DEBLURKERAS_HOME=os.path.join(tmp, "home"),
                          DEBLURKERAS_MIRROR=f"http://127.0.0.1:{httpd.server_address[1]}")
        os.environ.pop("DEBLURKERAS_OFFLINE", None)
        folder = os.path.join(base, release.folder)

        # 1. verify: the official folder, then a copy with one changed byte
        ok &= step(cli(["weights", "verify", folder]) == 0, f"weights verify {release.folder}")
        changed = os.path.join(tmp, "changed", release.local_folder)
        shutil.copytree(folder, changed)
        victim = os.path.join(changed, release.relative(release.files[-1]))
        with open(victim, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 1]))
        ok &= step(cli(["weights", "verify", changed]) == 1, "weights verify on a copy with one changed byte: exit 1")

        # 2. offline before the cache holds it: refused, nothing requested
        n = len(Quiet.log)
        ok &= step(cli(["--offline", "weights", "fetch", release.name]) == 2 and len(Quiet.log) == n,
                   "--offline weights fetch with an empty cache: refused, no request")
        os.environ.pop("DEBLURKERAS_OFFLINE", None)

        # 3. deblur through the CLI: fetch + verify + import + deblur
        out = os.path.join(tmp, "out")
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-m", "deblurkeras.cli", "deblur", os.path.join(base, "test_samples"),
                               "--weights", release.name, "--out", out], env={**os.environ, "PYTHONPATH": REPO},
                              capture_output=True, text=True)
        seconds = time.time() - t0
        for line in proc.stderr.splitlines():
            if line.startswith("deblurkeras:") or "error" in line:
                print("   " + line)
        ok &= step(proc.returncode == 0, f"deblur {len(samples)} frames --weights {release.name}: exit "
                                         f"{proc.returncode}, {seconds:.0f} s (first use: fetch + import included)")
        report["requests"] = len(Quiet.log) - n
        report["deblur_seconds"] = seconds

        # 4. the cached import against the same files imported by hand
        from deblurkeras import weights
        from deblurkeras.families.dmphn.importer import import_dmphn, import_stack_dmphn
        by_hand = import_stack_dmphn(folder)[0] if release.model.startswith("stack") else import_dmphn(folder)
        cached, _ = weights.load(str(releases.imported_path(release)))
        diff = max_weight_diff(cached, by_hand)
        report["weights_max_abs_diff_vs_by_hand"] = diff
        ok &= step(diff == 0.0, f"cached imported weights vs import by hand: max |diff| {diff:g} "
                                f"over {len(cached.weights)} tensors")

        # 5. the second use, offline: no request, no import
        n = len(Quiet.log)
        path = releases.resolve(release.name, offline=True)
        ok &= step(len(Quiet.log) == n and path == releases.imported_path(release),
                   "second resolve, offline: the cached file, no request")

        # 6. outputs vs the authors' PNGs
        from reproduce_dmphn import _load_png, compare
        rows = []
        for name in samples:
            mine, theirs = os.path.join(out, name), os.path.join(base, result_dir, name)
            if os.path.isfile(mine):
                rows.append({"image": name, **compare(_load_png(mine), _load_png(theirs))})
        report["rows"] = rows
        if rows:
            ident = [r["identical_pct"] for r in rows]
            report.update(frames=len(rows), identical_pct=float(np.mean(ident)), min_identical_pct=min(ident),
                          mean_abs=float(np.mean([r["mean_abs"] for r in rows])),
                          max_abs=max(r["max_abs"] for r in rows))
            ok &= step(min(ident) >= 99.99 and len(rows) == len(samples),
                       f"{release.name} via DEBLURKERAS_MIRROR vs the authors' {result_dir}: {len(rows)} frames, "
                       f"{report['identical_pct']:.3f}% identical values (worst frame {min(ident):.3f}%), mean |d| "
                       f"{report['mean_abs']:.4f}, max |d| {report['max_abs']}")
        else:
            ok = step(False, "no output to compare")
        httpd.shutdown()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report["ok"] = bool(ok)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
