"""Adam as the original framework computed it: Keras/TF1's rule for TF-origin families, PyTorch's for torch ones.

The two rules differ only in where epsilon goes (t = step, m, v the raw moment estimates):
    Keras / TF1:  w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    PyTorch:      w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
So Keras' epsilon is in effect eps / sqrt(1 - b2^t): 31.6x PyTorch's at step 1, still ~3x after 100 steps. Weights
whose gradients are near eps in size (small layers, late layers of deep nets) move noticeably less early on.
`TorchAdam` keeps Keras' Adam variables (iterations, momentum, velocity, ...) so checkpoints, LossScaleOptimizer and
tf.distribute work unchanged; only `update_step` follows torch.optim.Adam (single-tensor path, amsgrad included).
"""
import keras
from keras import ops

SEMANTICS = ("tf", "torch")


@keras.saving.register_keras_serializable(package="deblurkeras")
class TorchAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam with torch.optim.Adam's update (epsilon added to sqrt(v_hat)) and its defaults
    (lr 1e-3, epsilon 1e-8; Keras' Adam defaults to epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        # torch computes the bias corrections in Python floats (float64): 1 - 0.999 in float32 is 1.3e-5 off
        # (ops.cast of a Python float would go through float32 first: convert_to_tensor with the dtype instead)
        step = ops.cast(self.iterations + 1, "float64")
        bias1 = 1.0 - ops.power(ops.convert_to_tensor(self.beta_1, "float64"), step)
        bias2_sqrt = ops.sqrt(1.0 - ops.power(ops.convert_to_tensor(self.beta_2, "float64"), step))
        step_size = ops.cast(ops.cast(learning_rate, "float64") / bias1, dtype)
        bias2_sqrt = ops.cast(bias2_sqrt, dtype)

        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        # torch: m.lerp_(g, 1 - b1) = m + (1 - b1) * (g - m);
        #        v.mul_(b2).addcmul_(g, g, value=1 - b2) = v * b2 + ((1 - b2) * g) * g
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        self.assign(v, ops.add(ops.multiply(v, self.beta_2),
                               ops.multiply(ops.multiply(gradient, 1.0 - self.beta_2), gradient)))
        if self.amsgrad:
            v_max = self._velocity_hats[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        denom = ops.add(ops.divide(ops.sqrt(v), bias2_sqrt), ops.cast(self.epsilon, dtype))
        # torch's addcdiv_(m, denom, value=-step_size) computes w + (value * m) / denom, in that order
        self.assign_add(variable, ops.divide(ops.multiply(m, -step_size), denom))


def make_adam(train_cfg, learning_rate, semantics="tf"):
    """Adam with the config's betas / epsilon: Keras' own ("tf") or PyTorch's update rule ("torch")."""
    if semantics not in SEMANTICS:
        raise ValueError(f"optimizer semantics {semantics!r}: expected one of {SEMANTICS}")
    cls = TorchAdam if semantics == "torch" else keras.optimizers.Adam
    return cls(learning_rate=learning_rate, beta_1=float(train_cfg.get("beta_1", 0.9)),
               beta_2=float(train_cfg.get("beta_2", 0.999)), epsilon=float(train_cfg.get("epsilon", 1e-8)))
