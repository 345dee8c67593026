"""Learning-rate schedules the papers use, as serializable Keras schedules."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnzoo")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant learning rate indexed by completed iterations.

    The rate is ``values[i]`` while ``boundaries[i-1] <= step < boundaries[i]``:
    "divided by 10 at 32k iterations" means step 31,999 still uses the old rate
    and step 32,000 the new one. (Keras's `PiecewiseConstantDecay` switches one
    step later, at ``step > boundary``.) A warm-up is simply a first segment.

    Args:
        boundaries: increasing iteration numbers.
        values: one more rate than boundaries.
    """

    def __init__(self, boundaries, values):
        boundaries = [int(b) for b in boundaries]
        values = [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"StepSchedule needs len(values) == len(boundaries) + 1, got "
                f"{len(values)} values for {len(boundaries)} boundaries"
            )
        if boundaries != sorted(boundaries):
            raise ValueError(f"StepSchedule boundaries must increase, got {boundaries}")
        self.boundaries = boundaries
        self.values = values

    def __call__(self, step):
        step = ops.cast(step, "int64")
        index = ops.zeros((), "int32")
        for b in self.boundaries:
            index = index + ops.cast(step >= b, "int32")
        return ops.take(ops.convert_to_tensor(self.values, "float32"), index)

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values}


@keras.saving.register_keras_serializable(package="cnnzoo")
class HalfLifeDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential decay given as a half-life: lr(step) = initial * 0.5 ** (step / half_life).

    W. Wu's 2016 thesis states its decay as "the learning rate halves every 3
    (MNIST) or 5 (CIFAR-10) epochs"; the recipe converts epochs to iterations.

    Args:
        initial: learning rate at step 0.
        half_life_steps: iterations over which the rate halves (> 0).
    """

    def __init__(self, initial, half_life_steps):
        if half_life_steps <= 0:
            raise ValueError(f"half_life_steps must be > 0, got {half_life_steps}")
        self.initial = float(initial)
        self.half_life_steps = float(half_life_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return self.initial * ops.power(0.5, step / self.half_life_steps)

    def get_config(self):
        return {"initial": self.initial, "half_life_steps": self.half_life_steps}


@keras.saving.register_keras_serializable(package="cnnzoo")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to a peak, then linear decay to zero: a one-cycle rate.

    lr rises linearly from `start` at step 0 to `peak` at `warmup_steps`, then
    falls linearly to 0 at `total_steps` (and stays 0 after). The shape of the
    fast CIFAR-10 schedules (Smith & Topin 2017, "Super-convergence"; D. Page
    2018, "How to train your ResNet"), in which a short run ends at rate 0.

    Args:
        peak: the rate at the end of the warm-up.
        warmup_steps: iterations of the warm-up (0: start at `peak`).
        total_steps: the iteration at which the rate reaches 0 (> warmup_steps).
        start: the rate at step 0.
    """

    def __init__(self, peak, warmup_steps, total_steps, start=0.0):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"WarmupLinearDecay needs 0 <= warmup_steps < total_steps, got "
                f"{warmup_steps} and {total_steps}"
            )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.start = float(start)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.start + (self.peak - self.start) * step / max(self.warmup_steps, 1)
        left = (self.total_steps - step) / float(self.total_steps - self.warmup_steps)
        decay = self.peak * ops.clip(left, 0.0, 1.0)
        return ops.where(step < self.warmup_steps, warm, decay)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "start": self.start,
        }


# --------------------------------------------------------------------------- the table
# A recipe's schedule section (`cnnzoo.training.recipe.SCHEDULES`) -> the Keras rate.
# Each builder takes the section, already in iterations (`Recipe.in_steps`), and the
# epoch's length for the epoch-denominated constants.


def _step(schedule, steps_per_epoch: int):
    return StepSchedule(*schedule.points())


def _half_life(schedule, steps_per_epoch: int):
    return HalfLifeDecay(schedule.lr, schedule.half_life_epochs * steps_per_epoch)


def _plateau(schedule, steps_per_epoch: int):
    # A plain rate is a variable that ReduceLROnPlateau can lower; it is saved
    # with the optimizer, so a resumed run keeps the lowered rate.
    return schedule.lr


def _exponential(schedule, steps_per_epoch: int):
    return keras.optimizers.schedules.ExponentialDecay(
        schedule.lr,
        decay_steps=max(1, round(schedule.every_epochs * steps_per_epoch)),
        decay_rate=schedule.rate,
        staircase=True,
    )


def _one_cycle(schedule, steps_per_epoch: int):
    # The cycle spans the run, also one shortened by --steps or --epochs.
    warmup = min(schedule.warmup_steps, schedule.total_steps - 1)
    return WarmupLinearDecay(schedule.lr, warmup, schedule.total_steps, start=schedule.warmup_lr)


SCHEDULE_BUILDERS = {
    "step": _step,
    "half_life": _half_life,
    "plateau": _plateau,
    "exponential": _exponential,
    "warmup_linear": _one_cycle,
}


def learning_rate(schedule, steps_per_epoch: int = 1):
    """The Keras learning rate of a recipe's schedule section.

    Args:
        schedule: `recipe.schedule`, in iterations (see `Recipe.in_steps`).
        steps_per_epoch: iterations per pass over the training set.

    Returns:
        A `LearningRateSchedule`, or a float for the plateau schedule.
    """
    return SCHEDULE_BUILDERS[schedule.kind](schedule, steps_per_epoch)
