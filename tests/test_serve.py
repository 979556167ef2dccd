"""`deblurkeras serve` in a real browser: Playwright for Python driving Debian's Chromium against one server.

The page's PNG must equal `deblurkeras deblur --ext png` of the same photo and weights byte for byte; bad uploads
get one line on the page and leave the server answering; no request of the page leaves loopback. The server runs
with a small memory budget (40M) and pixel cap (2M) so that tiling, "over the budget" and "decompression bomb"
are reached with small files.
Without Chromium, Playwright or Gradio these tests skip with the reason; under CI=true a missing one is a failure
(.ci/run installs Chromium). DEBLURKERAS_SCREENSHOT=PATH writes the page's screenshot there (README picture).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

from conftest import REPO

CHROMIUM = os.environ.get("DEBLURKERAS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BUDGET, MAX_PIXELS, MAX_UPLOAD = "20M", 2_000_000, "1mb"
JOB_TIMEOUT_MS = 180_000


def _require(what, present, how):
    """Skip with one line where `what` is missing; under CI=true that is a failure (CI installs it)."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing under CI=true ({how})")
    pytest.skip(f"{what} not available ({how})")


def _has_module(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Tiny weights (random, saved with deblurkeras.weights.save) and the photos the tests upload."""
    _require("Gradio", _has_module("gradio"), "pip install 'deblurkeras[web]'")
    _require("Playwright", _has_module("playwright"), "pip install 'deblurkeras[web]'")
    _require("Chromium", os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK), "apt-get install chromium")
    from PIL import Image

    from deblurkeras import weights
    from deblurkeras.registry import build_model

    d = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    files = {
        "dmphn": weights.save(build_model("dmphn-1-2-4"), d / "dmphn.weights.h5"),
        "srn": weights.save(build_model("srn-color"), d / "srn.weights.h5"),
        "sr": weights.save(build_model("srresnet-x4", channels=8, n_blocks=1), d / "sr.weights.h5"),
    }
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(d / "photo.png")
    # EXIF orientation 6 (rotate 90 degrees): a portrait photo after the rotation, so SRN also transposes it
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(d / "rotated.jpg", exif=exif,
                                                                                quality=90)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(d / "small.png")  # x4 within 40M
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(d / "big.png")  # 4 tiles at 20M
    (d / "notes.png").write_text("this is not an image\n")
    full = (d / "photo.png").read_bytes()
    (d / "truncated.png").write_bytes(full[: len(full) // 2])
    Image.new("L", (1500, 1500)).save(d / "bomb.png")          # 2.25 MP declared > --max-pixels 2M
    Image.new("L", (1400, 1400)).save(d / "huge.png")          # 1.96 MP: over the 40M budget even in tiles
    (d / "large.bin.png").write_bytes(rng.integers(0, 256, 1_500_000, dtype=np.uint8).tobytes())  # > 1mb upload
    files.update({p.stem.split(".")[0]: d / p.name for p in d.glob("*.png")}, rotated=d / "rotated.jpg")
    return {k: str(v) for k, v in files.items()}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(assets, tmp_path_factory):
    """One `deblurkeras serve` for the module, its temporary files under a folder the test owns (TMPDIR)."""
    tmp = tmp_path_factory.mktemp("serve_tmp")
    port = _free_port()
    # an empty release cache, offline: the picker lists the releases to fetch, and fetching one fails on the page
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp), DEBLURKERAS_HOME=str(tmp / "home"),
               DEBLURKERAS_OFFLINE="1")
    cmd = [sys.executable, "-m", "deblurkeras.cli", "serve", "--port", str(port), "--max-memory", BUDGET,
           "--max-pixels", str(MAX_PIXELS), "--max-upload", MAX_UPLOAD,
           "--weights", assets["dmphn"], assets["srn"], assets["sr"]]
    log = open(tmp.parent / "serve.log", "w+")  # noqa: SIM115 - read at teardown
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"serve did not come up: {log.read()[-2000:]}")
        time.sleep(0.5)
    yield {"url": url, "tmp": tmp, "proc": proc, "log": log}
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.seek(0)
    text = log.read()
    log.close()
    assert "Traceback" not in text, text[-3000:]
    assert not list(tmp.glob("deblurkeras-serve-*")), "the server left its temporary folder behind"


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One browser tab on the page; every request it makes is recorded, and any leaving loopback is aborted."""

    def __init__(self, browser, url):
        self.context = browser.new_context(accept_downloads=True)
        self.outside = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.goto(url)
        self.page.wait_for_selector("#run")

    def _route(self, route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def choose(self, label_start):
        self.page.click("#model input")
        self.page.get_by_role("option").filter(has_text=label_start).first.click()

    def upload(self, path):
        self.page.set_input_files("#photo input[type=file]", path)

    def paste(self, path):
        """Ctrl-V of an image file: a paste event carrying the file, as the browser makes it from the clipboard."""
        self.page.evaluate("""([name, bytes]) => { const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
            document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true})); }""",
                           [os.path.basename(path), list(open(path, "rb").read())])

    def wait_uploaded(self, path):
        """Until the file component lists the file (the name may be split over elements: "big" ".png")."""
        self.page.wait_for_function("n => document.querySelector('#photo').innerText.replace(/\\s+/g, '').includes(n)",
                                    arg=os.path.basename(path), timeout=30_000)

    def start(self):
        self.page.click("#run")

    def status(self):
        """The status line once the job has finished (a result, or an error)."""
        self.page.wait_for_function(
            "() => /tiled:|Error/.test(document.querySelector('#status').innerText)", timeout=JOB_TIMEOUT_MS)
        return self.page.inner_text("#status")

    def download(self):
        with self.page.expect_download() as d:
            self.page.click("#download")
        return d.value.suggested_filename, open(d.value.path(), "rb").read()

    def close(self):
        self.context.close()
        assert not self.outside, f"the page asked for outside hosts: {self.outside}"


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server["url"])
    yield t
    t.close()


def _deblur_cli(photo, weights, out, *extra):
    """`deblurkeras deblur` of one photo as PNG (in this process: the CLI's own main) -> the file's bytes."""
    from deblurkeras.cli import main
    assert main(["deblur", photo, "--weights", weights, "--out", str(out), "--ext", "png", "--precision", "auto",
                 *extra]) == 0
    return (out / (os.path.splitext(os.path.basename(photo))[0] + ".png")).read_bytes()


def _upscale_cli(photo, weights, out):
    """`deblurkeras upscale` of one photo (the verb for x4 models: `deblur` refuses them) -> the PNG's bytes."""
    from deblurkeras.cli import main
    assert main(["upscale", photo, "--weights", weights, "--out", str(out), "--precision", "auto"]) == 0
    return (out / (os.path.splitext(os.path.basename(photo))[0] + "_x4.png")).read_bytes()


def _through_page(tab, photo, model_label=None):
    if model_label:
        tab.choose(model_label)
    tab.upload(photo)
    tab.wait_uploaded(photo)
    tab.start()
    status = tab.status()
    assert "Error" not in status, status
    return status, tab.download()


def _sessions_empty(server):
    """No session folder and no upload left in the server's temporary folder."""
    root = next(server["tmp"].glob("deblurkeras-serve-*"))
    left = [p for p in root.rglob("*") if p.is_file() and p.parent != root]  # Gradio's own files lie at the top
    return not left, left


# ------------------------------------------------------------------------------------------------ default set
def test_page_png_equals_deblur_cli_dmphn(browser, server, assets, tmp_path):
    """A DMPHN photo through the page equals `deblurkeras deblur` byte for byte; the tab's files go when it closes;
    a non-image upload says so on the page; the server answers afterwards; nothing leaves loopback."""
    cli = _deblur_cli(assets["photo"], assets["dmphn"], tmp_path / "cli")  # first: the server warms up meanwhile
    tab = Tab(browser, server["url"])
    status, (name, png) = _through_page(tab, assets["photo"])
    assert name == "photo_deblurred.png"
    assert "dmphn-1-2-4: 48x64 -> 48x64 px (HxW)" in status and "tiled: no" in status and "precision auto" in status
    assert png == cli
    if os.environ.get("DEBLURKERAS_SCREENSHOT"):
        tab.page.screenshot(path=os.environ["DEBLURKERAS_SCREENSHOT"], full_page=True)
    tab.close()
    deadline = time.monotonic() + 15  # the unload request arrives after the tab is gone
    while not _sessions_empty(server)[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sessions_empty(server)[0], _sessions_empty(server)[1]

    bad = Tab(browser, server["url"])
    bad.upload(assets["notes"])
    bad.wait_uploaded(assets["notes"])
    bad.start()
    status = bad.status()
    assert "Error" in status and "notes.png: not an image" in status, status
    assert str(server["tmp"]) not in status  # the server's own paths are not shown
    bad.close()
    assert _answers(server["url"]) and server["proc"].poll() is None


# ------------------------------------------------------------------------------------------------ slow set
@pytest.mark.slow
def test_page_png_equals_deblur_cli_srn_exif(tab, assets, tmp_path):
    """SRN on a JPEG with EXIF orientation 6: rotated as the CLI does (then transposed, SRN's convention)."""
    status, (name, png) = _through_page(tab, assets["rotated"], "srn.weights.h5")
    assert "srn-color: 48x32 -> " in status.replace("*", ""), status
    assert png == _deblur_cli(assets["rotated"], assets["srn"], tmp_path / "cli")


@pytest.mark.slow
def test_page_sr_x4_and_tiled_photo_equal_cli(browser, server, assets, tmp_path):
    """The x4 model gives the x4 PNG of `upscale` (for a pasted photo); a photo over the memory budget runs in tiles,
    counted, and still equals the CLI with the same budget."""
    tab = Tab(browser, server["url"])
    tab.choose("sr.weights.h5")
    tab.paste(assets["small"])  # pasted, not dropped: the same path
    tab.wait_uploaded(assets["small"])
    tab.start()
    status = tab.status()
    name, png = tab.download()
    assert name == "small_x4.png" and "24x32 -> 96x128" in status.replace("*", ""), status
    assert png == _upscale_cli(assets["small"], assets["sr"], tmp_path / "sr")
    tab.close()
    tab = Tab(browser, server["url"])
    tab.upload(assets["big"])
    tab.wait_uploaded(assets["big"])
    # the progress counts the tiles (the CLI's tqdm bar, tracked by Gradio): every DOM change is looked at
    tab.page.evaluate("""() => { window.tileTexts = [];
        new MutationObserver(() => { const m = document.body.innerText.match(/\\d+\\/4 tile/);
            if (m) window.tileTexts.push(m[0]); }).observe(document.body,
            {subtree: true, childList: true, characterData: true}); }""")
    tab.start()
    status = tab.status()
    assert "tiled: yes, 4 tiles" in status.replace("*", ""), status
    # the page draws at most one frame per display refresh: a run that ends within a few frames (an idle machine,
    # tiny weights) can finish before any count is drawn; one that lasts a second must have shown the count
    took = float(re.search(r"in ([0-9.]+) s", status.replace("*", "")).group(1))
    if took >= 1.0:
        assert tab.page.evaluate("() => window.tileTexts"), f"no tile count (n/4 tile) was shown in {took} s"
    name, png = tab.download()
    assert png == _deblur_cli(assets["big"], assets["dmphn"], tmp_path / "big", "--max-memory", BUDGET)
    tab.close()


@pytest.mark.slow
@pytest.mark.parametrize("photo, message", [
    ("truncated", "truncated.png: truncated or corrupt image data"),
    ("bomb", "bomb.png: decompression-bomb sized image"),
    ("huge", "huge.png: 1400x1400 (HxW) needs"),
])
def test_hostile_upload_said_on_page_server_stays_up(tab, server, assets, photo, message):
    tab.upload(assets[photo])
    tab.wait_uploaded(assets[photo])
    tab.start()
    status = tab.status()
    assert "Error" in status and message in status, status
    assert _answers(server["url"]) and server["proc"].poll() is None


@pytest.mark.slow
def test_release_not_fetchable_offline_said_on_page(tab, server, assets):
    """A catalogued release not in the cache, with DEBLURKERAS_OFFLINE=1: the page says so; the server stays up."""
    tab.choose("srn-color:gopro (download")
    tab.upload(assets["photo"])
    tab.wait_uploaded(assets["photo"])
    tab.start()
    status = tab.status()
    assert "Error" in status and "srn-color:gopro: not in the cache" in status and "offline" in status, status
    assert _answers(server["url"]) and server["proc"].poll() is None


@pytest.mark.slow
def test_upload_over_the_limit_refused(tab, server, assets):
    """A file over --max-upload never reaches a job: the page refuses it and the server answers on."""
    tab.upload(assets["large"])
    tab.page.get_by_text("exceed", exact=False).first.wait_for(timeout=30_000)
    tab.start()
    assert "choose a photo first" in tab.status()
    assert _answers(server["url"])


@pytest.mark.slow
def test_two_tabs_second_waits_its_turn(browser, server, assets, tmp_path):
    """Two tabs at once: one job at a time; the second is told it waits, then gets its own correct result."""
    first, second = Tab(browser, server["url"]), Tab(browser, server["url"])
    first.upload(assets["big"])
    second.upload(assets["photo"])
    first.wait_uploaded(assets["big"])
    second.wait_uploaded(assets["photo"])
    first.start()
    second.start()
    second.page.wait_for_function("() => /Waiting|tiled:/.test(document.querySelector('#status').innerText)")
    assert "Waiting: 1 job is ahead of yours" in second.page.inner_text("#status")
    assert "Error" not in first.status() and "Error" not in second.status()
    assert second.download()[1] == _deblur_cli(assets["photo"], assets["dmphn"], tmp_path / "cli")
    assert first.download()[1] == _deblur_cli(assets["big"], assets["dmphn"], tmp_path / "big", "--max-memory",
                                              BUDGET)
    first.close()
    second.close()


# ------------------------------------------------------------------------------------------------ no browser
class _Release:
    def __init__(self, name, manual=False, total_size=0):
        self.name, self.model, self.manual, self.total_size = name, name.split(":")[0], manual, total_size


class _Catalogue:
    """A release catalogue the test controls (deblurkeras.releases' API)."""

    def __init__(self, cached):
        self.cached = set(cached)

    def catalogue(self):
        return [_Release("srn-color:gopro", total_size=27_000_000), _Release("stack-dmphn-4:gopro"),
                _Release("dense-gan:gopro", manual=True), _Release("dmphn-1-2-4-8:gopro", manual=True)]

    def is_cached(self, name):
        return name in self.cached

    def is_release_name(self, text):
        return ":" in text and not os.path.exists(text)

    def resolve(self, name, offline=None, progress=True):
        from deblurkeras.errors import DeblurKerasError
        raise DeblurKerasError(f"{name}: not in the cache and --offline: cannot fetch it")


def test_real_catalogue_listed_to_fetch(tmp_path, monkeypatch):
    """With deblurkeras.releases and an empty cache: every release that is not manual-only, to download."""
    from deblurkeras import releases
    from deblurkeras.serve.jobs import model_choices, releases_api
    monkeypatch.setenv("DEBLURKERAS_HOME", str(tmp_path))
    assert releases_api() is releases
    want = [r.name for r in releases.catalogue() if not r.manual]
    got = model_choices([], releases_api())
    assert [c.source for c in got] == want and all("(download" in c.label and c.release for c in got)


def test_model_list_and_client_values_never_paths(tmp_path):
    """Files first, then cached releases, then fetchable ones (manual-only releases left out, --offline lists none
    to fetch); a label the server did not offer (a path) is refused, never opened; an unfetchable release is one
    line; a session's folder and uploads go at its end."""
    from deblurkeras.errors import BadInputError, DeblurKerasError
    from deblurkeras.serve import Server
    from deblurkeras.serve.jobs import Models, Sessions, error_line, model_choices

    w = tmp_path / "mine.weights.h5"
    w.write_bytes(b"")
    api = _Catalogue(cached={"dmphn-1-2-4-8:gopro"})
    labels = [c.label for c in model_choices([str(w)], api)]
    assert labels == ["mine.weights.h5 (file)", "dmphn-1-2-4-8:gopro (cached)", "srn-color:gopro (download 27 MB)",
                      "stack-dmphn-4:gopro (download size unknown)"]
    offline = model_choices([str(w)], api, fetchable=False)
    assert [c.label for c in offline] == labels[:2]
    server = Server(offline, Models(api, offline=True), Sessions(tmp_path), 1 << 30, 0)
    for bad in (str(w), "/etc/passwd", "../mine.weights.h5"):
        with pytest.raises(BadInputError, match="unknown model"):
            server.choice(bad)
    with pytest.raises(BadInputError, match="unknown precision"):
        server.precision("/tmp/x")
    rel = model_choices([], api)[1]
    with pytest.raises(DeblurKerasError) as e:
        Models(api, offline=True).get(rel, "float32")
    assert error_line(e.value) == "srn-color:gopro: not in the cache and --offline: cannot fetch it"

    sessions = Sessions(tmp_path)
    job = sessions.new_job_folder("abc123")
    open(os.path.join(job, "r.png"), "wb").close()
    up = tmp_path / "f00d" / "photo.png"
    up.parent.mkdir()
    up.write_bytes(b"x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes(b"keep")
    assert sessions.upload("abc123", up) == str(up)
    for path in (outside, tmp_path / ".." / outside.name, tmp_path / "no-such.png"):  # never read, never removed
        with pytest.raises(BadInputError, match="not a file this server received"):
            sessions.upload("abc123", path)
    sessions.end("abc123")
    assert not os.path.exists(os.path.dirname(job)) and not up.parent.exists() and outside.exists()
    with pytest.raises(BadInputError):
        sessions.folder("../x")
    outside.unlink()


@pytest.mark.parametrize("argv, message", [
    (["--weights", "/no/such.weights.h5"], "no such file"),
    (["--weights", "{w}", "--max-upload", "lots"], "--max-upload 'lots'"),
    (["--weights", "{w}", "--max-memory", "junk"], "--max-memory 'junk'"),
    (["--weights", "{w}", "--max-pixels", "-1"], "--max-pixels -1"),
])
def test_bad_start_options_are_one_line(tmp_path, argv, message):
    """Refused before Gradio or TensorFlow loads (the CLI prints the line and exits 2)."""
    import argparse

    from deblurkeras.errors import BadInputError
    from deblurkeras.serve import add_arguments, make_server
    w = tmp_path / "m.weights.h5"
    w.write_bytes(b"")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([a.format(w=w) for a in argv])
    with pytest.raises(BadInputError, match=message.replace("(", r"\(")):
        make_server(args, str(tmp_path))
