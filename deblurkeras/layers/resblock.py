"""Residual block of SRN-DeblurNet: conv+ReLU, conv, add the input (no ReLU after the add)."""
import keras


@keras.saving.register_keras_serializable(package="deblurkeras")
class ResBlock(keras.layers.Layer):
    """Sub-layers are named `conv1` and `conv2`, so weights read `<scope>/conv1/kernel` like the TF1 scopes."""

    def __init__(self, filters, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        common = dict(padding="same", kernel_initializer="glorot_uniform", bias_initializer="zeros")
        self.conv1 = keras.layers.Conv2D(self.filters, self.kernel_size, activation="relu", name="conv1", **common)
        self.conv2 = keras.layers.Conv2D(self.filters, self.kernel_size, activation=None, name="conv2", **common)

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, x):
        return x + self.conv2(self.conv1(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}
