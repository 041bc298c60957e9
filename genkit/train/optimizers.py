"""Optimizers and learning-rate schedules from `train.optimizer`."""

from __future__ import annotations

import keras

from genkit.errors import Problem, SpecError

__all__ = ["make_optimizer"]

_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}
# Which optional spec fields each optimizer accepts (others left unset are fine).
_ACCEPTS = {
    "adam": ("beta_1", "beta_2", "weight_decay"),
    "adamw": ("beta_1", "beta_2", "weight_decay"),
    "rmsprop": ("momentum", "weight_decay"),
    "sgd": ("momentum", "weight_decay"),
}


def learning_rate(opt, steps_per_epoch: int, epochs: int, path=("train", "optimizer")):
    """A float or a Keras schedule; warm-up rides on CosineDecay's linear warm-up."""
    warmup = opt.warmup_epochs * steps_per_epoch
    total = max(epochs * steps_per_epoch - warmup, 1)
    if opt.schedule == "exponential":
        if warmup:
            raise SpecError(
                [Problem(path + ("warmup_epochs",), "warm-up works with the constant and cosine schedules.", "Set it to 0, or use schedule: cosine.")]
            )
        return keras.optimizers.schedules.ExponentialDecay(opt.learning_rate, steps_per_epoch, opt.decay_rate)
    if opt.schedule == "constant" and not warmup:
        return opt.learning_rate
    alpha = 1.0 if opt.schedule == "constant" else 0.0  # alpha = 1 keeps the rate flat after warm-up
    if warmup:
        return keras.optimizers.schedules.CosineDecay(0.0, total, alpha=alpha, warmup_target=opt.learning_rate, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(opt.learning_rate, total, alpha=alpha)


def make_optimizer(opt, steps_per_epoch: int, epochs: int, path=("train", "optimizer")):
    """Build the Keras optimizer `opt` describes, refusing options it does not have."""
    kwargs = {"learning_rate": learning_rate(opt, steps_per_epoch, epochs, path)}
    problems = []
    for field in ("beta_1", "beta_2", "momentum", "weight_decay"):
        value = getattr(opt, field)
        if value is None:
            continue
        if field not in _ACCEPTS[opt.name]:
            problems.append(Problem(path + (field,), f"{opt.name} has no {field}.", f"It takes: {', '.join(_ACCEPTS[opt.name])}."))
        kwargs[field] = value
    if problems:
        raise SpecError(problems)
    for clip in ("clipnorm", "clipvalue"):
        if getattr(opt, clip) is not None:
            kwargs[clip] = getattr(opt, clip)
    return _CLASSES[opt.name](**kwargs)
