"""Checks of tf.distribute training, each run in a fresh Python process by tests/test_distribute.py.

TensorFlow fixes its devices and collective ops when it first runs an op, so a check that
needs two logical CPU devices, or a TF_CONFIG cluster, cannot share the pytest process.
Each check prints one JSON line on stdout for the test to read.

    python -m tests.distribute_checks mirrored_matches_one_device vae
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def _two_cpu_devices():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _replica_free_noise():
    """Noise that is the same for every example: a function of the last axis only.

    Each replica draws its own noise, so a 2-replica step cannot draw what a 1-device step
    draws for the same examples. With noise that does not depend on the example's place in
    the batch, both see identical inputs, and any difference in the weights comes from how
    the losses and gradients are reduced over replicas: what the check is about.
    """
    import keras
    from keras import ops

    def pattern(shape, *args, **kwargs):
        return ops.broadcast_to(ops.sin(ops.arange(shape[-1], dtype="float32") + 1.0), shape)

    keras.random.normal = pattern
    keras.random.uniform = lambda shape, *args, **kwargs: ops.full(shape, 0.5)


def _tiny(family):
    from tests.tiny import tiny_gan_spec, tiny_spec

    if family == "wgan":
        return tiny_gan_spec("wgan", **{"loss.lipschitz": "gradient_penalty", "loss.critic_steps": 2})
    return tiny_spec(family)


def _weights_after_steps(raw, distribute, steps=3):
    from genkit.spec import validate_dict
    from genkit.train import prepare

    raw = json.loads(json.dumps(raw))
    raw["train"]["distribute"] = distribute
    prep = prepare(validate_dict(raw), quiet=True)
    batches = prep.data.train_dataset(raw["data"]["batch_size"], shuffle=False, drop_remainder=True)
    history = prep.model.fit(batches.take(steps), epochs=1, verbose=0)
    replicas = prep.model.distribute_strategy.num_replicas_in_sync
    return replicas, [np.asarray(w) for w in prep.model.trainable_variables], history.history


def mirrored_matches_one_device(family):
    _two_cpu_devices()
    _replica_free_noise()
    raw = _tiny(family)
    one, w_one, h_one = _weights_after_steps(raw, "none")
    two, w_two, h_two = _weights_after_steps(raw, "mirrored")
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(w_one, w_two))
    scale = max(float(np.max(np.abs(a))) for a in w_one)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(w_one, _initial(raw)))
    losses = {k: (h_one[k][-1], h_two[k][-1]) for k in h_one}
    print(json.dumps({"replicas": [one, two], "max_abs_diff": diff, "scale": scale, "moved": moved, "losses": losses}))


def _initial(raw):
    """The weights before any step (prepare seeds the initialisers the same way)."""
    import keras

    from genkit.spec import validate_dict
    from genkit.train import build_model

    spec = validate_dict(raw)
    keras.utils.set_random_seed(spec.seed)
    return [np.asarray(w) for w in build_model(spec, (28, 28, 1), None, 1).trainable_variables]


def multi_worker(runs_dir, out):
    """One worker of a 2-worker cluster (TF_CONFIG set by the test): train a tiny VAE, save its weights."""
    from pathlib import Path

    from genkit.spec import validate_dict
    from genkit.spec.loader import LoadedSpec
    from genkit.train import train
    from tests.tiny import tiny_spec

    raw = tiny_spec("vae", **{"train.distribute": "multi_worker", "train.steps_per_epoch": 2, "runs_dir": runs_dir, "data.limit": 128})
    prep = train(LoadedSpec(validate_dict(raw), None, Path("spec.yaml")))
    np.savez(out, *[np.asarray(w) for w in prep.model.trainable_variables])
    print(json.dumps({"chief": prep.chief, "run_dir": str(prep.run_dir)}))


def mixed_precision_step(family):
    from genkit.spec import validate_dict
    from genkit.train import prepare
    from tests.tiny import tiny_spec_of

    raw = tiny_spec_of(family, **{"train.precision": "mixed_float16", "data.limit": 64})
    prep = prepare(validate_dict(raw), quiet=True)
    logs = prep.model.fit(prep.data.train_dataset(32), epochs=1, steps_per_epoch=2, verbose=0).history
    out = {k: v[-1] for k, v in logs.items()}
    out["compute_dtype"] = prep.model.networks()[list(prep.model.networks())[0]].layers[-1].compute_dtype
    print(json.dumps(out))


def xla_steps(*families):
    """Two XLA-compiled train steps of each family; its last logged loss (the first value logged)."""
    from genkit.spec import validate_dict
    from genkit.train import prepare
    from tests.tiny import tiny_spec_of

    out = {}
    for family in families:
        raw = tiny_spec_of(family, **{"train.jit_compile": True, "train.deterministic": False, "data.limit": 64})
        prep = prepare(validate_dict(raw), quiet=True)
        assert prep.model.jit_compile, family  # Keras turns XLA off silently for models it cannot compile
        logs = prep.model.fit(prep.data.train_dataset(32, drop_remainder=True), epochs=1, steps_per_epoch=2, verbose=0).history
        out[family] = next(iter(logs.values()))[-1]
    print(json.dumps(out))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    globals()[sys.argv[1]](*sys.argv[2:])
