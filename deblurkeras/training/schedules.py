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


@keras.saving.register_keras_serializable(package="deblurkeras")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over the first `steps` steps: lr(step) = inner(step) * min(1, (step + 1) / steps).

    Not in the original recipes (a named deviation, off unless `train.warmup_steps` > 0): it lets short demo runs
    use a higher learning rate without the first updates blowing up the un-normalised SRN outputs.
    """

    def __init__(self, inner, steps):
        self.inner, self.steps = inner, int(steps)

    def __call__(self, step):
        inner = self.inner(step) if callable(self.inner) else self.inner
        ramp = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / float(self.steps))
        return inner * ramp

    def get_config(self):
        inner = keras.optimizers.schedules.serialize(self.inner) if callable(self.inner) else self.inner
        return {"inner": inner, "steps": self.steps}

    @classmethod
    def from_config(cls, config):
        inner = config["inner"]
        if isinstance(inner, dict):
            inner = keras.optimizers.schedules.deserialize(inner)
        return cls(inner, config["steps"])


class TimePolynomial(keras.optimizers.schedules.LearningRateSchedule):
    """Polynomial decay over wall-clock time instead of steps: lr = (lr0 - end) * (1 - progress)**power + end,
    progress = elapsed / run.time_budget_s, set by the runner after every step (`set_progress`).

    A demo setting (not in any original recipe): on a machine shared with other work the number of steps that fit
    in the budget is unknown, and a step-based schedule cut short would end at a high learning rate. Exact resume
    is not defined for it (the clock restarts); use the step-based `polynomial` for real runs.
    """

    def __init__(self, lr, end_lr=0.0, power=1.0):
        self.lr, self.end_lr, self.power = float(lr), float(end_lr), float(power)
        self.progress = keras.Variable(0.0, trainable=False, name="time_progress", dtype="float32")

    def set_progress(self, fraction):
        self.progress.assign(min(max(float(fraction), 0.0), 1.0))

    def __call__(self, step):
        remaining = 1.0 - keras.ops.convert_to_tensor(self.progress)
        return (self.lr - self.end_lr) * keras.ops.power(remaining, self.power) + self.end_lr

    def get_config(self):
        return {"lr": self.lr, "end_lr": self.end_lr, "power": self.power}


def time_progress_schedule(optimizer):
    """The TimePolynomial an optimizer runs on (through Warmup / LossScaleOptimizer), or None."""
    opt = getattr(optimizer, "inner_optimizer", optimizer)
    sched = getattr(opt, "_learning_rate", None)
    sched = getattr(sched, "inner", sched)
    return sched if isinstance(sched, TimePolynomial) else None


def build_schedule(train_cfg, total_steps):
    """Schedule from a `train` config section: schedule (polynomial|constant|piecewise), lr, end_lr, power,
    boundaries/factor (piecewise), warmup_steps (0 = none, the original)."""
    kind = train_cfg.get("schedule", "polynomial")
    lr = float(train_cfg.get("lr", 1e-4))
    if kind == "polynomial":
        sched = polynomial(lr, total_steps, train_cfg.get("end_lr", 0.0), train_cfg.get("power", 0.3))
    elif kind == "constant":
        sched = constant(lr)
    elif kind == "piecewise":
        sched = piecewise(lr, train_cfg.get("boundaries", []), train_cfg.get("factor", 0.1))
    elif kind == "time_polynomial":
        sched = TimePolynomial(lr, train_cfg.get("end_lr", 0.0), train_cfg.get("power", 1.0))
    else:
        raise ValueError(f"unknown schedule {kind!r}; expected polynomial, constant, piecewise or time_polynomial")
    warmup = int(train_cfg.get("warmup_steps") or 0)
    return Warmup(sched, warmup) if warmup > 0 else sched


def current_lr(optimizer):
    """The learning rate the optimizer uses at its current iteration, as a float."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps the real one
    lr = inner.learning_rate
    return float(keras.ops.convert_to_numpy(lr))
