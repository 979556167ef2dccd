"""The PyAV side of video runs: probing an input, decoding its frames to RGB, encoding segments, the final mux.

Facts relied on (FFmpeg as bundled by PyAV 18):
  - each decoded frame carries its own `pts` in the stream's `time_base`; encoding a frame with that pts into a
    stream of the same time_base keeps it exactly (mp4 / mov / nut store any time base; Matroska stores
    milliseconds, so an .mkv output rounds timestamps to 1 ms, as any mkv does);
  - the rotation is the stream's display matrix, which decoders attach to every frame as DISPLAYMATRIX side data
    (9 int32); `VideoStream.set_display_matrix` writes it back;
  - swscale's YUV<->RGB matrix is chosen by the frame's colour space, the range (limited / full) must be passed:
    frames are decoded with the stream's own range, and encoded back with the same matrix and range (and tagged so).
"""
import os

import numpy as np

from ..errors import BadInputError, first_line, show
from . import CODECS, require_av


class VideoInfo:
    """What a run needs to know about an input video (read from its header, nothing decoded)."""

    def __init__(self, path, container, stream):
        self.path = path
        self.stream_index = stream.index
        self.codec = stream.codec_context.name
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        self.time_base = stream.time_base
        self.rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.sar = stream.codec_context.sample_aspect_ratio
        self.frames = int(stream.frames or 0)
        if not self.frames and stream.duration and self.rate:  # no count in the header (mkv, webm): an estimate
            self.frames = int(round(float(stream.duration * stream.time_base * self.rate)))
        self.frames_exact = bool(stream.frames)
        self.audio = [(s.index, s.codec_context.name) for s in container.streams.audio]
        self.dropped = [f"{s.type} stream {s.index}" for s in container.streams
                        if s.index != self.stream_index and s.type != "audio"]
        self.container_metadata = dict(container.metadata)


def open_input(path):
    """av.open(path) with every failure a one-line BadInputError naming the file."""
    av = require_av()
    if os.path.isdir(path):
        raise BadInputError(f"{show(path)}: is a directory, not a video")
    if os.path.exists(path) and os.path.getsize(path) == 0:
        raise BadInputError(f"{show(path)}: empty file (0 bytes)")
    try:
        return av.open(os.fspath(path), "r")
    except FileNotFoundError:
        raise BadInputError(f"{show(path)}: no such file") from None
    except PermissionError:
        raise BadInputError(f"{show(path)}: permission denied") from None
    except av.FFmpegError as e:
        raise BadInputError(f"{show(path)}: not a video FFmpeg can read, or truncated before its index "
                            f"({first_line(e)})") from None


def video_stream(container, path):
    """The first video stream that is not a cover picture; BadInputError when there is none or it cannot decode."""
    streams = [s for s in container.streams.video if not s.disposition & 1024]  # AV_DISPOSITION_ATTACHED_PIC
    if not streams:
        kinds = ", ".join(f"{s.type}" for s in container.streams) or "no streams"
        raise BadInputError(f"{show(path)}: no video stream ({kinds})")
    s = streams[0]
    if s.codec_context is None or not s.codec_context.name or s.codec_context.name == "none":
        raise BadInputError(f"{show(path)}: its video codec cannot be decoded by the FFmpeg bundled with PyAV "
                            f"(unknown codec)")
    if not s.codec_context.width or not s.codec_context.height:
        raise BadInputError(f"{show(path)}: its video stream ({s.codec_context.name}) declares no frame size")
    return s


def probe(path):
    """VideoInfo of `path`, or a one-line BadInputError (not a video, no video stream, an undecodable codec)."""
    with open_input(path) as c:
        return VideoInfo(os.fspath(path), c, video_stream(c, path))


def audio_codecs(path):
    """The codec names of the input's audio streams; () when the file cannot be read (its run says why)."""
    try:
        with open_input(path) as c:
            return tuple(s.codec_context.name for s in c.streams.audio)
    except BadInputError:
        return ()


def display_matrix(frame):
    """The frame's DISPLAYMATRIX side data as 9 ints (None without one): the stream's rotation / flip."""
    for sd in frame.side_data:
        if str(sd.type).endswith("DISPLAYMATRIX"):
            return [int(v) for v in np.frombuffer(bytes(sd), "<i4")[:9]]
    return None


class Decoded:
    """One decoded frame: its index in the stream, pts, colour tags and uint8 RGB pixels."""

    __slots__ = ("index", "pts", "rgb", "colorspace", "color_range", "tags", "matrix")


def to_rgb(frame):
    """uint8 RGB (H, W, 3) of a decoded frame, with its own colour matrix and range (limited when unspecified)."""
    return frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)


class DecodeErrors:
    """Counts packets the decoder refused (corrupt or truncated data)."""

    def __init__(self):
        self.packets = 0
        self.first = None


def decode_frames(path, errors, strict=False):
    """Yield `Decoded` frames of the video stream of `path` in presentation order. A packet that fails to decode
    is counted in `errors` (with `strict`: BadInputError at once)."""
    av = require_av()
    with open_input(path) as c:
        s = video_stream(c, path)
        s.thread_type = "SLICE"  # frame threads would drop the frames in flight when a packet fails
        index, last_pts, matrix = 0, None, None
        step = int(round(1 / (s.average_rate * s.time_base))) if s.average_rate else 1
        for packet in c.demux(s):
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                errors.packets += 1
                errors.first = errors.first or first_line(e)
                if strict:
                    raise BadInputError(f"{show(path)}: corrupt or truncated video data at frame {index} "
                                        f"({first_line(e)}; --strict)") from None
                continue
            for f in frames:
                d = Decoded()
                d.index = index
                # a frame without a timestamp (some AVI / raw streams) follows the previous one by the mean duration
                d.pts = f.pts if f.pts is not None else (0 if last_pts is None else last_pts + step)
                if last_pts is not None and d.pts <= last_pts:  # never twice the same time: encoders refuse it
                    d.pts = last_pts + 1
                last_pts = d.pts
                d.colorspace, d.color_range = int(f.colorspace), int(f.color_range)
                d.tags = (int(f.color_primaries), int(f.color_trc))
                # the rotation is the stream's: read from the first frame only. Reading a frame's side data in
                # PyAV 18 ties the frame into a reference cycle that only the garbage collector frees; read on
                # every frame, a 720p run held some 300 MB of dead frames (experiments/video_memory.py)
                matrix = display_matrix(f) if index == 0 else matrix
                d.matrix = matrix
                d.rgb = to_rgb(f)
                index += 1
                yield d


class SegmentWriter:
    """Encodes frames (uint8 RGB, pts) into one segment file (.nut: any codec, any time base) with `codec`."""

    def __init__(self, path, codec, crf, preset, info, colour, size):
        av = require_av()
        self.av, self.path = av, path
        self.pix_fmt = CODECS[codec][0]
        h, w = size
        self.container = av.open(path, "w", format="nut")
        s = self.container.add_stream(codec, rate=info.rate)
        s.width, s.height = w, h
        if codec == "libx264" and (w % 2 or h % 2):
            self.pix_fmt = "yuv444p"  # 4:2:0 needs even sides; the size is kept, the chroma is not subsampled
        s.pix_fmt = self.pix_fmt
        s.time_base = info.time_base
        s.codec_context.time_base = info.time_base
        if info.sar:
            s.codec_context.sample_aspect_ratio = info.sar
        self.colorspace, self.color_range, (primaries, trc) = colour
        if not CODECS[codec][1]:  # YUV output: tagged with the input's matrix and range, converted with them
            s.codec_context.colorspace = self.colorspace
            s.codec_context.color_range = self.color_range
        s.codec_context.color_primaries, s.codec_context.color_trc = primaries, trc  # the input's, as decoded
        options = {}
        if codec.startswith("libx264"):
            # no B-frames: then every packet's dts is its pts, and segments join without re-timing
            s.codec_context.max_b_frames = 0
            options.update(preset=preset, **({"qp": "0"} if CODECS[codec][1] else {"crf": str(crf)}))
        s.options = options
        self.stream = s

    def write(self, rgb, pts):
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self.pix_fmt in ("rgb24", "bgr0"):  # lossless RGB: a channel shuffle at most
            frame = frame.reformat(format=self.pix_fmt) if self.pix_fmt != "rgb24" else frame
        else:
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self.colorspace,
                                   dst_color_range=self.color_range or None)
        frame.pts = pts
        for p in self.stream.encode(frame):
            self.container.mux(p)

    def close(self):
        for p in self.stream.encode(None):
            self.container.mux(p)
        self.container.close()


def _packets(container, stream, out_stream, keep=None, shift=0):
    """(time of the packet in seconds as a Fraction, n, packet) of one input stream, retargeted to `out_stream`."""
    for n, p in enumerate(container.demux(stream)):
        if p.dts is None and p.pts is None:
            continue  # the demuxer's end-of-stream marker
        if keep is not None and not keep(p):
            continue
        if shift:
            p.pts = None if p.pts is None else p.pts - shift
            p.dts = None if p.dts is None else p.dts - shift
        t = (p.dts if p.dts is not None else p.pts) * p.time_base
        p.stream = out_stream
        yield t, n, p


def _segment_packets(segments, out_stream):
    """The video packets of the segments in order, one segment file open at a time (their times follow on)."""
    av = require_av()
    n = 0
    for path in segments:
        with av.open(path) as c:
            for t, _, p in _packets(c, c.streams.video[0], out_stream):
                n += 1
                yield t, n, p


def _in_span(t0, t1):
    """--frames: keep the audio packets that start in [t0, t1) (t1 None: to the end)."""
    def keep(p):
        if p.pts is None:
            return False
        t = p.pts * p.time_base
        return t >= t0 and (t1 is None or t < t1)
    return keep


def assemble(dst, fmt, segments, info, matrix, span=None):
    """Mux the segments' video packets and the input's audio packets (copied, not re-encoded) into `dst`, in time
    order. `span` (t0, t1) in seconds: only audio packets starting in [t0, t1), shifted by t0 (--frames)."""
    import heapq

    av = require_av()
    opened = []
    try:
        out = av.open(dst, "w", format=fmt)
        opened.append(out)
        for k, v in info.container_metadata.items():
            if k.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands"):
                out.metadata[k] = v
        with av.open(segments[0]) as first:
            ov = out.add_stream_from_template(first.streams.video[0])
        ov.time_base = info.time_base
        if matrix is not None:
            ov.set_display_matrix(matrix)
        sources = [_segment_packets(segments, ov)]
        for i in range(len(info.audio)):
            src = av.open(info.path)  # one demux pass per audio stream: each source is read on its own
            opened.append(src)
            s = src.streams.audio[i]
            oa = out.add_stream_from_template(s)
            oa.time_base = s.time_base
            for k, v in s.metadata.items():
                oa.metadata[k] = v
            if span is None:
                sources.append(_packets(src, s, oa))
            else:
                sources.append(_packets(src, s, oa, _in_span(*span), int(round(span[0] / s.time_base))))
        # time order across streams (the muxer's interleaving then holds a few packets, not a stream's worth)
        for _, _, p in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
            out.mux(p)
    finally:
        for c in reversed(opened):
            c.close()
