"""Architectures nobody here wrote, for checking convert-keras: keras.applications (weights=None, logits) and a small
U-Net. Used by tests/test_convert_keras.py and experiments/convert_zoo.py (which times them)."""

# name -> (builder, minimum input size)
APPS = {
    "ResNet50": ("ResNet50", 32), "MobileNetV2": ("MobileNetV2", 32), "EfficientNetB0": ("EfficientNetB0", 32),
    "DenseNet121": ("DenseNet121", 32), "VGG16": ("VGG16", 32), "Xception": ("Xception", 71),
    "ConvNeXtTiny": ("ConvNeXtTiny", 32),
}


def build_unet(size=None, base=8, depth=2, channels=3, name="unet"):
    """A small U-Net: [conv-BN-ReLU x2, max-pool] down, bilinear up-sampling / transposed conv + skip concat up."""
    import keras
    from keras import layers
    inp = keras.Input((size, size, channels), name="image")
    x, skips = inp, []
    for d in range(depth):
        f = base * 2 ** d
        x = layers.Conv2D(f, 3, padding="same", name=f"down{d}_conv1")(x)
        x = layers.BatchNormalization(name=f"down{d}_bn1")(x)
        x = layers.ReLU(name=f"down{d}_relu1")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"down{d}_conv2")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{d}_pool")(x)
    x = layers.Conv2D(base * 2 ** depth, 3, strides=1, padding="same", activation="relu", name="bottom")(x)
    for d in reversed(range(depth)):
        f = base * 2 ** d
        if d % 2:
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{d}_resize")(x)
        else:
            x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", name=f"up{d}_deconv")(x)
        x = layers.Concatenate(name=f"up{d}_cat")([x, skips[d]])
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"up{d}_conv")(x)
    out = layers.Conv2D(channels, 1, activation="sigmoid", name="head")(x)
    return keras.Model(inp, out, name=name)


def build(name, size):
    import keras
    if name == "UNet":
        return build_unet(None, base=16, depth=3)
    # logits (no softmax): a 1000-way softmax of a random net is ~1e-3 everywhere and would hide differences
    if name == "MobileNetV2-0.35":
        return keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), alpha=0.35,
                                              classifier_activation=None)
    builder, min_size = APPS[name]
    return getattr(keras.applications, builder)(weights=None, input_shape=(max(size, min_size),) * 2 + (3,),
                                                classifier_activation=None)
