"""`train.distribute`: the tf.distribute strategy a run trains under, and who may write.

Data parallelism, with `data.batch_size` as the global batch. Keras's `fit` runs the
family's `train_step` once per replica on that replica's share of the batch, and the
optimizer sums the replicas' gradients in `apply_gradients`
(keras/src/backend/tensorflow/optimizer.py, `_all_reduce_sum_gradients`). A replica's
loss is therefore its batch mean divided by the replica count (`GenerativeModel.scaled_loss`),
which is the global mean exactly when every replica gets the same number of examples:
`check_global_batch` makes the batch divide evenly and the training pipeline drops the
short last batch (whose split would leave some replicas fewer examples, or none).

Multi-worker training follows the Keras recipe: every worker runs the same command (the
collective ops need all of them in every step, sample grid and checkpoint), reading its
place in the cluster from the TF_CONFIG environment variable, and only the chief keeps
what it writes.
"""

from __future__ import annotations

import functools
import json
import os

from genkit.errors import Problem, SpecError

__all__ = ["check_global_batch", "is_chief", "strategy_for"]

_TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
)


@functools.cache
def strategy_for(distribute: str):
    """The strategy of `train.distribute`, one per process (a multi-worker strategy cannot be made twice).

    Call it before TensorFlow runs any op: collective ops are configured at start-up.
    """
    import tensorflow as tf

    if distribute == "mirrored":
        # Every GPU, else every logical CPU device (one, unless configured otherwise, as tests do).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if distribute == "multi_worker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _check_tf_config(text) -> None:
    """TF_CONFIG must name a cluster of workers and this process's task in it."""

    def refuse(why):
        raise SpecError(
            [Problem(("train", "distribute"), f"'multi_worker' reads the cluster from TF_CONFIG, but {why}", f"Set it, e.g. {_TF_CONFIG_EXAMPLE}.")]
        )

    if not text:
        refuse("the TF_CONFIG environment variable is not set.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        refuse(f"TF_CONFIG is not JSON ({err}).")
    cluster, task = (config.get("cluster"), config.get("task")) if isinstance(config, dict) else (None, None)
    if not isinstance(cluster, dict) or not cluster or not all(isinstance(v, list) and v for v in cluster.values()):
        refuse("TF_CONFIG has no 'cluster' mapping task types to lists of 'host:port' addresses.")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        refuse(f"TF_CONFIG's 'task' must have a 'type' among {sorted(cluster)}.")
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        refuse(f"TF_CONFIG's task index must be 0 to {len(cluster[task['type']]) - 1} for type {task['type']!r}; got {index!r}.")


def is_chief(strategy) -> bool:
    """Whether this process writes the run folder: always, except on a multi-worker cluster's
    other workers (the chief is task 'chief', else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def check_global_batch(batch_size: int, replicas: int, steps_per_replica: int = 1) -> None:
    """The global batch must split into equal replica shares, each into `steps_per_replica`
    equal sub-batches (a GAN's k discriminator steps), so every replica's mean weighs the same."""
    if replicas == 1:
        return
    share = batch_size // replicas
    if batch_size % replicas or share % steps_per_replica:
        unit = replicas * steps_per_replica
        raise SpecError(
            [
                Problem(
                    ("data", "batch_size"),
                    f"{batch_size} is the global batch of {replicas} replicas (train.distribute), which must each "
                    f"take an equal share" + (f" that splits into {steps_per_replica} discriminator steps" if steps_per_replica > 1 else "") + ".",
                    f"Use a multiple of {unit}, e.g. {unit * max(batch_size // unit, 1)}.",
                )
            ]
        )

