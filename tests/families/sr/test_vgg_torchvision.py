"""SRGAN's perceptual loss on torchvision's VGG19: strict .pth loading into Keras' VGG19 and the
tutorial's input convention, checked against a torch VGG19 built here in torchvision's key layout."""
import numpy as np
import pytest
import torch
import yaml
from torch import nn

import deblurkeras  # noqa: F401  (sets the Keras backend)
from deblurkeras import losses
from deblurkeras.errors import BadInputError, WeightsMismatchError
from deblurkeras.families import IMAGENET_MEAN, IMAGENET_STD, config_path

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class TorchVGG19(nn.Module):
    """torchvision's vgg19().features layout: conv3x3(pad 1) + ReLU per entry, MaxPool2d(2) per 'M'."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)


def truncation(features, i, j):
    """Length of the tutorial's TruncatedVGG19(i, j) prefix: the j-th conv after the (i-1)-th max-pool, plus its
    activation (re-derived from the definition, not copied)."""
    pools = convs = 0
    for n, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            pools, convs = pools + 1, 0
        elif isinstance(layer, nn.Conv2d):
            convs += 1
            if pools == i - 1 and convs == j:
                return n + 2
    raise ValueError((i, j))


@pytest.fixture(scope="module")
def torch_vgg(tmp_path_factory):
    torch.manual_seed(0)
    net = TorchVGG19().eval()
    for m in net.modules():  # He init keeps the activations O(1) through 16 convs (torch's default shrinks them)
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.1, 0.1)
    sd = dict(net.state_dict())
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry the top; it is ignored (no top)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-test.pth"
    torch.save(sd, path)
    return net, path


def test_block5_conv4_is_the_tutorials_i5_j4():
    feats = TorchVGG19().features
    n = truncation(feats, 5, 4)
    assert n == 36 and isinstance(feats[n - 1], nn.ReLU) and isinstance(feats[n], nn.MaxPool2d)
    convs = [name for name, _ in losses.torchvision_vgg_names("vgg19")]
    assert len(convs) == 16 and convs[-1] == "block5_conv4"
    assert losses.torchvision_vgg_names("vgg19")[-1][1] == "features.34"  # the 16th conv, ReLU at 35


def test_keras_features_match_torch_vgg19_with_the_tutorials_preprocessing(torch_vgg):
    net, path = torch_vgg
    feats = losses.vgg_features("vgg19", "block5_conv4", weights=str(path), preprocess="auto",
                                input_range=(-1.0, 1.0))
    assert feats.get_layer("vgg_preprocess").mode == "torch"
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 48, 32, 3)).astype("float32")   # SR output range [-1, 1]
    ours = np.asarray(feats(x))
    # the tutorial: convert_image(sr, '[-1, 1]', 'imagenet-norm'), then truncated_vgg19 = features[:36]
    x01 = torch.from_numpy(x).permute(0, 3, 1, 2) * 0.5 + 0.5
    norm = (x01 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = net.features[:truncation(net.features, 5, 4)](norm).permute(0, 2, 3, 1).numpy()
    assert ours.shape == ref.shape == (2, 3, 2, 512)
    scale = np.abs(ref).max()
    assert scale > 1e-2 and (ref > 0).mean() > 0.1       # not a trivially dead feature map
    assert np.abs(ours - ref).max() <= 1e-4 * scale


def test_torchvision_weights_are_loaded_strictly_and_named(torch_vgg, tmp_path):
    net, _ = torch_vgg
    sd = dict(net.state_dict())
    del sd["features.30.bias"]
    sd["features.34.weight"] = torch.zeros(512, 512, 1, 1)
    sd["features.99.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(WeightsMismatchError) as e:
        losses.vgg_features("vgg19", "block5_conv4", weights=str(bad), preprocess="auto")
    msg = str(e.value)
    assert "features.30.bias" in msg and "features.34.weight" in msg and "features.99.weight" in msg
    assert "bad.pth" in msg


def test_torchvision_weights_need_the_torch_preprocessing(torch_vgg):
    _, path = torch_vgg
    with pytest.raises(BadInputError, match="mean/std"):
        losses.vgg_features("vgg19", "block5_conv4", weights=str(path), preprocess="caffe")
    with pytest.raises(BadInputError, match="download.pytorch.org"):
        losses.vgg_features("vgg19", "block5_conv4", weights="missing/vgg19-dcbb9e9d.pth", preprocess="auto")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "module.pth"
    torch.save({"features": TorchVGG19().features}, path)  # a whole module: weights_only=True refuses it
    with pytest.raises(BadInputError):
        losses.vgg_features("vgg19", "block5_conv4", weights=str(path), preprocess="auto")


def test_srgan_config_defaults_to_torchvision_vgg19_with_imagenet_norm():
    from deblurkeras.families import family
    from deblurkeras.families.sr import trainer

    with open(config_path("sr/srgan_x4"), encoding="utf-8") as f:
        loss = yaml.safe_load(f)["loss"]
    assert loss["vgg_weights"].endswith(".pth") and loss["vgg_preprocess"] == "auto"
    assert family("sr").config["loss"]["vgg_weights"] == trainer.VGG19_TORCHVISION == loss["vgg_weights"]
    assert losses._preprocess_mode("auto", loss["vgg_weights"]) == "torch"
