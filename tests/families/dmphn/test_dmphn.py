"""DMPHN model structure, padding semantics and trainer (small shapes)."""
import numpy as np
import pytest

from deblurkeras.families import dmphn as family
from deblurkeras.families.dmphn import model as dmphn
from deblurkeras.families import build_model, entry, model_io


def _n(model):
    return sum(int(np.prod(w.shape)) for w in model.weights)


def test_parameter_counts_per_pair_and_per_model():
    enc, dec = dmphn.build_encoder(), dmphn.build_decoder()
    assert _n(enc) == family.ENCODER_PARAMS and _n(dec) == family.DECODER_PARAMS
    assert _n(enc) + _n(dec) == family.PAIR_PARAMS
    assert _n(build_model("dmphn-1-2-4")) == 3 * family.PAIR_PARAMS == entry("dmphn-1-2-4").params


def test_torch_reference_pair_has_the_same_count():
    pytest.importorskip("torch")
    from deblurkeras.families.dmphn import original as ref
    n = sum(p.numel() for m in (ref.Encoder(), ref.Decoder()) for p in m.parameters())
    assert n == family.PAIR_PARAMS


def test_layer_names_map_to_the_official_state_dict_keys():
    model = build_model("dmphn-1-2-4-8")
    subs = sorted(layer.name for layer in model.layers if layer.weights)
    assert subs == sorted(f"{p}_lv{k}" for p in ("encoder", "decoder") for k in (1, 2, 3, 4))
    enc = model.get_layer("encoder_lv3")
    keys = {f"{layer.name}.{s}" for layer in enc.layers if layer.weights for s in ("weight", "bias")}
    assert {"layer1.weight", "layer2.0.weight", "layer2.2.bias", "layer5.weight", "layer11.2.weight"} <= keys
    assert len(keys) == 2 * (3 + 2 * 6)           # 3 plain convs + 6 residual blocks of 2 convs
    assert model.get_layer("decoder_lv1").get_layer("layer16").kernel.shape == (4, 4, 64, 128)


def test_stride2_padding_is_symmetric_not_tf_same():
    """Impulse at (2, 2) of a 4x4 input, 3x3 ones kernel, stride 2: PyTorch padding=1 puts it only in output
    (1, 1) (windows rows -1..1 and 1..3); TF SAME pads (0, 1) and would also put it in output (0, 0)."""
    import keras
    x = keras.Input((4, 4, 1))
    m = keras.Model(x, dmphn._apply(x, ("t", "conv", 1, 1, 2)))
    conv = m.get_layer("t")
    conv.kernel.assign(np.ones(conv.kernel.shape, "float32"))
    img = np.zeros((1, 4, 4, 1), "float32")
    img[0, 2, 2, 0] = 1.0
    out = np.asarray(m(img))[0, ..., 0]
    assert out.tolist() == [[0.0, 0.0], [0.0, 1.0]]
    same = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False, kernel_initializer="ones")
    assert np.asarray(same(img))[0, 0, 0, 0] == 1.0      # what a TF-SAME port would get wrong


def test_transposed_conv_crops_like_torch_padding_1():
    import keras
    x = keras.Input((2, 2, 1))
    m = keras.Model(x, dmphn._apply(x, ("t", "deconv", 1, 1, 2)))
    assert m.output.shape[1:3] == (4, 4)
    deconv = m.get_layer("t")
    k = np.arange(16, dtype="float32").reshape(4, 4, 1, 1)
    deconv.kernel.assign(k)
    img = np.zeros((1, 2, 2, 1), "float32")
    img[0, 0, 0, 0] = 1.0
    # torch ConvTranspose2d(k=4, s=2, p=1): input (0, 0) writes kernel[a, b] to output (a-1, b-1)
    assert np.array_equal(np.asarray(m(img))[0, :3, :3, 0], k[1:, 1:, 0, 0])


def test_forward_shapes_and_levels():
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 32, 16, 3)).astype("float32")
    for name in ("dmphn-1-2-4", "dmphn-1-2-4-8"):
        out = build_model(name)(x)
        assert out.shape == x.shape
        assert model_io(name).in_offset == -0.5 and model_io(name).out_offset == -0.5
    with pytest.raises(ValueError, match="prefix"):
        dmphn.build_dmphn((1, 4))


def test_finer_levels_reach_the_output():
    """Zeroing the finest decoder's last conv changes the output: the residual path is wired in."""
    model = dmphn.build_dmphn((1, 2, 4))
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 16, 16, 3)).astype("float32")
    before = np.asarray(model(x))
    last = model.get_layer("decoder_lv3").get_layer("layer24")
    last.bias.assign(last.bias + 0.3)
    assert np.abs(np.asarray(model(x)) - before).max() > 1e-4


def test_trainer_mse_and_steps():
    import keras
    from deblurkeras.families.dmphn.trainer import DMPHNTrainer
    keras.utils.set_random_seed(0)
    net = dmphn.build_dmphn((1, 2))             # small graph; the loss does not depend on the depth
    trainer = DMPHNTrainer(net)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4), run_eagerly=True)   # no tracing: fast on CPU
    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    blurred = np.clip(sharp + rng.normal(0, 0.1, sharp.shape), 0, 1).astype("float32")
    want = float(np.mean((np.asarray(net(blurred - 0.5)) - (sharp - 0.5)) ** 2))
    got = trainer.evaluate(blurred, sharp, batch_size=2, verbose=0, return_dict=True)["loss"]
    assert abs(got - want) < 1e-6
    hist = trainer.fit(blurred, sharp, batch_size=2, epochs=3, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    prev = np.asarray(trainer.preview(blurred))
    assert prev.min() >= 0 and prev.max() <= 1 and prev.shape == blurred.shape


def test_the_spec_names_the_originals_adam():
    """torch.optim.Adam (DMPHN_1_2_4_8.py, SDNet4.py)."""
    from deblurkeras.families import family
    assert family("dmphn").optimizer == "torch"
