"""DMPHN's own Keras layer (registered as `deblurkeras>Halves` for safe_mode loading): the patch split."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deblurkeras")
class Halves(keras.layers.Layer):
    """Split a tensor in two along `axis` at int(size/2) (the official `x[:, :, 0:int(H/2)]`, `x[:, :, int(H/2):]`)."""

    def __init__(self, axis=1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x):
        half = ops.shape(x)[self.axis] // 2
        if self.axis == 1:
            return [x[:, :half], x[:, half:]]
        return [x[:, :, :half], x[:, :, half:]]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.axis] = None if shape[self.axis] is None else shape[self.axis] // 2
        return [tuple(shape), tuple(shape)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
