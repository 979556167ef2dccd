"""Adam as the original framework computed it, down to the rounding: TF1's, Keras 2's or PyTorch's.

The two rules differ only in where epsilon goes (t = step, m, v the raw moment estimates):
    Keras / TF1:  w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    PyTorch:      w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
So Keras' epsilon is in effect eps / sqrt(1 - b2^t): 31.6x PyTorch's at step 1, still ~3x after 100 steps. Weights
whose gradients are near eps in size (small layers, late layers of deep nets) move noticeably less early on.
`TorchAdam` keeps Keras' Adam variables (iterations, momentum, velocity, ...) so checkpoints, LossScaleOptimizer and
tf.distribute work unchanged; only `update_step` follows torch.optim.Adam (single-tensor path, amsgrad included).

TF1 and Keras 2 put epsilon where Keras 3 does, but round differently, and it shows: Keras 3 takes `1 - beta_2` in
double (0.001) where both originals take it in float32 from float32(0.999) (0.00099998713), so its steps come out
6.4e-6 shorter; and it takes beta^t from pow() where TF1 keeps float32 running products. `TF1Adam` is
tf.compat.v1.train.AdamOptimizer's arithmetic (SRN), `Keras2Adam` Keras 2's Adam.get_updates (the dense-field
GAN). Both differ from Keras 3's Adam only there; measured against the originals in tests/test_optimizers.py.

Semantics names (a family's `FamilySpec.optimizer`): "tf1", "keras2", "torch", and "keras" for Keras 3's own Adam.
"""
import keras
from keras import ops

SEMANTICS = ("tf1", "keras2", "torch", "keras")


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


@keras.saving.register_keras_serializable(package="deblurkeras")
class TF1Adam(keras.optimizers.Adam):
    """keras.optimizers.Adam computed as tf.compat.v1.train.AdamOptimizer computes it (its ApplyAdam kernel):
    beta_1, beta_2, epsilon and the learning rate are float32 tensors cast to the variable's dtype; beta_1^t and
    beta_2^t are float32 running products kept in two extra optimizer variables (TF1's `beta1_power` /
    `beta2_power`), advanced once per step after the update;
        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t);  m += (g - m) * (1 - beta_1);  v += (g*g - v) * (1 - beta_2)
        w -= (m * alpha) / (sqrt(v) + epsilon)
    Defaults are TF1's (lr 1e-3, epsilon 1e-8)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        if kwargs.get("amsgrad") or kwargs.get("gradient_accumulation_steps"):
            raise ValueError("TF1Adam: TF1's AdamOptimizer has no amsgrad / gradient accumulation")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # beta^t of the step about to run is power * beta: start at 1 (TF1 starts at beta and multiplies after)
        self._beta_powers = [self.add_variable((), initializer="ones", dtype="float32",
                                               aggregation="only_first_replica", name=name)
                             for name in ("beta_1_power", "beta_2_power")]

    def _hyper(self):
        """(beta_1, beta_2) as TF1 has them: float32 tensors (float32(0.999), not 0.999)."""
        return ops.convert_to_tensor(self.beta_1, "float32"), ops.convert_to_tensor(self.beta_2, "float32")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        beta_1, beta_2 = self._hyper()
        b1_power, b2_power = (ops.cast(p * b, dtype) for p, b in zip(self._beta_powers, (beta_1, beta_2)))
        lr = ops.cast(learning_rate, dtype)
        one = ops.cast(1.0, dtype)
        beta_1, beta_2 = ops.cast(beta_1, dtype), ops.cast(beta_2, dtype)
        epsilon = ops.cast(ops.convert_to_tensor(self.epsilon, "float32"), dtype)
        gradient = ops.cast(gradient, dtype)

        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        alpha = lr * ops.sqrt(one - b2_power) / (one - b1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), one - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), one - beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), epsilon)))

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        super().apply(grads, trainable_variables)
        # TF1's _finish: beta1_power *= beta1, beta2_power *= beta2 (float32), once per step
        for power, beta in zip(self._beta_powers, self._hyper()):
            power.assign(power * beta)


@keras.saving.register_keras_serializable(package="deblurkeras")
class Keras2Adam(keras.optimizers.Adam):
    """keras.optimizers.Adam computed as Keras 2's Adam.get_updates: beta_1, beta_2 and the learning rate are
    variables of the weights' float type (float32(0.9) in float32), epsilon a Python float, t = iterations + 1;
        lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)   (beta^t by pow)
        m = beta_1 * m + (1 - beta_1) * g;  v = beta_2 * v + (1 - beta_2) * g^2;  w = w - lr_t * m / (sqrt(v) + eps)
    Defaults are Keras 2.1's (lr 1e-3, epsilon K.epsilon() = 1e-7)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        if kwargs.get("amsgrad"):
            raise ValueError("Keras2Adam: amsgrad is not part of the dense-field GAN's optimizer")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        beta_1, beta_2 = (ops.convert_to_tensor(b, dtype) for b in (self.beta_1, self.beta_2))
        lr = ops.cast(learning_rate, dtype)
        t = ops.cast(self.iterations, dtype) + ops.cast(1.0, dtype)
        one = ops.cast(1.0, dtype)
        lr_t = lr * (ops.sqrt(one - ops.power(beta_2, t)) / (one - ops.power(beta_1, t)))
        gradient = ops.cast(gradient, dtype)

        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, ops.add(ops.multiply(beta_1, m), ops.multiply(one - beta_1, gradient)))
        self.assign(v, ops.add(ops.multiply(beta_2, v), ops.multiply(one - beta_2, ops.square(gradient))))
        epsilon = ops.convert_to_tensor(self.epsilon, dtype)
        step = ops.divide(ops.multiply(lr_t, m), ops.add(ops.sqrt(v), epsilon))
        self.assign(variable, ops.subtract(variable, step))


_CLASSES = {"tf1": TF1Adam, "keras2": Keras2Adam, "torch": TorchAdam, "keras": keras.optimizers.Adam}


def make_adam(train_cfg, learning_rate, semantics="keras", **kwargs):
    """Adam with the config's betas / epsilon and the update rule of `semantics` (see the module docstring)."""
    if semantics not in SEMANTICS:
        raise ValueError(f"optimizer semantics {semantics!r}: expected one of {SEMANTICS}")
    return _CLASSES[semantics](learning_rate=learning_rate, beta_1=float(train_cfg.get("beta_1", 0.9)),
                               beta_2=float(train_cfg.get("beta_2", 0.999)),
                               epsilon=float(train_cfg.get("epsilon", 1e-8)), **kwargs)


def family_adam(train_cfg, semantics, precision=None, total_steps=None, **kwargs):
    """The one optimizer recipe of every build_trainer: the family's Adam (`semantics`, FamilySpec.optimizer) on the
    configured `train.schedule` over `total_steps` (default train.total_steps), wrapped in Keras'
    LossScaleOptimizer when `precision` (a deblurkeras.precision.Precision or its name; None = float32) is float16:
    bfloat16 has float32's exponent range and needs no loss scaling."""
    from ..precision import resolve
    from .schedules import build_schedule

    total = int(train_cfg["total_steps"] if total_steps is None else total_steps)
    opt = make_adam(train_cfg, build_schedule(train_cfg, total), semantics, **kwargs)
    return keras.optimizers.LossScaleOptimizer(opt) if resolve(precision).name == "float16" else opt

