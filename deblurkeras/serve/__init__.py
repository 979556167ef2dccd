"""`deblurkeras serve`: a web page to deblur one photo - pick a model, drop a photo, compare before and after on a
slider, download the full-resolution PNG (byte for byte what `deblurkeras deblur --ext png` writes).

    deblurkeras serve --weights RELEASE_OR_FILE [...] [--host 127.0.0.1] [--port 7860]

Needs the `web` extra (`pip install 'deblurkeras[web]'`: Gradio). Safe by default:
  - listens on 127.0.0.1 (this machine only) unless --host says otherwise: the page runs models on the server's CPU
    and memory for whoever reaches it, and it has no accounts;
  - uploads are capped (--max-upload), pictures by their declared pixels (--max-pixels) and each job by the memory
    budget (--max-memory: tiles, as the CLI); one job at a time;
  - the client names a model by its label in the server's own list; no client value is ever used as a path;
  - every file lives in a private temporary folder (GRADIO_TEMP_DIR, mode 0700): a session's upload and results
    go when its tab closes, the folder when the server stops;
  - no call leaves the machine: Gradio's analytics and version check are off, the theme uses system fonts only
    (the default one loads Google Fonts), Hugging Face Hub is offline.
Module layout: jobs.py (the work, no Gradio), page.py (the Gradio page).
"""
import os
import re
import shutil
import sys
import tempfile

from ..errors import BadInputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD = "64mb"   # a 12 MP PNG is ~36 MB; a 16-bit one about twice that would need --max-upload


def add_arguments(parser):
    from ..imageio import DEFAULT_MAX_PIXELS
    parser.add_argument("--weights", nargs="+", default=[], metavar="RELEASE_OR_FILE",
                        help="models to offer first: weight files (.weights.h5 / .keras / an original checkpoint) "
                             "or release names; the cached and fetchable releases are listed after them")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 opens the "
                             "page, and this machine's CPU, to the network)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--max-upload", default=DEFAULT_MAX_UPLOAD, metavar="SIZE",
                        help=f"largest upload accepted, e.g. 64mb, 200mb (default {DEFAULT_MAX_UPLOAD})")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget of one job, as deblur's (default: half the available memory); a photo "
                             "over it runs in tiles")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse photos declaring more pixels, before decoding (default {DEFAULT_MAX_PIXELS})")
    parser.add_argument("--offline", action="store_true",
                        help="never download: list only the --weights files and the releases already cached")


class Server:
    """What the page's handlers share: the model list, the loaded models, the sessions' folders, the limits."""

    def __init__(self, choices, models, sessions, budget, max_pixels):
        self.choices, self.models, self.sessions = choices, models, sessions
        self.budget, self.max_pixels = budget, max_pixels
        self._by_label = {c.label: c for c in choices}

    def choice(self, label):
        """The server's entry for a picker label; anything else (a path, say) is refused, never opened."""
        if label not in self._by_label:
            raise BadInputError(f"unknown model {str(label)[:80]!r}; pick one from the list")
        return self._by_label[label]

    def precision(self, name):
        from .jobs import PRECISIONS
        if name not in PRECISIONS:
            raise BadInputError(f"unknown precision {str(name)[:40]!r}; expected one of {', '.join(PRECISIONS)}")
        return name


def _quiet_gradio(temp_dir):
    """Environment for a Gradio that calls nobody: set before gradio is first imported."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["GRADIO_TEMP_DIR"] = temp_dir


def _require_gradio():
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise BadInputError("serve needs Gradio: pip install 'deblurkeras[web]'") from None


def make_server(args, temp_dir):
    from .. import memory
    from .jobs import Models, Sessions, check_weights_args, model_choices, releases_api

    api = releases_api()
    check_weights_args(args.weights, api)
    choices = model_choices(args.weights, api, fetchable=not args.offline)
    if not choices:
        raise BadInputError("no model to offer: pass --weights FILE (or a release name)")
    if not re.fullmatch(r"\s*\d+\s*([kmgt]?b)?\s*", str(args.max_upload), re.IGNORECASE):
        raise BadInputError(f"--max-upload {args.max_upload!r}: expected a size like 64mb, 500kb or 1gb")
    if args.max_pixels < 0:
        raise BadInputError(f"--max-pixels {args.max_pixels}: expected >= 0 (0: no cap)")
    return Server(choices, Models(api, offline=True if args.offline else None), Sessions(temp_dir),
                  memory.parse_budget(args.max_memory), args.max_pixels)


def run(args):
    temp_dir = tempfile.mkdtemp(prefix="deblurkeras-serve-")  # mode 0700: ours alone
    try:
        _quiet_gradio(temp_dir)
        server = make_server(args, temp_dir)
        _require_gradio()
        from .page import PASTE_JS, THEME, build
        demo = build(server)
        server.models.warm_up(server.choices[0], "auto")  # the picker's default model, at the page's default precision
        where = "this machine only" if args.host in ("127.0.0.1", "localhost", "::1") else "the network"
        print(f"deblurkeras serve: http://{args.host}:{args.port}/ ({where}; {len(server.choices)} models; "
              "Ctrl-C stops it)", file=sys.stderr, flush=True)
        try:
            demo.queue(default_concurrency_limit=1).launch(
                server_name=args.host, server_port=args.port, share=False, inbrowser=False, ssr_mode=False,
                max_file_size=args.max_upload, theme=THEME, js=PASTE_JS, footer_links=[], quiet=True, show_error=False)
        except OSError as e:
            raise BadInputError(f"--host {args.host} --port {args.port}: cannot listen ({e})") from None
        return 0
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
