"""Video in, video out for `deblur` and `upscale` (issue 29): every frame through the image path, timing and sound kept.

Why PyAV (the `[video]` extra) rather than imageio-ffmpeg: PyAV's wheel carries FFmpeg's libraries (libx264 and
ffv1 encoders included) and gives stream-level access - each frame's own timestamp (variable frame rate kept
exactly), the display-matrix side data (rotation), and packets, so audio streams are copied into the output
without re-encoding. imageio-ffmpeg pipes raw frames to and from an `ffmpeg` executable: no per-frame timestamps,
no packet copy.

This module is what the CLI needs before a model loads and without PyAV: which inputs are videos, the output names,
the options, the dispatch. The work itself is in `deblurkeras.video.stream` (PyAV) and `deblurkeras.video.job`.

How a video runs (`job.run_video`):
  1. decode the first video stream frame by frame, to uint8 RGB with the stream's own colour matrix and range;
  2. each frame goes through `inference.run_image`, exactly what an image takes (padding, transposition, tiling
     and the memory budget, precision, the uint8 conversion): a lossless `--codec` gives frame k == `deblur` of
     frame k saved as PNG, bit for bit;
  3. frames are encoded with their own timestamps in segments of `--segment` frames, each a small file in a
     hidden work folder beside the output (`OUT/.NAME.EXT.resume/`), written atomically;
  4. when every segment is there, their packets and the input's audio packets (untouched) are muxed, in time order,
     into a temporary file renamed onto `OUT/NAME.EXT`: a file under the final name is always complete. `--resume`
     continues a killed run from its last finished segment; the result is the same file an uninterrupted run writes.
Memory stays flat: one frame in the model, the encoder's look-ahead, packets streamed through.
"""
import os

from ..errors import DeblurKerasError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                    ".wmv", ".flv", ".3gp", ".ogv", ".nut")
INSTALL_HINT = "pip install 'deblurkeras[video]'"


def is_video_name(name):
    return os.path.basename(os.fspath(name)).lower().endswith(VIDEO_EXTENSIONS)


def split_inputs(inputs):
    """(images, videos): the paths `imageio.list_images` gives, less the video files, and the video files named or
    found in the folders given (sorted, hidden files left out). Explicit files keep their place in the lists."""
    from ..imageio import list_images

    images, videos = [], []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            videos += [os.path.join(item, n) for n in sorted(os.listdir(item))
                       if is_video_name(n) and not n.startswith(".") and os.path.isfile(os.path.join(item, n))]
            images += list_images([item])
        elif is_video_name(item):
            videos.append(item)
        else:
            images.append(item)
    return images, videos


def require_av():
    """The PyAV module, or one line saying how to install it."""
    try:
        import av
    except ImportError:
        raise DeblurKerasError(f"video input needs PyAV: {INSTALL_HINT}") from None
    return av


def add_arguments(parser):
    """The options of video inputs (ignored for images), shared by deblur and upscale."""
    g = parser.add_argument_group("video inputs (mp4, mov, mkv, avi, webm, ...; needs the [video] extra)")
    g.add_argument("--codec", default="libx264", choices=sorted(CODECS),
                   help="video encoder: libx264 (H.264 yuv420p, the default), libx264rgb or ffv1 (lossless RGB: "
                        "frame k equals the image path's output bit for bit)")
    g.add_argument("--crf", type=int, default=None,
                   help=f"libx264 quality, 0-51, lower is better (default {DEFAULT_CRF})")
    g.add_argument("--preset", default="medium", help="libx264 / libx264rgb speed preset (default medium)")
    g.add_argument("--frames", default=None, metavar="START:END",
                   help="only frames START..END-1 (0-based; either side may be left out); output timestamps start "
                        "at the first one, audio is cut to the same span at packet boundaries")
    g.add_argument("--segment", type=int, default=DEFAULT_SEGMENT, metavar="N",
                   help=f"frames per segment: the unit --resume continues from, each starts a key frame "
                        f"(default {DEFAULT_SEGMENT})")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run of the same video and options from its last finished segment")
    g.add_argument("--strict", action="store_true",
                   help="stop on a frame that does not decode (default: process the frames that decode and say how "
                        "many were lost)")
    g.add_argument("--batch", type=int, default=1, metavar="N",
                   help="frames per model call (default 1; see the README for what batching gives)")


# encoder -> (pixel format, lossless, containers it may be muxed into)
CODECS = {
    "libx264": ("yuv420p", False, (".mp4", ".mov", ".mkv")),
    "libx264rgb": ("rgb24", True, (".mp4", ".mov", ".mkv")),
    "ffv1": ("bgr0", True, (".mkv", ".mp4")),
}
DEFAULT_CRF = 12  # the smallest that kept every GoPro frame >= 40 dB against the image path (README)
DEFAULT_SEGMENT = 120
# audio codecs mp4 / mov carry (anything else goes to .mkv); mkv carries all
_MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"}
_MOV_AUDIO = _MP4_AUDIO | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le", "pcm_u8", "pcm_mulaw", "pcm_alaw"}


def container_ext(src, codec, audio_codecs=(), ext=None):
    """The output container: `ext` if given (a video extension), else the input's own when it is mp4 / mov / mkv and
    can hold the codec and the audio, else .mp4 when it can (webm, avi, ...), else .mkv."""
    if ext:
        return "." + ext.lstrip(".").lower()
    own = os.path.splitext(os.fspath(src))[1].lower()
    own = {".m4v": ".mp4"}.get(own, own)
    for cand in (own, ".mp4", ".mkv"):
        if cand not in CODECS[codec][2]:
            continue
        audio_ok = {".mp4": _MP4_AUDIO, ".mov": _MOV_AUDIO}.get(cand)
        if audio_ok is None or all(a in audio_ok for a in audio_codecs):
            return cand
    return ".mkv"


def video_ext_arg(args):
    """`--ext` when it names a video container (mp4, mov, mkv), else None (an image --ext is for the images)."""
    ext = getattr(args, "ext", None)
    if ext and "." + ext.lstrip(".").lower() in (".mp4", ".mov", ".mkv"):
        return ext
    return None


def planned_output(out_dir, src, stem, args, audio_codecs=()):
    """OUT/<stem(src)><container ext>: what `deblur` / `upscale` write for the video `src`."""
    return os.path.join(out_dir, stem(src) + container_ext(src, args.codec, audio_codecs, video_ext_arg(args)))


def dispatch(args, verb, run_images, prepare, stem):
    """The verbs' hook: no video among the inputs -> `run_images(args)` as before. Else the videos run here
    (`prepare(args)` -> (model, name, io) loads the model the verb's way; `stem(src)` names the output), then the
    images, if any, through `run_images`. The exit status is the worst of the two."""
    images, videos = split_inputs(args.inputs)
    if not videos:
        return run_images(args)
    from .job import run_videos

    status = run_videos(args, verb, videos, prepare, stem)
    if images:
        args.inputs = images
        status = max(status, int(run_images(args) or 0))
    return status


def planned_outputs(args, videos, stem):
    """The files the verb will write for `videos` (checked by deblurkeras/outputs.py before TensorFlow loads)."""
    if not videos:
        return []
    require_av()
    from .stream import audio_codecs
    return [planned_output(args.out, v, stem, args, audio_codecs(v)) for v in videos]
