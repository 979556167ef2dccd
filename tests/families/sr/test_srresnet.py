"""SRResNet / SRGAN: structure, pixel shuffle semantics, LR/HR data, trainers, upscale verb (small shapes)."""
import json
import warnings

import numpy as np
import pytest

from deblurkeras.families.sr import model as srresnet
from deblurkeras.families.sr.layers import PixelShuffle
from deblurkeras.families import build_model, entry


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def srres():
    return build_model("srresnet-x4")


def test_parameter_count_matches_the_torch_definition(srres):
    spec = entry("srresnet-x4")
    assert _trainable(srres) == spec.trainable                       # the tutorial's count (torch's, below)
    assert srres.count_params() == spec.params
    torch = pytest.importorskip("torch")  # noqa: F841
    from deblurkeras.families.sr import original as ref
    assert sum(p.numel() for p in ref.SRResNet().parameters()) == spec.trainable


def test_prelu_has_one_parameter_and_bn_uses_torch_eps(srres):
    import keras
    prelus = [layer for layer in srres.layers if isinstance(layer, keras.layers.PReLU)]
    assert len(prelus) == 1 + 16 + 2
    assert all(tuple(p.alpha.shape) == (1, 1, 1) and float(np.asarray(p.alpha).ravel()[0]) == 0.25 for p in prelus)
    bns = [layer for layer in srres.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 33 and all(b.epsilon == 1e-5 and b.momentum == 0.9 for b in bns)
    assert srres.layers[-1].name == "conv_block3.conv_block.1"
    out = np.asarray(srres(np.random.default_rng(0).normal(0, 3, (1, 6, 5, 3)).astype("float32")))
    assert out.shape == (1, 24, 20, 3) and np.abs(out).max() <= 1.0     # tanh


def test_pixel_shuffle_orders():
    """order='crd' == torch PixelShuffle; order='dcr' == tf.nn.depth_to_space."""
    import tensorflow as tf
    x = np.arange(2 * 3 * 4 * 12, dtype="float32").reshape(2, 3, 4, 12)
    dcr = np.asarray(PixelShuffle(2, order="dcr")(x))
    assert np.array_equal(dcr, tf.nn.depth_to_space(x, 2).numpy())
    crd = np.asarray(PixelShuffle(2)(x))
    c, r = 3, 2      # torch: out[n, c, h*r+i, w*r+j] = in[n, c*r*r + i*r + j, h, w]
    for i in range(r):
        for j in range(r):
            assert np.array_equal(crd[:, i::r, j::r, :], x[..., [k * r * r + i * r + j for k in range(c)]])
    assert not np.array_equal(crd, dcr)
    torch = pytest.importorskip("torch")
    want = torch.nn.PixelShuffle(2)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert np.array_equal(crd, want)


def test_adaptive_pool_matches_torch_on_uneven_sizes():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(2, 7, 10, 3)).astype("float32")
    got = np.asarray(srresnet.AdaptiveAvgPool2D(6)(x))
    want = torch.nn.AdaptiveAvgPool2d(6)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert np.abs(got - want).max() < 1e-6


def test_discriminator_parameter_counts_trainable_and_all():
    # The trainable count is torch's parameters(); all Keras weights add the BN moving statistics
    spec = entry("srgan-d")
    d = build_model("srgan-d")
    assert (_trainable(d), d.count_params()) == (spec.trainable, spec.params)
    assert spec.params - spec.trainable == 2 * sum(int(b.moving_mean.shape[0]) for b in d.layers
                                                   if "BatchNorm" in type(b).__name__)
    torch = pytest.importorskip("torch")  # noqa: F841
    from deblurkeras.families.sr import original as ref
    assert sum(p.numel() for p in ref.Discriminator().parameters()) == spec.trainable


def test_discriminator_shape_and_names():
    d = srresnet.build_srgan_discriminator(size=32, channels=8, fc_size=16)
    assert d(np.zeros((3, 32, 32, 3), "float32")).shape == (3, 1)
    assert d.get_layer("conv_blocks.1.conv_block.0").padding == "valid"       # stride 2: explicit pad
    assert d.get_layer("fc1").kernel.shape == (64 * 36, 16)


def test_lr_hr_batches_are_deterministic_and_bicubic():
    from deblurkeras.families.sr import data as data_sr
    src = data_sr.ImageSource("skimage", min_size=96)
    lr, hr = data_sr.random_batch(src, 5, batch_size=2, crop=32, scale=4, seed=1)
    lr2, hr2 = data_sr.random_batch(src, 5, batch_size=2, crop=32, scale=4, seed=1)
    assert np.array_equal(lr, lr2) and np.array_equal(hr, hr2)
    assert lr.shape == hr.shape == (2, 32, 32, 3)                # repeat layout lines up with HR
    small = lr[:, ::4, ::4]
    assert np.array_equal(np.repeat(np.repeat(small, 4, 1), 4, 2), lr)   # every 4th pixel gives LR back exactly
    hr_u8 = np.round(hr[0] * 255).astype(np.uint8)
    assert np.array_equal(np.round(small[0] * 255).astype(np.uint8), data_sr.bicubic_down(hr_u8, 4))
    lr3, _ = data_sr.random_batch(src, 6, batch_size=2, crop=32, scale=4, seed=1, layout="lr")
    assert lr3.shape == (2, 8, 8, 3)


def _tiny_g():
    return srresnet.build_srresnet(channels=8, n_blocks=1)


def test_srresnet_trainer_loss_and_step():
    import keras
    from deblurkeras.families.sr.trainer import SRResNetTrainer, imagenet_norm
    keras.utils.set_random_seed(0)
    g = _tiny_g()
    t = SRResNetTrainer(g, scale=4)
    t.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    lr = np.repeat(np.repeat(hr[:, ::4, ::4], 4, 1), 4, 2)
    sr = np.asarray(g(imagenet_norm(hr[:, ::4, ::4]), training=False))
    want = float(np.mean((sr - (2 * hr - 1)) ** 2))
    assert abs(t.evaluate(lr, hr, batch_size=2, verbose=0, return_dict=True)["loss"] - want) < 1e-5
    hist = t.fit(lr, hr, batch_size=2, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_srgan_trainer_updates_g_and_d_and_beta_weighting():
    import keras
    from deblurkeras import losses
    from deblurkeras.families.sr.trainer import SRGANTrainer
    keras.utils.set_random_seed(0)
    g, d = _tiny_g(), srresnet.build_srgan_discriminator(size=32, channels=8, fc_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = losses.vgg_features("vgg19", "block5_conv4", weights="none", preprocess="caffe")
    t = SRGANTrainer(g, d, feats, scale=4)
    t.compile(g_optimizer=keras.optimizers.Adam(1e-4), d_optimizer=keras.optimizers.Adam(1e-4), run_eagerly=True)
    hr = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    g0, d0 = [np.asarray(w).copy() for w in g.weights], [np.asarray(w).copy() for w in d.weights]
    logs = t.train_on_batch(hr[:, ::4, ::4], hr, return_dict=True)
    assert {"content", "adversarial", "d_loss", "psnr"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(g0, g.trainable_weights))
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(d0, d.trainable_weights))
    assert t.beta == 1e-3


def test_upscale_cli_writes_images_and_y_channel_metrics(tmp_path, srres, capsys):
    from PIL import Image
    from deblurkeras.cli import main
    weights = tmp_path / "g.weights.h5"
    srres.save_weights(str(weights))
    img = np.asarray(Image.fromarray(__import__("skimage.data").data.astronaut()).resize((34, 30)))
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    rc = main(["upscale", str(tmp_path / "a.png"), "--weights", str(weights), "--model", "srresnet-x4", "--out", str(out)])
    assert rc == 0 and Image.open(out / "a_x4.png").size == (34 * 4, 30 * 4)
    rc = main(["upscale", str(tmp_path / "a.png"), str(tmp_path / "bad.png"), "--weights", str(weights),
               "--model", "srresnet-x4", "--out", str(out), "--evaluate", "--overwrite"])  # a_x4.png exists
    assert rc == 1 and "bad.png" in capsys.readouterr().err
    report = json.loads((out / "metrics.json").read_text())
    assert report["scale"] == 4 and "4 pixels" in report["convention"]["border_crop"]
    assert report["n_images"] == 1 and np.isfinite(report["mean"]["bicubic_psnr"])


def test_upscale_evaluate_follows_the_tutorials_eval_py(tmp_path, srres):
    """Float SR output, Y channel, 4-pixel border, skimage defaults with data_range=255."""
    from PIL import Image
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from deblurkeras.cli import main
    from deblurkeras.families import IMAGENET_MEAN, IMAGENET_STD
    weights = tmp_path / "g.weights.h5"
    srres.save_weights(str(weights))
    img = np.asarray(Image.fromarray(__import__("skimage.data").data.astronaut()).resize((50, 43)))
    Image.fromarray(img).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "--weights", str(weights), "--model", "srresnet-x4",
                 "--out", str(tmp_path / "o"), "--evaluate"]) == 0
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())
    # The tutorial's recipe, restated: centred crop to multiples of 4, PIL bicubic LR, ImageNet-normalised input,
    # SR in [-1, 1] -> [0, 1] (floats), Y = 16 + RGB @ w, [4:-4, 4:-4], skimage with data_range=255 only.
    hr = img[1:41, 1:49]
    lr = np.asarray(Image.fromarray(hr).resize((12, 10), Image.BICUBIC))
    x = ((lr / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype("float32")
    sr01 = (np.asarray(srres(x[None], training=False))[0].astype(np.float64) + 1) / 2
    w = np.array([65.481, 128.553, 24.966])
    hr_y, sr_y = ((16 + (a @ w))[4:-4, 4:-4] for a in (hr / 255.0, sr01))
    row = report["images"][0]
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(hr_y, sr_y, data_range=255.0), abs=1e-4)
    assert row["ssim"] == pytest.approx(structural_similarity(hr_y, sr_y, data_range=255.0), abs=1e-5)
    assert "sample covariance" in report["convention"]["ssim"] and "4 pixels" in report["convention"]["border_crop"]


def test_y_channel_metric_convention():
    from deblurkeras.families.sr.inference import sr_metrics, y_channel
    assert y_channel(np.zeros((1, 1, 3), np.uint8))[0, 0] == 16.0
    assert abs(y_channel(np.full((1, 1, 3), 255, np.uint8))[0, 0] - 235.0) < 1e-9
    a = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    b = a.copy()
    b[:4] = 0                                           # damage only inside the 4-pixel border... and row 4..:
    assert sr_metrics(b, a, 4)[0] == float("inf")       # the cropped border does not count
    b[4, 4] = 255 - a[4, 4]
    assert np.isfinite(sr_metrics(b, a, 4)[0])


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    """The custom layers (PixelShuffle, AdaptiveAvgPool2D) are registered: .keras files load with safe_mode."""
    import keras
    rng = np.random.default_rng(0)
    for model, x in ((_tiny_g(), rng.uniform(size=(1, 6, 6, 3))),
                     (srresnet.build_srgan_discriminator(size=40, channels=4, fc_size=8), rng.uniform(size=(1, 40, 40, 3)))):
        path = str(tmp_path / f"{model.name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        x = x.astype("float32")
        assert np.array_equal(np.asarray(model(x)), np.asarray(loaded(x)))


def test_finite_sr_stream_evaluates_like_eager():
    """Graph-mode evaluate over the finite validation stream must average like eager (it halved without a known
    cardinality)."""
    import keras
    from deblurkeras.families.sr.data import make_sr_dataset
    from deblurkeras.families.sr.trainer import SRResNetTrainer
    g = _tiny_g()
    ds = make_sr_dataset("skimage", batch_size=2, crop=32, scale=4, seed=3, repeat=False, n_batches=1)
    res = []
    for eager in (True, False):
        t = SRResNetTrainer(g, scale=4)
        t.compile(optimizer=keras.optimizers.Adam(1e-4), run_eagerly=eager)
        res.append(t.evaluate(ds, verbose=0, return_dict=True))
    assert abs(res[0]["loss"] - res[1]["loss"]) < 1e-6 and abs(res[0]["psnr"] - res[1]["psnr"]) < 1e-4


def test_the_spec_names_the_originals_adam():
    """torch.optim.Adam (the tutorial's train_srresnet.py / train_srgan.py)."""
    from deblurkeras.families import family
    assert family("sr").optimizer == "torch"
