"""Video in, video out (issue 29): deblurkeras/video. Clips are made here (deblurkeras/video/clips.py): scikit-image
photos with a synthetic blur, an AAC track, odd sizes, variable frame rate; the model is a 1-level DMPHN (random
official init) saved with weights.save, run in-process through cli.main except for the kill -9 test."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

av = pytest.importorskip("av", reason="video tests need PyAV: pip install 'deblurkeras[video]'")

from deblurkeras.video.clips import audio_packets, blurred_frames, read_video, write_clip  # noqa: E402

from deblurkeras.cli import main  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VFR_PTS = [0, 3000, 6000, 12000, 13000, 16000, 20000, 27000, 30000, 33000]  # 1/90000 s: gaps of 1/30 .. 1/12 s


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 1-level DMPHN (one encoder-decoder, random official init) and a tiny SRResNet, saved with weights.save."""
    from deblurkeras import weights
    from deblurkeras.registry import build_model

    d = tmp_path_factory.mktemp("weights")
    return {"deblur": weights.save(build_model("dmphn-1-2-4", levels=(1,)), d / "tiny.weights.h5"),
            "sr": weights.save(build_model("srresnet-x4", channels=8, n_blocks=1), d / "sr.weights.h5")}


def _model(path):
    from deblurkeras import weights
    from deblurkeras.registry import model_io
    model, name = weights.load(path)
    return model, name, model_io(name)


def _deblur(args):
    return main(["deblur", *map(str, args)])


def _image_path(weights_file, frames, **kw):
    """The image path's output of each frame: what `deblur` writes for the frame saved as a PNG (PNG is lossless)."""
    from deblurkeras.inference import run_image
    model, name, io = _model(weights_file)
    return [run_image(model, name, io, f, "frame", 1 << 34, **kw) for f in frames]


def test_lossless_vfr_odd_size_keeps_timestamps_rotation_audio_and_equals_the_image_path(tmp_path, tiny):
    src = tmp_path / "clip.mp4"
    write_clip(src, blurred_frames(10, 65, 97), pts=VFR_PTS, codec="libx264rgb", pix_fmt="rgb24", rotation=90)
    assert _deblur([src, "--weights", tiny["deblur"], "--out", tmp_path / "o", "--codec", "libx264rgb",
                    "--segment", "4"]) == 0
    frames_in, pts_in, tb_in, rot_in = read_video(src)
    frames_out, pts_out, tb_out, rot_out = read_video(tmp_path / "o" / "clip.mp4")
    assert [p * tb_out for p in pts_out] == [p * tb_in for p in pts_in] == [p * tb_in for p in VFR_PTS]
    assert rot_out == rot_in == 90
    assert audio_packets(tmp_path / "o" / "clip.mp4") == audio_packets(src)  # the AAC packets, byte for byte
    expected = _image_path(tiny["deblur"], frames_in)
    assert len(frames_out) == 10
    for k, (got, want) in enumerate(zip(frames_out, expected)):
        assert np.array_equal(got, want), f"frame {k} differs from the image path"
    assert not [n for n in os.listdir(tmp_path / "o") if n != "clip.mp4"]  # no work folder, no temporary left


def test_default_codec_h264_keeps_frames_and_is_close_to_the_image_path(tmp_path, tiny):
    src = tmp_path / "c.mov"
    write_clip(src, blurred_frames(6, 64, 96), rate=25)
    assert _deblur([src, "--weights", tiny["deblur"], "--out", tmp_path / "o"]) == 0
    out = tmp_path / "o" / "c.mov"  # the input's container
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
    frames_in, pts_in, tb_in, _ = read_video(src)
    frames_out, pts_out, tb_out, _ = read_video(out)
    assert [p * tb_out for p in pts_out] == [p * tb_in for p in pts_in]
    for got, want in zip(frames_out, _image_path(tiny["deblur"], frames_in)):
        mse = np.mean((got.astype(np.float64) - want) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) > 33  # a random-weight output is noisy; GoPro: experiments/check_video.py


def test_frames_range_starts_at_zero_and_cuts_the_audio(tmp_path, tiny):
    src = tmp_path / "c.mp4"
    write_clip(src, blurred_frames(10, 64, 96), pts=VFR_PTS)
    assert _deblur([src, "--weights", tiny["deblur"], "--out", tmp_path / "o", "--frames", "3:8",
                    "--codec", "libx264rgb"]) == 0
    frames_in, pts_in, _, _ = read_video(src)
    frames_out, pts_out, _, _ = read_video(tmp_path / "o" / "c.mp4")
    assert pts_out == [p - VFR_PTS[3] for p in VFR_PTS[3:8]]
    for got, want in zip(frames_out, _image_path(tiny["deblur"], frames_in[3:8])):
        assert np.array_equal(got, want)
    audio_in, audio_out = audio_packets(src)[0], audio_packets(tmp_path / "o" / "c.mp4")[0]
    t0, t1 = VFR_PTS[3] / 90000, VFR_PTS[8] / 90000
    kept = [b for p, b in audio_in if t0 <= p / 16000 < t1]
    assert [b for _, b in audio_out] == kept and 0 < len(kept) < len(audio_in)


def test_upscale_writes_a_4x_video_named_like_its_images_and_runs_the_images_beside_it(tmp_path, tiny):
    from deblurkeras.imageio import save_image
    src = tmp_path / "s.mkv"
    write_clip(src, blurred_frames(3, 24, 32), codec="ffv1", pix_fmt="bgr0", audio=False)
    save_image(tmp_path / "p.png", blurred_frames(1, 20, 20)[0])
    assert main(["upscale", str(tmp_path), "--weights", str(tiny["sr"]), "--out", str(tmp_path / "o"),
                 "--codec", "ffv1"]) == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["p_x4.png", "s_x4.mkv"]
    frames, _, _, _ = read_video(tmp_path / "o" / "s_x4.mkv")
    assert len(frames) == 3 and frames[0].shape == (96, 128, 3)
    from deblurkeras.families.sr.inference import upscale_array
    model, _, io = _model(tiny["sr"])
    assert np.array_equal(frames[1], upscale_array(model, io, read_video(src)[0][1]))


def _one_line_error(capsys, rc, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert rc != 0 and errors, err
    assert "Traceback" not in "\n".join(err)
    assert all(n in errors[0] for n in needles), errors[0]


def test_bad_inputs_get_one_line_and_nothing_written(tmp_path, tiny, capsys):
    w = ["--weights", str(tiny["deblur"]), "--out", str(tmp_path / "o")]
    (tmp_path / "text.mp4").write_text("not a video")
    _one_line_error(capsys, main(["deblur", str(tmp_path / "text.mp4"), *w]), "text.mp4", "not a video")
    sound = tmp_path / "sound.mp4"
    with av.open(str(sound), "w") as out:  # audio only
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 16000, 0
        for p in [*a.encode(f), *a.encode()]:
            out.mux(p)
    _one_line_error(capsys, main(["deblur", str(sound), *w]), "sound.mp4", "no video stream")
    ffv1 = tmp_path / "f.mkv"
    write_clip(ffv1, blurred_frames(2, 16, 16), codec="ffv1", pix_fmt="bgr0", audio=False)
    unknown = tmp_path / "unknown.mkv"  # a codec id this FFmpeg has never heard of
    unknown.write_bytes(ffv1.read_bytes().replace(b"V_FFV1", b"V_ZQXW"))
    _one_line_error(capsys, main(["deblur", str(unknown), *w]), "unknown.mkv", "cannot be decoded")
    clip = tmp_path / "in" / "c.mp4"
    clip.parent.mkdir()
    write_clip(clip, blurred_frames(2, 16, 16), audio=False)
    _one_line_error(capsys, main(["deblur", str(clip), "--weights", str(tiny["deblur"]), "--out", str(clip.parent),
                                  "--overwrite"]), "c.mp4", "overwrite the input")
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")
    assert clip.stat().st_size > 0


def _truncated_clip(path, n=12):
    """An mp4 whose index comes first (faststart) cut at 60 %: the header promises n frames, fewer decode."""
    whole = path.with_name("whole.mp4")
    write_clip(whole, blurred_frames(n, 64, 96), audio=False)
    fast = path.with_name("fast.mp4")
    with av.open(str(whole)) as i, av.open(str(fast), "w", options={"movflags": "+faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                o.mux(p)
    data = fast.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])


def test_truncated_video_processes_what_decodes_and_says_how_many_were_lost(tmp_path, tiny, capsys):
    src = tmp_path / "cut.mp4"
    _truncated_clip(src)
    rc = main(["deblur", str(src), "--weights", str(tiny["deblur"]), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 0 and "cut.mp4: truncated or corrupt:" in err and "of 12 frames did not decode" in err
    n = len(read_video(tmp_path / "o" / "cut.mp4")[0])
    assert 0 < n < 12 and f"the {n} that decoded were processed" in err
    rc = main(["deblur", str(src), "--weights", str(tiny["deblur"]), "--out", str(tmp_path / "s"), "--strict"])
    _one_line_error(capsys, rc, "cut.mp4", "--strict")
    assert not os.listdir(tmp_path / "s")  # neither the output nor the work folder


def test_kill_9_then_resume_gives_the_uninterrupted_output(tmp_path, tiny):
    src = tmp_path / "long.mp4"
    write_clip(src, blurred_frames(32, 64, 96), rate=24)
    args = [str(src), "--weights", str(tiny["deblur"]), "--segment", "4"]
    assert main(["deblur", *args, "--out", str(tmp_path / "ref")]) == 0
    out = tmp_path / "o"
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.Popen([sys.executable, "-m", "deblurkeras.cli", "deblur", *args, "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = out / ".long.mp4.resume"
    deadline = time.time() + 120
    while time.time() < deadline and not (work / "seg-000002.nut").exists():
        assert not (out / "long.mp4").exists()  # never a file under the final name before it is complete
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = [n for n in os.listdir(work) if re.fullmatch(r"seg-\d{6}\.nut", n)]
    assert 3 <= len(finished) < 8 and not (out / "long.mp4").exists()
    assert main(["deblur", *args, "--out", str(out), "--resume"]) == 0
    got, want = out / "long.mp4", tmp_path / "ref" / "long.mp4"
    assert read_video(got)[1] == read_video(want)[1]
    with av.open(str(got)) as a, av.open(str(want)) as b:
        pa = [(p.pts, bytes(p)) for p in a.demux() if p.size]
        pb = [(p.pts, bytes(p)) for p in b.demux() if p.size]
    assert pa == pb  # every packet, video and audio
    assert not work.exists()


def test_resume_refuses_a_run_with_other_options(tmp_path, tiny, capsys):
    from deblurkeras.video.job import prepare_work
    work = tmp_path / "w"
    prepare_work(str(work), {"crf": 16}, False, print)
    (work / "seg-000000.nut").write_bytes(b"x")
    with pytest.raises(Exception, match="differs in crf"):
        prepare_work(str(work), {"crf": 20}, True, print)
    assert prepare_work(str(work), {"crf": 16}, True, print) == 1


def test_without_pyav_one_line_names_the_extra(monkeypatch):
    from deblurkeras.errors import DeblurKerasError
    from deblurkeras.video import require_av
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(DeblurKerasError, match=r"pip install 'deblurkeras\[video\]'"):
        require_av()


def test_batched_frames_match_single_frames(tiny):
    from deblurkeras.video.frames import predict_batch
    model, name, io = _model(tiny["deblur"])
    frames = blurred_frames(4, 40, 56)
    single = _image_path(tiny["deblur"], frames)
    batched = predict_batch(model, io, frames)
    worst = max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(batched, single))
    assert worst <= 1  # the kernels may order a batch's sums differently: at most one uint8 step apart


def test_decoding_leaves_no_frame_for_the_garbage_collector(tmp_path):
    """Decoded frames are freed as soon as they are converted, not left in reference cycles: reading every frame's
    side data (PyAV 18) tied each frame into one, and a 2-minute 720p run held ~300 MB of dead frames until the
    collector ran (experiments/video_memory.py). The rotation is still given with every frame."""
    import gc

    import av

    from deblurkeras.video import stream

    src = tmp_path / "rotated.mp4"
    write_clip(src, blurred_frames(24, 32, 48), rotation=90, audio=False)
    gc.collect()
    gc.disable()
    try:
        matrices = [d.matrix for d in stream.decode_frames(src, stream.DecodeErrors())]
        frames_alive = sum(isinstance(o, av.VideoFrame) for o in gc.get_objects())
    finally:
        gc.enable()
    assert len(matrices) == 24 and matrices[0] is not None and all(m == matrices[0] for m in matrices)
    assert frames_alive <= 2, f"{frames_alive} decoded frames left for the garbage collector"
