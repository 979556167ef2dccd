"""The Gradio page of `deblurkeras serve` (the work itself is in jobs.py).

Layout: model picker + precision; the photo (a file drop: the upload reaches our decoder untouched, so a bad file
gets our one-line message and EXIF is applied once, by the same code as the CLI); Deblur; a status line; a
before/after `gr.ImageSlider`; a button downloading the full-resolution PNG.
One job at a time (`concurrency_limit=1`: a job uses every core and up to --max-memory); a tab whose job waits is
told how many are ahead of it before its job is queued.
"""
import threading
import traceback

import gradio as gr

from ..errors import BadInputError, DeblurKerasError
from .jobs import PRECISIONS, deblur_upload, error_line, safe_stem

# System fonts only: the default theme would load Google Fonts, and nothing may leave the machine.
FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
THEME = gr.themes.Default(font=FONTS, font_mono=MONO)

# Paste (Ctrl-V) of an image anywhere on the page: the clipboard's file is handed to the photo's file input, so a
# pasted image takes the same path as a dropped one (one decoder, ours).
PASTE_JS = """() => { document.addEventListener('paste', (e) => {
    const files = e.clipboardData ? e.clipboardData.files : null;
    const input = document.querySelector('#photo input[type=file]');
    if (!files || !files.length || !input) return;
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    input.files = dt.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
    e.preventDefault();
}); }"""


class Waiting:
    """Jobs accepted and not yet finished, per session (so a tab closed while waiting does not count forever)."""

    def __init__(self):
        self._jobs, self._lock = {}, threading.Lock()

    def join(self, session):
        with self._lock:
            ahead = sum(self._jobs.values())
            self._jobs[session] = self._jobs.get(session, 0) + 1
            return ahead

    def leave(self, session, all_jobs=False):
        with self._lock:
            n = 0 if all_jobs else self._jobs.get(session, 0) - 1
            if n > 0:
                self._jobs[session] = n
            else:
                self._jobs.pop(session, None)


def build(server):
    """The gr.Blocks of the page for a `Server` (deblurkeras.serve)."""
    waiting = Waiting()
    labels = [c.label for c in server.choices]

    def queue_note(request: gr.Request):
        ahead = waiting.join(request.session_hash)
        if not ahead:
            return "**Starting** ..."
        jobs = "1 job is" if ahead == 1 else f"{ahead} jobs are"
        return f"**Waiting**: {jobs} ahead of yours (one job at a time on this server); yours starts after them."

    def run_job(upload, label, precision, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        session = request.session_hash
        try:
            if not upload:
                raise BadInputError("choose a photo first")
            upload = server.sessions.upload(session, upload)
            name = _orig_name(upload)
            choice = server.choice(label)
            progress(0.0, desc=f"loading {choice.source}")
            entry = server.models.get(choice, server.precision(precision))
            progress(0.2, desc="deblurring")
            out_dir = server.sessions.new_job_folder(session)
            result = deblur_upload(upload, name, entry, server.budget, server.max_pixels, out_dir, safe_stem(name))
            return ((result.before, result.png), result.summary(),
                    gr.update(value=result.png, interactive=True, label=f"Download {result.png.rsplit('/', 1)[-1]}"))
        except Exception as e:  # noqa: BLE001 - the page says what went wrong, the server stays up
            if not isinstance(e, DeblurKerasError):
                traceback.print_exc()  # a bug, not the user's input: the log gets the whole story
            return None, f"**Error**: {error_line(e)}", gr.update(value=None, interactive=False)
        finally:
            waiting.leave(session)

    def end(request: gr.Request):
        waiting.leave(request.session_hash, all_jobs=True)
        server.sessions.end(request.session_hash)

    with gr.Blocks(title="deblurkeras", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("## deblurkeras: deblur a photo\nPick a model, drop one photo (or paste it), press **Deblur**. "
                    "The PNG you download is what `deblurkeras deblur` writes for the same photo and weights.")
        with gr.Row():
            model = gr.Dropdown(labels, value=labels[0] if labels else None, label="Model", elem_id="model")
            precision = gr.Dropdown(list(PRECISIONS), value="auto", label="Precision", elem_id="precision")
        photo = gr.File(label="Photo (drop a file or click)", file_count="single", type="filepath", elem_id="photo")
        go = gr.Button("Deblur", variant="primary", elem_id="run")
        status = gr.Markdown("", elem_id="status")
        slider = gr.ImageSlider(label="Before / after", type="filepath", interactive=False, elem_id="slider")
        download = gr.DownloadButton("Download PNG", interactive=False, elem_id="download")
        go.click(queue_note, None, status, queue=False).then(
            run_job, [photo, model, precision], [slider, status, download], concurrency_limit=1,
            concurrency_id="job", show_progress="full")
        demo.unload(end)
    return demo


def _orig_name(path):
    """Gradio stores an upload as <cache>/<hash>/<the client's name>: that name, for messages and the download."""
    import os
    return os.path.basename(str(path))
