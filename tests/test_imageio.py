"""imageio: every kind of input becomes uint8 RGB or a one-line BadInputError naming the file; atomic writes."""
import os

import numpy as np
import pytest
from PIL import Image

from deblurkeras.errors import BadInputError
from deblurkeras.imageio import list_images, load_image, save_image, to_uint8


@pytest.fixture
def rgb():
    return np.random.RandomState(0).randint(0, 256, (20, 30, 3)).astype(np.uint8)


def _bad(path, pattern):
    with pytest.raises(BadInputError, match=pattern) as e:
        load_image(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_rgb_png_round_trip(tmp_path, rgb):
    save_image(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    assert os.listdir(tmp_path) == ["a.png"]


def test_real_sample_jpeg(sample_train_dir):
    path = sorted(sample_train_dir.glob("*.jpg"))[0]
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (256, 512, 3)


def test_gray_rgba_palette_16bit(tmp_path, rgb):
    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), np.repeat(gray[..., None], 3, -1))

    rgba = np.concatenate([rgb, np.zeros_like(rgb[..., :1])], -1)  # fully transparent: colours still kept
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)

    pal = Image.fromarray(rgb).quantize(16)
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))
    Image.fromarray(rgb).quantize(16).save(tmp_path / "t.png", transparency=0)
    assert load_image(tmp_path / "t.png").shape == (20, 30, 3)

    v16 = (gray.astype(np.uint16) * 257)  # 0..65535 with the same 8-bit content
    Image.fromarray(v16).save(tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").mode.startswith("I")
    np.testing.assert_array_equal(load_image(tmp_path / "s.png")[..., 1], gray)

    Image.fromarray(rgb[..., 0] > 128).save(tmp_path / "b.png")  # 1-bit
    assert set(np.unique(load_image(tmp_path / "b.png"))) <= {0, 255}


def test_exif_orientation_applied(tmp_path, rgb):
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    img.save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert load_image(tmp_path / "r.jpg").shape == (30, 20, 3)
    assert load_image(tmp_path / "r.jpg", apply_exif=False).shape == (20, 30, 3)


def test_bad_inputs_are_named(tmp_path, rgb):
    (tmp_path / "empty.png").write_bytes(b"")
    _bad(tmp_path / "empty.png", "empty")
    (tmp_path / "text.jpg").write_text("hello, not an image")
    _bad(tmp_path / "text.jpg", "not an image")
    Image.fromarray(rgb).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    _bad(tmp_path / "cut.jpg", "corrupt")
    save_image(tmp_path / "full.png", rgb)
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _bad(tmp_path / "cut.png", "corrupt")
    _bad(tmp_path / "missing.png", "no such file")
    _bad(tmp_path, "directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_unreadable_file(tmp_path, rgb):
    save_image(tmp_path / "x.png", rgb)
    os.chmod(tmp_path / "x.png", 0)
    _bad(tmp_path / "x.png", "permission")


def test_save_errors_and_atomicity(tmp_path, rgb):
    with pytest.raises(BadInputError, match="nodir"):
        save_image(tmp_path / "nodir" / "x.png", rgb)
    with pytest.raises(BadInputError, match=r"\.xyz"):
        save_image(tmp_path / "x.xyz", rgb)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError):
        save_image(tmp_path / "x.png", rgb.astype(np.float32))


def test_to_uint8_truncates_like_the_original():
    x = np.array([-0.5, 0.0, 0.999, 1 / 255 - 1e-6, 0.5, 1.0, 7.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 254, 0, 127, 255, 255])
    np.testing.assert_array_equal(to_uint8(x, round=True), [0, 0, 255, 1, 128, 255, 255])
    assert to_uint8(x).dtype == np.uint8


def test_list_images(tmp_path, rgb):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert list_images([tmp_path, tmp_path / "notes.txt"]) == [
        str(tmp_path / "a.jpg"), str(tmp_path / "b.png"), str(tmp_path / "notes.txt")]


def test_jpeg_output_is_quality_95_without_chroma_subsampling(tmp_path):
    """F14: Pillow's default (quality 75, 4:2:0) visibly blurs colour edges of a deblurred image."""
    from PIL import JpegImagePlugin

    img = np.random.RandomState(1).randint(0, 256, (32, 48, 3)).astype(np.uint8)
    save_image(tmp_path / "o.jpg", img)
    Image.fromarray(img).save(tmp_path / "want.jpg", quality=95, subsampling=0)
    with Image.open(tmp_path / "o.jpg") as got, Image.open(tmp_path / "want.jpg") as want:
        assert JpegImagePlugin.get_sampling(got) == 0  # 4:4:4
        assert got.quantization == want.quantization  # the quality-95 tables
    assert (tmp_path / "o.jpg").read_bytes() == (tmp_path / "want.jpg").read_bytes()


def test_16_bit_rule_is_divide_by_257_everywhere(tmp_path):
    """One rule, not a data-dependent one: a dark 16-bit image (max <= 255) stays dark, in every tool."""
    from deblurkeras.data import build_decode

    dark = np.arange(24 * 48, dtype=np.uint16).reshape(24, 48) % 256  # max 255: 16-bit values 0..255
    Image.fromarray(dark).save(tmp_path / "dark.png")
    assert Image.open(tmp_path / "dark.png").mode.startswith("I")
    want = np.round(dark / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(load_image(tmp_path / "dark.png")[..., 0], want)
    res = build_decode.process(("dark.png", (str(tmp_path / "dark.png"),)), "side-by-side", 0, 1, 10**9)
    assert res[0] == "ok", res
    np.testing.assert_array_equal(res[2][..., 0], want[:, :24])  # the builder's sharp half: the same pixels


def test_one_extension_tuple_and_pairing(tmp_path):
    from deblurkeras.imageio import IMAGE_EXTENSIONS, image_names, pair_files

    for name in ("A.PNG", "b.jpeg", "c.tif", ".hidden.png", "d.txt", "e.gif"):
        (tmp_path / name).write_bytes(b"x")
    assert image_names(tmp_path) == ["A.PNG", "b.jpeg", "c.tif", "e.gif"]
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)
    for d, names in (("blur", ("1.png", "2.png", "3.png")), ("sharp", ("2.png", "3.png", "4.png"))):
        (tmp_path / d).mkdir()
        for n in names:
            (tmp_path / d / n).write_bytes(b"x")
    pairs, unpaired = pair_files(tmp_path / "blur", tmp_path / "sharp", prefix="s/")
    assert [(n, os.path.basename(s), os.path.basename(os.path.dirname(b))) for n, s, b in pairs] == [
        ("s/2.png", "2.png", "blur"), ("s/3.png", "3.png", "blur")]
    assert [(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p, _ in unpaired] == [
        ("blur", "1.png"), ("sharp", "4.png")]


def test_no_other_module_keeps_its_own_extension_list():
    """The tuple lives in imageio only (it was copied five times, with different contents)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    ext = r"""["']\.[a-z]{3,4}["']"""
    pattern = re.compile(rf"\(\s*{ext}\s*,\s*{ext}\s*,\s*{ext}")  # a literal tuple of 3+ extensions
    offenders = [str(p.relative_to(root)) for folder in ("deblurkeras", "data_tools", "experiments")
                 for p in (root / folder).rglob("*.py") if p.name != "imageio.py" and pattern.search(p.read_text())]
    assert offenders == []


def test_sr_folder_source_reads_through_imageio(tmp_path, rgb):
    from deblurkeras.families.sr.data import ImageSource

    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb).save(tmp_path / "sub" / "a.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "b.png")  # 16-bit gray
    (tmp_path / "notes.txt").write_text("not an image")
    src = ImageSource(tmp_path)
    assert src.names == ["b.png", os.path.join("sub", "a.png")]
    np.testing.assert_array_equal(src[0], np.repeat(rgb[..., :1], 3, axis=-1))  # round(v / 257)
    np.testing.assert_array_equal(src[1], rgb)
