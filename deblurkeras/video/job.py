"""Running `deblur` / `upscale` on videos: segments in a work folder, `--resume`, the final atomic mux.

The work folder `OUT/.NAME.EXT.resume/` holds `job.json` (what the run is: input, weights, model, every option
that changes the output, the tiling chosen) and the finished segments `seg-000000.nut`, ... each written under a
temporary name and renamed when complete. `--resume` accepts the folder only when `job.json` matches the run
asked for, skips the finished segments (their frames are decoded, not run through the model) and goes on; the
segment after the last finished one is encoded afresh, so the output is the one an uninterrupted run writes.
Without `--resume` an old work folder is replaced (one line says so).
"""
import json
import os
import re
import shutil
import sys

from .. import memory
from ..errors import BadInputError, DeblurKerasError, first_line, one_line, show
from ..utils import DirLock, atomic_path
from . import CODECS, DEFAULT_CRF, container_ext, require_av, video_ext_arg

SEGMENT_RE = re.compile(r"^seg-(\d{6})\.nut$")
FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}


def parse_frames(text):
    """'START:END' (0-based, END exclusive, either side optional) -> (start, end or None)."""
    if text is None:
        return 0, None
    m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if not m:
        raise BadInputError(f"--frames {text}: expected START:END, e.g. 0:100, 250: or :50")
    start = int(m.group(1)) if m.group(1) else 0
    end = int(m.group(2)) if m.group(2) else None
    if end is not None and end <= start:
        raise BadInputError(f"--frames {text}: END must be greater than START")
    return start, end


def check_options(args):
    """Video options that cannot mean anything: one line, before any work."""
    av = require_av()
    if args.codec not in av.codecs_available:
        raise BadInputError(f"--codec {args.codec}: not in the FFmpeg bundled with PyAV")
    crf = DEFAULT_CRF if args.crf is None else args.crf
    if not 0 <= crf <= 51:
        raise BadInputError(f"--crf {args.crf}: expected 0..51")
    if args.crf is not None and CODECS[args.codec][1]:
        raise BadInputError(f"--crf: {args.codec} is lossless; --crf is for libx264")
    if args.segment < 1:
        raise BadInputError(f"--segment {args.segment}: expected >= 1 frame")
    if args.batch < 1:
        raise BadInputError(f"--batch {args.batch}: expected >= 1")
    if getattr(args, "evaluate", False):
        raise BadInputError("--evaluate scores images against ground truth; it takes no video")
    ext = video_ext_arg(args)
    if ext and "." + ext.lstrip(".").lower() not in CODECS[args.codec][2]:
        raise BadInputError(f"--ext {ext}: cannot hold {args.codec} (use {', '.join(CODECS[args.codec][2])})")
    parse_frames(args.frames)
    return crf


def _file_stamp(path):
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def job_description(args, verb, src, name, crf, tile):
    """Everything that decides the output of a video run (compared by --resume)."""
    weights = os.fspath(args.weights)
    return {
        "verb": verb, "input": _file_stamp(src), "model": name,
        "weights": _file_stamp(weights) if os.path.isfile(weights) else {"path": os.path.abspath(weights)},
        "codec": args.codec, "crf": None if CODECS[args.codec][1] else crf, "preset": args.preset,
        "frames": args.frames, "segment": args.segment, "batch": args.batch, "tile": tile,
        "overlap": args.overlap, "round": bool(args.round), "transpose": getattr(args, "transpose", None),
        "pad_to": getattr(args, "pad_to", None), "precision": getattr(args, "precision", None),
        "engine": getattr(args, "engine", None),
    }


def _differences(old, new):
    return [k for k in sorted(set(old) | set(new)) if json.dumps(old.get(k)) != json.dumps(new.get(k))]


def finished_segments(work):
    """Indices 0..k-1 of the contiguous finished segments in `work`."""
    have = {int(m.group(1)) for n in os.listdir(work) if (m := SEGMENT_RE.match(n))}
    k = 0
    while k in have:
        k += 1
    return k


def segment_path(work, k):
    return os.path.join(work, f"seg-{k:06d}.nut")


def prepare_work(work, desc, resume, say):
    """The work folder for this run: resumed (returns the finished segment count) or fresh (0)."""
    job_file = os.path.join(work, "job.json")
    if os.path.isdir(work):
        try:
            with open(job_file, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if resume and old is not None:
            diff = _differences(old, desc)
            if diff:
                raise BadInputError(f"{work}: --resume: the interrupted run differs in {', '.join(diff)}; run "
                                    f"without --resume to start again")
            for n in os.listdir(work):  # a segment the kill cut short (temporary name) is redone
                if n not in ("job.json", ".lock") and not SEGMENT_RE.match(n):
                    os.remove(os.path.join(work, n))
            return finished_segments(work)
        done = finished_segments(work)
        shutil.rmtree(work)
        if done:
            say(f"{work}: an interrupted run's {done} finished segments discarded (--resume continues one)")
    elif resume:
        say(f"{work}: nothing to resume; starting from the first frame")
    os.makedirs(work)
    with atomic_path(job_file) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(desc, f, indent=1)
    return 0


def work_folder(dst):
    folder, base = os.path.split(dst)
    return os.path.join(folder, f".{base}.resume")


def run_videos(args, verb, videos, prepare, stem):
    """Every video of `videos` through the model `prepare(args)` loads; one-line errors, the others go on."""
    from tqdm import tqdm

    from . import stream

    crf = check_options(args)
    budget = memory.parse_budget(args.max_memory)

    def say(m):
        tqdm.write(f"deblurkeras {verb}: {one_line(m)}", file=sys.stderr)

    # everything about the inputs that can fail does so before the model loads
    plans, failed = [], 0
    seen = {}
    for src in videos:
        try:
            info = stream.probe(src)
            dst = os.path.join(args.out, stem(src) + container_ext(src, args.codec, [a for _, a in info.audio],
                                                                     video_ext_arg(args)))
            key = os.path.normcase(os.path.abspath(dst))
            if key in seen:
                raise BadInputError(f"{src}: output {dst} would also be written for {seen[key]}; run them apart")
            seen[key] = src
            if os.path.exists(dst) and os.path.samefile(src, dst):
                raise BadInputError(f"{src}: output would overwrite the input; choose another --out")
            if os.path.lexists(dst) and not args.overwrite:
                raise BadInputError(f"{dst}: exists; pass --overwrite to replace it")
            plans.append((src, dst, info))
        except DeblurKerasError as e:
            say(f"error: {e}")
            failed += 1
    done = 0
    if plans:
        model, name, io = prepare(args)
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise BadInputError(f"{args.out}: cannot create output folder ({first_line(e)})") from None
        for src, dst, info in plans:
            try:
                run_video(args, verb, src, dst, info, model, name, io, budget, crf, say)
                done += 1
            except KeyboardInterrupt:
                if os.path.isdir(work_folder(dst)):
                    say(f"{show(src)}: interrupted; its finished segments are kept: the same command with --resume "
                        f"continues it")
                raise
            except DeblurKerasError as e:
                msg = str(e) if show(src) in str(e) or show(dst) in str(e) else f"{show(src)}: {e}"
                say(f"error: {msg}")
                failed += 1
    word = {"deblur": "deblurred", "upscale": "upscaled"}.get(verb, "processed")
    print(f"{done} of {len(videos)} videos {word} -> {args.out}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _tile_plan(args, name, io, info, budget, src, say):
    """The tiling of every frame (one plan per video: all frames have its size), said once when it tiles."""
    tile = args.tile
    if getattr(args, "pad_to", None) is not None and tile is None:
        tile = 0
    try:
        p = memory.plan(name, io, info.height, info.width, budget, tile)
    except BadInputError as e:
        raise type(e)(f"{show(src)}: {e}") from None
    if p.tile and tile is None:
        say(f"{show(src)}: {p.describe(info.height, info.width)}, overlap {args.overlap}")
    if p.tile and io.tiling_caveat:
        say(f"{show(src)}: {io.tiling_caveat}")
    return p.tile


def run_video(args, verb, src, dst, info, model, name, io, budget, crf, say):
    """One video: decode -> model -> segments in the work folder -> the final file, atomically."""
    from . import stream

    start, end = parse_frames(args.frames)
    if info.frames_exact and start >= info.frames:
        raise BadInputError(f"{show(src)}: --frames {args.frames}: the video has {info.frames} frames")
    tile = _tile_plan(args, name, io, info, budget, src, say)
    desc = job_description(args, verb, src, name, crf, tile)
    work = work_folder(dst)
    lock_dir = os.path.dirname(work) or "."
    lock = DirLock(lock_dir, f".{os.path.basename(dst)}.lock")
    if not lock.acquire():
        raise BadInputError(f"{dst}: another run is writing it")
    try:
        done_segments = prepare_work(work, desc, args.resume, say)
        try:
            state = _encode(args, src, info, model, name, io, budget, crf, tile, work, done_segments, say)
        except BadInputError:
            shutil.rmtree(work, ignore_errors=True)  # a bad input (--strict, a size change): nothing is kept
            raise
        n_segments = (state["count"] + args.segment - 1) // args.segment
        segments = [segment_path(work, k) for k in range(n_segments)]
        missing = [p for p in segments if not os.path.isfile(p)]
        if missing:
            raise DeblurKerasError(f"{dst}: segment {missing[0]} is missing; run again without --resume")
        span = (state["t0"], state["t1"]) if start or end is not None else None
        ext = os.path.splitext(dst)[1].lower()
        with atomic_path(dst) as tmp:
            stream.assemble(tmp, FORMATS[ext], segments, info, state["matrix"], span)
        shutil.rmtree(work)
    finally:
        lock.release()
        try:
            os.remove(os.path.join(lock_dir, f".{os.path.basename(dst)}.lock"))
        except OSError:
            pass
    audio = f", {len(info.audio)} audio stream{'s' * (len(info.audio) != 1)} copied" if info.audio else ""
    dropped = f"; left out: {', '.join(info.dropped)}" if info.dropped else ""
    say(f"{show(src)} -> {dst}: {state['count']} frames{audio}{dropped}")


def _report_lost(src, info, start, end, count, errors, args, say):
    """Frames the header promised that did not decode (a truncated or corrupt file): said, or an error (--strict)."""
    if not info.frames_exact:
        if errors.packets:
            say(f"{show(src)}: {errors.packets} packets did not decode ({errors.first}); the frames that decoded "
                f"were processed")
        return
    expected = (min(end, info.frames) if end is not None else info.frames) - start
    lost = expected - count
    if lost > 0 or errors.packets:
        msg = (f"{show(src)}: truncated or corrupt: {max(lost, 0)} of {expected} frames did not decode"
               + (f" ({errors.first})" if errors.first else ""))
        if args.strict:
            raise BadInputError(msg + "; --strict: nothing written")
        say(msg + f"; the {count} that decoded were processed (--strict to stop instead)")


def _encode(args, src, info, model, name, io, budget, crf, tile, work, done_segments, say):
    """Decode -> model -> segments (those from `done_segments` on); returns the run's state (frame count, first
    frame's time and tags, the span for --frames)."""
    from tqdm import tqdm

    from . import stream
    from .frames import FrameRunner

    start, end = parse_frames(args.frames)
    skip = done_segments * args.segment
    total = (min(end, info.frames) if end is not None else info.frames) - start if info.frames else None
    if done_segments:
        say(f"{show(src)}: resuming after {done_segments} finished segments ({skip} frames)")
    bar = tqdm(total=total, initial=min(skip, total or skip), unit="frame", desc=os.path.basename(src),
               file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    runner = FrameRunner(model, name, io, budget, tile, args, src)
    errors = stream.DecodeErrors()
    state = {"writer": None, "seg": None, "matrix": None, "colour": None, "t0": None, "t1": None,
             "count": 0, "size": None}

    def finish_segment():
        w = state["writer"]
        if w is not None:
            w.close()
            os.replace(w.path, segment_path(work, state["seg"]))
            state["writer"] = None

    def emit(k, pts, out_rgb):
        seg = k // args.segment
        if state["writer"] is not None and state["seg"] != seg:
            finish_segment()
        if state["writer"] is None:
            tmp = os.path.join(work, f"seg-{seg:06d}.partial.nut")
            state["writer"] = stream.SegmentWriter(tmp, args.codec, crf, args.preset, info, state["colour"],
                                                   out_rgb.shape[:2])
            state["seg"] = seg
        state["writer"].write(out_rgb, pts)
        bar.update(1)

    for d in stream.decode_frames(src, errors, strict=args.strict):
        if d.index < start:
            continue
        if end is not None and d.index >= end:
            state["t1"] = d.pts * info.time_base
            break
        if state["t0"] is None:
            state["t0"], t0_pts = d.pts * info.time_base, d.pts
            state["matrix"], state["colour"] = d.matrix, (d.colorspace, d.color_range, d.tags)
            if args.codec == "libx264" and (d.rgb.shape[0] * io.scale % 2 or d.rgb.shape[1] * io.scale % 2):
                say(f"{show(src)}: odd frame size: written as yuv444p (4:2:0 needs even sides), size kept")
            state["size"] = d.rgb.shape[:2]
        if d.rgb.shape[:2] != state["size"]:
            raise BadInputError(f"{show(src)}: frame {d.index} is {d.rgb.shape[0]}x{d.rgb.shape[1]} (HxW), the "
                                f"video started at {state['size'][0]}x{state['size'][1]}; a size change "
                                f"mid-stream is not supported")
        k = d.index - start
        state["count"] = k + 1
        pts = d.pts - t0_pts if start else d.pts  # --frames: the part starts at time 0
        if k < skip:
            continue  # in a finished segment (--resume)
        runner.push(k, pts, d.rgb, emit)
    runner.flush(emit)
    finish_segment()
    bar.close()
    if state["t0"] is None:
        raise BadInputError(f"{show(src)}: no frame decoded" + (f" ({errors.first})" if errors.first else "")
                            + (f" in --frames {args.frames}" if args.frames else ""))
    _report_lost(src, info, start, end, state["count"], errors, args, say)
    return state
