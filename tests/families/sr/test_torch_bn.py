"""TorchBatchNorm keeps torch.nn.BatchNorm2d's running statistics; SR models use it; SRGAN's D step runs D(HR) first."""
import keras
import numpy as np
import pytest
import torch

from deblurkeras.families import build_model
from deblurkeras.families.sr.layers import TorchBatchNorm

SHAPES = [(2, 2, 2, 4), (1, 3, 3, 4), (4, 1, 2, 4)]  # small maps: n/(n-1) is far from 1


def _batches(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * rng.uniform(0.5, 3, 4) + rng.uniform(-1, 1, 4)).astype(np.float32)
            for s in SHAPES]


def _torch_stats(batches, momentum=0.1, eps=1e-5):
    bn = torch.nn.BatchNorm2d(4, momentum=momentum, eps=eps).train()
    outs = [bn(torch.from_numpy(b.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1) for b in batches]
    return bn.running_mean.numpy(), bn.running_var.numpy(), outs


def _keras_stats(layer, batches):
    outs = [np.asarray(layer(b, training=True)) for b in batches]
    return layer.moving_mean.numpy(), layer.moving_variance.numpy(), outs


def test_running_statistics_match_torch_after_three_training_calls():
    batches = _batches()
    t_mean, t_var, t_outs = _torch_stats(batches)
    k_mean, k_var, k_outs = _keras_stats(TorchBatchNorm(), batches)
    np.testing.assert_allclose(k_mean, t_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(k_var, t_var, rtol=1e-6, atol=1e-7)
    for k, t in zip(k_outs, t_outs):  # the batch itself is normalised with the biased variance, as torch
        np.testing.assert_allclose(k, t, rtol=1e-5, atol=1e-5)
    # Keras' own layer keeps the biased variance: the difference this layer exists for
    _, plain_var, _ = _keras_stats(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5), batches)
    assert np.max(np.abs(plain_var - t_var) / t_var) > 1e-2


def test_inference_uses_the_running_statistics_and_config_round_trips():
    layer = TorchBatchNorm()
    x = _batches()[0]
    layer(x, training=True)
    mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    want = (x - mean) / np.sqrt(var + 1e-5) * layer.gamma.numpy() + layer.beta.numpy()
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), want, rtol=1e-5, atol=1e-5)
    back = TorchBatchNorm.from_config(layer.get_config())
    assert (back.momentum, back.epsilon) == (0.9, 1e-5)
    with pytest.raises(ValueError, match="renorm"):
        TorchBatchNorm(renorm=True)


def test_sr_models_use_it_and_survive_safe_mode_and_export(tmp_path):
    from deblurkeras.convert.export import build_twin, keras_to_torch_state
    from deblurkeras.convert.parity import randomize_batchnorm

    for name, kw in (("srresnet-x4", {"channels": 8, "n_blocks": 1}), ("srgan-d", {"size": 24, "channels": 8,
                                                                             "n_blocks": 4, "fc_size": 16})):
        model = randomize_batchnorm(build_model(name, **kw))
        bns = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.BatchNormalization)]
        assert bns and all(type(lyr) is TorchBatchNorm for lyr in bns)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        back = keras.saving.load_model(path, safe_mode=True, compile=False)
        assert all(type(lyr) is TorchBatchNorm for lyr in back.layers if "BatchNorm" in type(lyr).__name__)
        for a, b in zip(model.weights, back.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        twin = build_twin(name, kw)
        twin.load_state_dict(keras_to_torch_state(model, twin))  # BN maps to nn.BatchNorm2d as before


def test_srgan_d_step_moves_d_statistics_like_the_tutorial():
    """One SRGAN step: D runs on SR (G step), then HR, then SR.detach() (D step), all in training mode, so its
    running statistics after the step are those of a torch BatchNorm fed in that order."""
    from deblurkeras.convert.export import build_twin, keras_to_torch_state
    from deblurkeras.families.sr.trainer import SRGANTrainer, imagenet_norm
    from deblurkeras.training.optimizers import TorchAdam

    keras.utils.set_random_seed(0)
    g = build_model("srgan-x4", channels=8, n_blocks=1)
    d_kw = {"size": 16, "channels": 8, "n_blocks": 4, "fc_size": 16}
    d = build_model("srgan-d", **d_kw)
    inp = keras.Input((None, None, 3))
    features = keras.Model(inp, keras.layers.Identity()(inp))
    trainer = SRGANTrainer(g, d, features)
    trainer.compile(g_optimizer=TorchAdam(1e-4), d_optimizer=TorchAdam(1e-4))
    twin = build_twin("srgan-d", d_kw).train()
    twin.load_state_dict(keras_to_torch_state(d, twin))

    rng = np.random.default_rng(1)
    hr = rng.random((2, 16, 16, 3), dtype=np.float32)
    lr = hr[:, ::4, ::4]
    sr = np.asarray(g(imagenet_norm(lr), training=True))  # what G produces in the step (before its update)
    trainer.train_step((lr, hr))
    to_t = lambda a: torch.from_numpy(np.asarray(a).transpose(0, 3, 1, 2).copy())  # noqa: E731
    with torch.no_grad():
        sr_in, hr_in = to_t(imagenet_norm((sr + 1) / 2)), to_t(imagenet_norm(hr))
        for x in (sr_in, hr_in, sr_in):  # tutorial order; (sr, sr, hr) was the old order here
            twin(x)
    bn_keras = {lyr.name: lyr for lyr in d.layers if isinstance(lyr, TorchBatchNorm)}
    assert bn_keras
    for name, lyr in bn_keras.items():
        mod = twin.get_submodule(name)
        np.testing.assert_allclose(lyr.moving_mean.numpy(), mod.running_mean.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        np.testing.assert_allclose(lyr.moving_variance.numpy(), mod.running_var.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
