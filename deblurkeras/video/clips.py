"""Clips made on the spot (tests/test_video.py, experiments/check_video.py and bench_video.py): frames of
scikit-image photos with a synthetic motion blur, an optional audio track (a sine, AAC), any size, constant or
variable frame rate."""
import fractions

import numpy as np


def blurred_frames(n, h, w, seed=0):
    """n uint8 RGB frames (h, w): a scikit-image photo panning across, blurred by a horizontal box of 1..9 px."""
    from scipy.ndimage import uniform_filter1d
    from skimage import data
    from skimage.transform import resize

    photo = data.astronaut()
    big = (resize(photo, (h + 8, w + 4 * n + 8), anti_aliasing=True) * 255).astype(np.float32)
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        crop = big[4:4 + h, 4 + 4 * i:4 + 4 * i + w]
        k = int(rng.integers(1, 10))
        frames.append(np.clip(uniform_filter1d(crop, k, axis=1), 0, 255).astype(np.uint8))
    return frames


def write_clip(path, frames, pts=None, time_base=fractions.Fraction(1, 90000), rate=30, codec="libx264",
               pix_fmt="yuv420p", audio=True, rotation=None, fmt=None, crf=18, options=None):
    """Encode `frames` (uint8 RGB) with their `pts` (default: 1/rate apart) and, with `audio`, 1 s of AAC per
    second of video. Returns the pts written."""
    import av

    if pts is None:
        step = int(round(1 / (rate * time_base)))
        pts = [i * step for i in range(len(frames))]
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.time_base = time_base
        v.codec_context.time_base = time_base
        if codec == "libx264":
            v.options = {"crf": str(crf), **(options or {})}
        if rotation is not None:
            v.set_display_rotation(rotation)
        a = sine_stream(out) if audio else None
        for f, p in zip(frames, pts):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
            vf.pts = p
            for pk in v.encode(vf):
                out.mux(pk)
        for pk in v.encode():
            out.mux(pk)
        if a is not None:
            write_sine(out, a, float((pts[-1] + (pts[1] - pts[0] if len(pts) > 1 else 1)) * time_base))
    return pts


AUDIO_RATE = 16000


def sine_stream(out):
    """A mono AAC stream in the open output container `out`, for `write_sine`."""
    a = out.add_stream("aac", rate=AUDIO_RATE)
    a.layout = "mono"
    return a


def write_sine(out, a, seconds):
    """`seconds` of a 440 Hz sine encoded into the AAC stream `a` of `out`, flushed at the end."""
    import av

    t = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for i in range(0, len(wave), 1024):
        af = av.AudioFrame.from_ndarray(wave[None, i:i + 1024].copy(), format="fltp", layout="mono")
        af.sample_rate, af.pts = AUDIO_RATE, i
        for pk in a.encode(af):
            out.mux(pk)
    for pk in a.encode():
        out.mux(pk)


def read_video(path):
    """(frames as uint8 RGB, pts, time_base, rotation) of the first video stream, decoded as the pipeline does."""
    import av

    from deblurkeras.video.stream import to_rgb

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames, pts, rot = [], [], None
        for f in c.decode(s):
            frames.append(to_rgb(f))
            pts.append(f.pts)
            rot = f.rotation
        return frames, pts, s.time_base, rot


def audio_packets(path):
    """[(pts, bytes)] of every audio stream's packets, per stream."""
    import av

    with av.open(str(path)) as c:
        out = []
        for s in c.streams.audio:
            with av.open(str(path)) as c2:
                out.append([(p.pts, bytes(p)) for p in c2.demux(c2.streams.audio[s.index - c.streams.audio[0].index])
                            if p.size])
        return out
