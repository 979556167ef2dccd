"""SRN's own Keras layers (registered as `deblurkeras>NAME` for safe_mode loading): ConvLSTMCell, ResBlock,
StopGradient, ZeroState.

ConvLSTMCell is the official code's BasicConvLSTMCell.

State = concat([c, h]) on channels. One conv over concat([x, h]) gives 4*F channels split in gate order
i, j, f, o; the forget bias (+1.0) is added at run time, not stored:
    c' = c * sigmoid(f + 1) + sigmoid(i) * tanh(j);   h' = tanh(c') * sigmoid(o)
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deblurkeras")
class ConvLSTMCell(keras.layers.Layer):
    """Call as cell([x, state]) -> [h', state']; the conv sub-layer is `LSTM_conv` (scope convLSTM/LSTM_conv)."""

    def __init__(self, filters=128, kernel_size=3, forget_bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.forget_bias = int(filters), int(kernel_size), float(forget_bias)
        self.conv = keras.layers.Conv2D(
            4 * self.filters, self.kernel_size, padding="same", name="LSTM_conv",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=1e-3), bias_initializer="zeros")

    def build(self, input_shape):
        x_shape, _ = input_shape
        self.conv.build(tuple(x_shape[:-1]) + (x_shape[-1] + self.filters,))

    def call(self, inputs):
        x, state = inputs
        c, h = ops.split(state, 2, axis=-1)
        i, j, f, o = ops.split(self.conv(ops.concatenate([x, h], axis=-1)), 4, axis=-1)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * ops.tanh(j)
        new_h = ops.tanh(new_c) * ops.sigmoid(o)
        return [new_h, ops.concatenate([new_c, new_h], axis=-1)]

    def compute_output_shape(self, input_shape):
        x_shape, _ = input_shape
        return [tuple(x_shape[:-1]) + (self.filters,), tuple(x_shape[:-1]) + (2 * self.filters,)]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "forget_bias": self.forget_bias}


# ---- Residual block of SRN-DeblurNet: conv+ReLU, conv, add the input (no ReLU after the add).
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


# ---- Tiny layers that wrap one op so functional models stay serializable.
@keras.saving.register_keras_serializable(package="deblurkeras")
class StopGradient(keras.layers.Layer):
    """Identity forward, no gradient backward (SRN's upsampled previous prediction)."""

    def call(self, x):
        return ops.stop_gradient(x)


@keras.saving.register_keras_serializable(package="deblurkeras")
class ZeroState(keras.layers.Layer):
    """A zero ConvLSTM state (c and h) shaped like the features `x`: channels doubled."""

    def call(self, x):
        z = ops.zeros_like(x)
        return ops.concatenate([z, z], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2 * input_shape[-1],)
