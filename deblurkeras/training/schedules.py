"""Learning-rate schedules named in configs (`train.schedule`).

`polynomial` is TF1 `tf.train.polynomial_decay(lr, step, total, end_lr, power)` without cycling, the SRN setting
(1e-4 -> 0, power 0.3): lr(step) = (lr - end) * (1 - min(step, total)/total)**power + end.
Keras' PolynomialDecay has exactly this formula; it is evaluated at `optimizer.iterations`, so restoring the
optimizer's variables restores the schedule position too.
"""
import keras


def polynomial(lr, total_steps, end_lr=0.0, power=0.3):
    return keras.optimizers.schedules.PolynomialDecay(float(lr), int(total_steps), float(end_lr), power=float(power))


def constant(lr, **_):
    return float(lr)


def piecewise(lr, boundaries, factor=0.1, **_):
    """lr, then lr*factor after each boundary step (the step-decay used by the GAN / SR recipes)."""
    values = [float(lr) * float(factor) ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay([int(b) for b in boundaries], values)


def build_schedule(train_cfg, total_steps):
    """Schedule from a `train` config section: schedule (polynomial|constant|piecewise), lr, end_lr, power, ..."""
    kind = train_cfg.get("schedule", "polynomial")
    lr = float(train_cfg.get("lr", 1e-4))
    if kind == "polynomial":
        return polynomial(lr, total_steps, train_cfg.get("end_lr", 0.0), train_cfg.get("power", 0.3))
    if kind == "constant":
        return constant(lr)
    if kind == "piecewise":
        return piecewise(lr, train_cfg.get("boundaries", []), train_cfg.get("factor", 0.1))
    raise ValueError(f"unknown schedule {kind!r}; expected polynomial, constant or piecewise")


def current_lr(optimizer):
    """The learning rate the optimizer uses at its current iteration, as a float."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps the real one
    lr = inner.learning_rate
    return float(keras.ops.convert_to_numpy(lr))
