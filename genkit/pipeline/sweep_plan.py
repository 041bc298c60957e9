"""A sweep's trials as `--set` values: the grid, the seeded random draws, Optuna's suggestions.

Grid and random trials are a pure function of the `sweep:` section, so a resumed study
gets exactly the trials it had: trial k is the same whether it runs first or after a kill.
Standard library only (Optuna is imported by `genkit.pipeline.sweep`, for method optuna only).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random

from genkit.pipeline.schema import ParamRange, Sweep

__all__ = ["check_values", "fingerprint", "override_text", "planned_trials", "suggest"]


def override_text(key: str, value) -> str:
    """The `--set` text giving `key` the value; JSON is YAML, so `parse_override` reads back the same value."""
    return f"{key}={json.dumps(value)}"


def check_values(param) -> list:
    """The values of one param that a spec must accept: each listed value, or a range's two ends."""
    if isinstance(param, ParamRange):
        return [int(param.low), int(param.high)] if param.integer else [param.low, param.high]
    return list(param)


def planned_trials(sweep: Sweep, count: int | None = None) -> list:
    """The params of every grid trial, or of the first `count` (default: `trials`) random ones, in order."""
    if sweep.method == "grid":
        keys = list(sweep.params)
        return [dict(zip(keys, values)) for values in itertools.product(*(sweep.params[k] for k in keys))]
    if sweep.method != "random":
        raise ValueError(f"method {sweep.method} asks Optuna for its trials one at a time")
    rng = random.Random(sweep.seed)
    # One draw after another from one generator: trial k does not depend on the budget, so
    # raising `trials` later keeps the trials already run.
    return [{key: _draw(rng, param) for key, param in sweep.params.items()} for _ in range(count or sweep.trials)]


def _draw(rng: random.Random, param):
    if not isinstance(param, ParamRange):
        return param[rng.randrange(len(param))]
    if param.log:
        value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    else:
        value = rng.uniform(param.low, param.high)
    if param.integer:
        return min(int(param.high), max(int(param.low), round(value)))
    return float(f"{value:.6g}")  # readable in reports and --set, far finer than any trial can tell apart


def suggest(trial, key: str, param):
    """Optuna's value of one param for `trial` (an `optuna.Trial`)."""
    if not isinstance(param, ParamRange):
        return trial.suggest_categorical(key, list(param))
    if param.integer:
        return trial.suggest_int(key, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(key, param.low, param.high, log=param.log)


def fingerprint(sweep: Sweep, spec: dict) -> str:
    """What a study's trials depend on: the sweep (less its budget, which may grow) and the resolved base spec."""
    study = sweep.model_dump(mode="json", by_alias=True, exclude={"trials"})
    text = json.dumps({"sweep": study, "spec": spec}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
