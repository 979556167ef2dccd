"""Tiny layers that wrap one op so functional models stay serializable."""
import keras
from keras import ops


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
