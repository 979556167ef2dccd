"""Released weights by name (issue 27): catalogue, fetch (resume, size cap, timeout, redirects, lock), cache, offline,
mirror, --from, verify, and the release-name hooks. Every transfer goes to a loopback HTTP server the tests start (a
thread) serving fixture releases the tests add to the catalogue; nothing reaches the internet."""
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from deblurkeras import releases
from deblurkeras.cli import main
from deblurkeras.releases import cache, entries as cat
from deblurkeras.releases.entries import Release, ReleaseFile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


# --------------------------------------------------------------------------------------------- the loopback server
class Server:
    """Serves `files` ({path in repo: bytes}) under modes chosen by the URL's first segment:
    /good/  the bytes (Range honoured)      /dead/   404              /bad/  one byte flipped
    /cut/   the first answer stops halfway, later ones are whole      /big/  the bytes + 10 more
    /stall/ sends half, then goes silent     /redirect-http/  302 to http://127.0.0.1/...good/
    /slow/  whole, a pause per chunk (for the concurrent fetchers)
    Every request is logged as (mode, path, Range header)."""

    def __init__(self):
        self.files, self.log, self.cut_done = {}, [], set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                mode, _, path = self.path.lstrip("/").partition("/")
                if mode == "mirror":      # /mirror/<owner>/<repo>/<path>
                    path = path.split("/", 2)[2]
                    mode = "good"
                rng = self.headers.get("Range")
                server.log.append((mode, path, rng))
                data = server.files.get(path)
                if mode == "dead" or data is None:
                    return self.send_error(404)
                if mode == "redirect-http":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{server.port}/good/{path}")
                    self.end_headers()
                    return
                if mode == "bad":
                    data = data[:5] + bytes([data[5] ^ 1]) + data[6:]
                if mode == "big":
                    data = data + b"x" * 10
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if mode != "big":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut" and path not in server.cut_done:
                    server.cut_done.add(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "stall":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    time.sleep(3)
                    return
                step = 4096 if mode == "slow" else len(body) or 1
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    if mode == "slow":
                        time.sleep(0.002)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, mode):
        return f"http://127.0.0.1:{self.port}/{mode}/"

    def requests(self, mode=None):
        return [e for e in self.log if mode is None or e[0] == mode]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("DEBLURKERAS_HOME", str(h))
    for var in ("DEBLURKERAS_OFFLINE", "DEBLURKERAS_MIRROR", "DEBLURKERAS_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    return h


def _payload(n, seed):
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"z" * (n % 32)


def _fixture_release(server, modes, tag="fixture", sizes=(70_001, 40_000), blob=False, model="dmphn-1-2-4"):
    """A release of random files, served by `server`, tried from the `modes` URLs in order."""
    files = []
    for i, n in enumerate(sizes):
        path = f"checkpoints/FIX_{tag}/part{i}.bin"
        data = _payload(n, f"{tag}{i}")
        server.files[path] = data
        if blob and i == 0:
            gid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            files.append(ReleaseFile(path, len(data), git_blob=gid))
        else:
            files.append(ReleaseFile(path, len(data), sha256=hashlib.sha256(data).hexdigest()))
    rel = Release(model=model, tag=tag, files=tuple(files), urls=tuple(server.url(m) for m in modes),
                  source_repo="owner/repo", commit="0" * 40, folder=f"checkpoints/FIX_{tag}", importer="torch")
    cat.add(rel)
    return rel


@pytest.fixture(autouse=True)
def _forget_fixture_releases():
    yield
    cat._EXTRA.clear()


def _cached_bytes(rel, i):
    return cache.original_path(rel, rel.files[i]).read_bytes()


# --------------------------------------------------------------------------------------------- the catalogue
def test_catalogue_names_models_and_records_are_well_formed():
    from deblurkeras.registry import formats, model_names
    rels = releases.catalogue()
    names = [r.name for r in rels]
    assert len(names) == len(set(names))
    for want in ("dmphn-1-2-4:gopro", "dmphn-1-2-4-8:gopro", "stack-dmphn-2:gopro", "stack-dmphn-3:gopro",
                 "stack-dmphn-4:gopro", "srn-color:gopro", "srn-gray:gopro", "srn-lstm:gopro", "srresnet-x4:coco",
                 "srgan-x4:coco"):
        assert want in names
    for r in rels:
        assert r.model in model_names() and r.importer in formats() and r.files and r.license and r.reproduces
        if r.manual:
            assert not r.urls and r.note
            continue
        assert r.urls and all(u.startswith("https://") for u in r.urls) and HEX40.match(r.commit)
        for f in r.files:
            assert f.size > 0 and f.path.startswith(r.folder + "/")
            assert (f.sha256 and HEX64.match(f.sha256)) or (f.git_blob and HEX40.match(f.git_blob))
    sd4 = releases.get("stack-dmphn-4:gopro")
    assert len(sd4.files) == 24 and sd4.total_size == 86_901_580 and sd4.local_folder == "SDNet4"
    assert sd4.urls[0] == ("https://raw.githubusercontent.com/HongguangZhang/DMPHN-cvpr19-master/"
                           "9fff261daca8beb0cbaaa0b64df4239b5a05dd17/")


def test_srn_data_sizes_are_the_registered_parameter_counts_in_float32():
    """The .data sizes (not on record) cap the reads: 4 bytes per registered parameter (families/srn/releases.py)."""
    from deblurkeras.registry import entry
    for r in releases.catalogue():
        if r.family == "srn":
            data = [f for f in r.files if ".data-" in f.path]
            assert len(data) == 1 and data[0].git_blob and data[0].size == 4 * entry(r.model).params


def test_unknown_release_names_the_close_ones_and_paths_pass_unchanged(tmp_path):
    with pytest.raises(releases.UnknownReleaseError, match="did you mean stack-dmphn-4:gopro"):
        releases.get("stack-dmphn-4:gopr")
    with pytest.raises(releases.UnknownReleaseError, match="stack-dmphn-4:gopro"):
        releases.resolve("stack-dmphn-4:gopr")     # a registered model's MODEL:TAG: refused by name
    assert releases.is_release_name("stack-dmphn-4:gopro")
    assert not releases.is_release_name("stack-dmphn-4") and not releases.is_release_name("a.weights.h5")
    assert releases.resolve("some/file.weights.h5") == "some/file.weights.h5"
    odd = tmp_path / "stack-dmphn-4:gopro"              # an existing path is a path, whatever its name
    odd.write_bytes(b"")
    assert not releases.is_release_name(str(odd)) and releases.resolve(str(odd)) == str(odd)


def test_git_blob_id_is_what_git_computes(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"hello\n")
    assert releases.git_blob_id(p) == "git-blob:ce013625030ba8dba906f756967f9e9ca394464a"   # git hash-object


# --------------------------------------------------------------------------------------------- fetching
def test_dead_first_url_then_a_working_one(home, server, capsys):
    rel = _fixture_release(server, ["dead", "good"])
    folder = releases.fetch(rel.name, progress=False)
    assert folder == cache.original_dir(rel) and releases.is_cached(rel.name)
    assert _cached_bytes(rel, 0) == server.files[rel.files[0].path]
    err = capsys.readouterr().err
    assert f"{server.url('dead')}{rel.files[0].path}: HTTP 404" in err
    assert "fetching dmphn-1-2-4:fixture: 2 file(s), 0.1 MB" in err


def test_every_url_dead_one_line_per_url_then_the_from_command(home, server, capsys):
    rel = _fixture_release(server, ["dead", "dead"])
    assert main(["weights", "fetch", rel.name, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert sum("HTTP 404" in line for line in err) == 3          # two lines, then the error naming both
    assert err[-1].startswith("deblurkeras weights: error: dmphn-1-2-4:fixture: no source delivered")
    assert err[-1].endswith("`deblurkeras weights fetch dmphn-1-2-4:fixture --from DIR_OR_FILE`")
    assert not cache.original_dir(rel).exists()


def test_one_wrong_byte_never_enters_the_cache(home, server):
    rel = _fixture_release(server, ["bad"])
    with pytest.raises(releases.HashMismatchError) as e:
        releases.fetch(rel.name, progress=False)
    msg = str(e.value)
    f = rel.files[0]
    assert msg.startswith(f"{f.path}: ") and f"expected sha256:{f.sha256}" in msg and "received sha256:" in msg
    assert not cache.original_path(rel, f).exists() and not cache.part_path(f).exists()


def test_wrong_bytes_from_the_first_source_then_the_right_ones(home, server):
    rel = _fixture_release(server, ["bad", "good"], blob=True)      # also: a file known by its git blob id
    releases.fetch(rel.name, progress=False)
    assert releases.is_cached(rel.name) and len(server.requests("good")) == 2


def test_interrupted_transfer_resumes_with_a_range_request(home, server):
    rel = _fixture_release(server, ["cut"], sizes=(50_000,))
    with pytest.raises(releases.FetchError, match="connection (closed|lost) after"):
        releases.fetch(rel.name, progress=False)
    part = cache.part_path(rel.files[0])
    have = part.stat().st_size
    assert 0 < have < 50_000 and not cache.original_dir(rel).exists()
    releases.fetch(rel.name, progress=False)
    assert server.log[-1] == ("cut", rel.files[0].path, f"bytes={have}-")
    assert _cached_bytes(rel, 0) == server.files[rel.files[0].path] and not part.exists()


def test_a_server_sending_more_than_the_catalogue_size_is_cut_off(home, server):
    rel = _fixture_release(server, ["big"], sizes=(30_000,))
    with pytest.raises(releases.FetchError, match="sent more than the catalogue's 30,000 bytes: cut off"):
        releases.fetch(rel.name, progress=False)
    assert not cache.original_dir(rel).exists()


def test_a_stalled_server_times_out_and_the_next_fetch_resumes(home, server, monkeypatch):
    monkeypatch.setenv("DEBLURKERAS_TIMEOUT", "0.5")
    rel = _fixture_release(server, ["stall"], sizes=(40_000,))
    with pytest.raises(releases.FetchError, match="stalled: no data for 0.5 s after 20,000 of 40,000 bytes"):
        releases.fetch(rel.name, progress=False)         # (the server would stay silent for 3 s)
    rel2 = Release(**{**rel.__dict__, "urls": (server.url("good"),)})
    cat.add(rel2)
    releases.fetch(rel.name, progress=False)
    assert server.log[-1] == ("good", rel.files[0].path, "bytes=20000-") and releases.is_cached(rel.name)


def test_a_redirect_to_http_is_refused(home, server):
    rel = _fixture_release(server, ["redirect-http"], sizes=(1000,))
    with pytest.raises(releases.FetchError, match="refused a redirect to http://127.0.0.1"):
        releases.fetch(rel.name, progress=False)
    assert not server.requests("good")


def test_plain_http_is_refused_except_loopback_and_the_mirror(monkeypatch):
    from deblurkeras.releases import download
    with pytest.raises(download.RefusedURL, match="https only"):
        download.check_url("http://example.org/x")
    download.check_url("https://example.org/x")
    download.check_url("http://127.0.0.1:8000/x")
    monkeypatch.setenv("DEBLURKERAS_MIRROR", "http://mirror.internal/weights/")
    download.check_url("http://mirror.internal/weights/owner/repo/x")
    with pytest.raises(download.RefusedURL):
        download.check_url("http://mirror.internal.evil/weights/x")


def test_two_concurrent_fetchers_do_not_corrupt_each_other(home, server):
    rel = _fixture_release(server, ["slow"], sizes=(400_000, 300_000))
    errors = []

    def go():
        try:
            releases.fetch(rel.name, progress=False, announce=lambda line: None)
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and releases.is_cached(rel.name)
    assert len(server.requests("slow")) == 2          # each file fetched once: the second waited, then found them


def test_killed_mid_fetch_then_fetch_again_continues(home, server, tmp_path):
    """kill -9 of a fetching process: the .part it left is continued (Range) by the next fetch."""
    rel = _fixture_release(server, ["stall"], sizes=(60_000,))
    script = (f"import sys; sys.path.insert(0, {REPO!r})\n"
              "from deblurkeras import releases\nfrom deblurkeras.releases.entries import Release, ReleaseFile\n"
              f"releases.add(Release(model='dmphn-1-2-4', tag='fixture', files=(ReleaseFile({rel.files[0].path!r}, "
              f"60000, sha256={rel.files[0].sha256!r}),), urls=({server.url('stall')!r},), source_repo='owner/repo',"
              f" folder='checkpoints/FIX_fixture'))\nreleases.fetch('dmphn-1-2-4:fixture', progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "DEBLURKERAS_TIMEOUT": "30"},
                            stderr=subprocess.DEVNULL)
    part = cache.part_path(rel.files[0])
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size >= 30_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert part.stat().st_size == 30_000 and not cache.original_dir(rel).exists()
    cat.add(Release(**{**rel.__dict__, "urls": (server.url("good"),)}))
    releases.fetch(rel.name, progress=False)
    assert server.log[-1] == ("good", rel.files[0].path, "bytes=30000-") and releases.is_cached(rel.name)


def test_offline_never_opens_a_connection(home, server, monkeypatch, capsys):
    rel = _fixture_release(server, ["good"])
    monkeypatch.setenv("DEBLURKERAS_OFFLINE", "1")
    with pytest.raises(releases.OfflineError, match="offline mode"):
        releases.fetch(rel.name)
    assert main(["--offline", "weights", "fetch", rel.name]) == 2
    assert "opens no connection" in capsys.readouterr().err
    monkeypatch.delenv("DEBLURKERAS_OFFLINE")
    assert main(["deblur", "missing.png", "--weights", rel.name, "--out", str(home.parent / "o"), "--offline"]) == 2
    assert os.environ.get("DEBLURKERAS_OFFLINE") == "1"            # any verb takes --offline (checked before TF)
    assert server.log == []
    monkeypatch.delenv("DEBLURKERAS_OFFLINE")
    releases.fetch(rel.name, progress=False)
    monkeypatch.setenv("DEBLURKERAS_OFFLINE", "1")
    releases.fetch(rel.name)                     # in the cache: offline is fine
    assert len(server.log) == 2


def test_mirror_replaces_every_url(home, server, monkeypatch):
    rel = _fixture_release(server, ["dead"])
    monkeypatch.setenv("DEBLURKERAS_MIRROR", f"http://127.0.0.1:{server.port}/mirror")
    releases.fetch(rel.name, progress=False)
    assert releases.is_cached(rel.name) and not server.requests("dead")


def test_a_changed_cached_file_is_fetched_again(home, server):
    rel = _fixture_release(server, ["good"])
    releases.fetch(rel.name, progress=False)
    path = cache.original_path(rel, rel.files[1])
    path.write_bytes(b"changed")
    assert not releases.is_cached(rel.name)
    releases.fetch(rel.name, progress=False, announce=lambda line: None)
    assert releases.is_cached(rel.name) and len(server.log) == 3


# --------------------------------------------------------------------------------------------- --from, verify, CLI
def _hand_copy(server, rel, folder):
    for f in rel.files:
        p = folder / f.name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(server.files[f.path])
    return folder


def test_from_a_folder_verified_and_a_wrong_copy_refused(home, server, tmp_path, capsys):
    rel = _fixture_release(server, ["dead"])
    src = _hand_copy(server, rel, tmp_path / "mine")
    bad = (src / rel.files[1].name).read_bytes()
    (src / rel.files[1].name).write_bytes(bad[:-1] + b"?")
    assert main(["weights", "fetch", rel.name, "--from", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"not the release's {rel.files[1].path}: expected sha256:{rel.files[1].sha256}" in err
    assert not cache.original_dir(rel).exists()
    (src / rel.files[1].name).write_bytes(bad)
    assert main(["weights", "fetch", rel.name, "--from", str(src)]) == 0
    assert releases.is_cached(rel.name) and server.log == []
    assert main(["weights", "path", rel.name]) == 0
    assert capsys.readouterr().out.strip().endswith(str(cache.original_dir(rel)))


def test_manual_release_says_where_and_takes_a_copy_with_no_hash(home, tmp_path, capsys):
    assert main(["weights", "fetch", "srresnet-x4:coco"]) == 2
    err = capsys.readouterr().err
    assert "drive.google.com" in err and "weights fetch srresnet-x4:coco --from" in err
    mine = tmp_path / "checkpoint_srresnet.pth.tar"
    mine.write_bytes(b"a state dict, in truth")
    assert main(["weights", "fetch", "srresnet-x4:coco", "--from", str(mine)]) == 0
    assert "no hash on record" in capsys.readouterr().err and releases.is_cached("srresnet-x4:coco")
    cache.original_path(releases.get("srresnet-x4:coco"), releases.get("srresnet-x4:coco").files[0]).write_bytes(b"x")
    assert not releases.is_cached("srresnet-x4:coco")            # the recorded sha256 holds it


def test_verify_names_the_release_then_the_differing_file(home, server, tmp_path, capsys):
    rel = _fixture_release(server, ["good"], sizes=(5000, 6000, 7000))
    src = _hand_copy(server, rel, tmp_path / "copy")
    assert main(["weights", "verify", str(src)]) == 0
    out = capsys.readouterr().out
    assert "dmphn-1-2-4:fixture" in out and "3 of 3 files verified" in out
    (src / rel.files[2].name).write_bytes(b"y" * 7000)
    assert main(["weights", "verify", str(src)]) == 1
    out = capsys.readouterr().out
    assert "2 of 3 files verified" in out and f"{src / rel.files[2].name}: differs: received sha256:" in out
    assert main(["weights", "verify", str(src / rel.files[0].name)]) == 0          # one file, by content
    assert f"{rel.files[0].path} of the release dmphn-1-2-4:fixture" in capsys.readouterr().out
    other = _fixture_release(server, ["good"], tag="other", sizes=(3000,))
    both = tmp_path / "both"
    _hand_copy(server, rel, both / rel.local_folder)
    _hand_copy(server, other, both / other.local_folder)
    assert main(["weights", "verify", str(both)]) == 0                             # a parent folder: each named
    out = capsys.readouterr().out
    assert "dmphn-1-2-4:fixture (owner/repo@0000000), 3 of 3" in out and "dmphn-1-2-4:other" in out


def test_weights_list_shows_the_cache(home, server, capsys):
    rel = _fixture_release(server, ["good"])
    releases.fetch(rel.name, progress=False)
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dmphn-1-2-4:fixture\s+dmphn-1-2-4\s+2\s+0\.1 MB\s+owner/repo@0000000\s+verified", out)
    assert re.search(r"stack-dmphn-4:gopro\s+stack-dmphn-4\s+24\s+86\.9 MB\s+"
                     r"HongguangZhang/DMPHN-cvpr19-master@9fff261\s+-", out)
    assert main(["weights", "list", "--long"]) == 0
    out = capsys.readouterr().out
    assert "srn-color:gopro: tf1 importer" in out and "404 since February 2025" in out and "Set5 32.05" in out


def test_a_release_name_passes_the_cli_input_check_and_a_bad_tag_is_named(home, capsys):
    from deblurkeras import outputs
    from types import SimpleNamespace
    outputs.check_inputs(SimpleNamespace(weights="stack-dmphn-4:gopro"))
    with pytest.raises(releases.UnknownReleaseError, match="did you mean stack-dmphn-4:gopro"):
        outputs.check_inputs(SimpleNamespace(weights="stack-dmphn-4:gopr"))


def test_a_full_disk_leaves_the_cache_as_it_was(home, server, monkeypatch):
    import errno
    from deblurkeras.releases import download
    rel = _fixture_release(server, ["good"])
    real_open = open

    class Full:
        def __init__(self, *a):
            self.f = real_open(*a)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "open", Full, raising=False)
    with pytest.raises(releases.FetchError, match="cannot write .*No space left on device.*the cache is as it was"):
        releases.fetch(rel.name, progress=False)
    assert not cache.original_dir(rel).exists() and not cache.read_record(rel)
    monkeypatch.undo()
    monkeypatch.setenv("DEBLURKERAS_HOME", str(home))
    releases.fetch(rel.name, progress=False)
    assert releases.is_cached(rel.name)


def test_an_unwritable_cache_is_one_line(home, server, tmp_path, monkeypatch):
    rel = _fixture_release(server, ["good"])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DEBLURKERAS_HOME", str(blocker / "home"))
    with pytest.raises(releases.FetchError, match="cannot write the cache .*set DEBLURKERAS_HOME"):
        releases.fetch(rel.name, progress=False)
    assert releases.file_urls(rel, rel.files[0]) == [server.url("good") + rel.files[0].path]


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_onnx_engine_given_a_release_name_says_how_to_export_it(home, tmp_path, capsys, engine):
    """A release is the original's weights, not a graph: the ONNX engines say the export command, fetch nothing."""
    from PIL import Image
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    rc = main(["deblur", str(tmp_path / "a.png"), "--weights", "dmphn-1-2-4:gopro", "--engine", engine,
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "export-onnx --weights dmphn-1-2-4:gopro --out dmphn-1-2-4-gopro.onnx" in err and engine in err
    assert not (tmp_path / "out").exists() and not home.exists()
