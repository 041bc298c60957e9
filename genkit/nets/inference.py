"""`predict_batches`: a network's outputs on NumPy inputs, batch by batch, without `Model.predict`.

`Model.predict` builds a tf.data pipeline per call; with TensorFlow's op determinism on (the
default, `train.deterministic`) TF 2.21 then prints an error line per call ("NodeDef mentions
attribute use_unbounded_threadpool ..."), harmless but alarming in every run log. Calling
the network on slices of the arrays gives the same outputs with no pipeline and no noise.

Example:

    images = predict_batches(decoder, [z, labels])
    z_mean, z_log_var = predict_batches(encoder, x)
"""

from __future__ import annotations

import numpy as np

__all__ = ["predict_batches"]


def predict_batches(network, inputs, batch_size: int = 256):
    """`network(inputs)` in inference mode, `batch_size` examples at a time.

    `inputs` is an array or a list of arrays with the same first axis. Returns an array,
    or a list of arrays for a network with several outputs.
    """
    several_inputs = isinstance(inputs, (list, tuple))
    arrays = [np.asarray(a) for a in (inputs if several_inputs else [inputs])]
    if not len(arrays[0]):
        raise ValueError("predict_batches: no examples given.")
    chunks, several_outputs = [], False
    for start in range(0, len(arrays[0]), batch_size):
        batch = [a[start : start + batch_size] for a in arrays]
        out = network(batch if several_inputs else batch[0], training=False)
        several_outputs = isinstance(out, (list, tuple))
        chunks.append([np.asarray(o) for o in out] if several_outputs else [np.asarray(out)])
    outputs = [np.concatenate(parts) for parts in zip(*chunks)]
    return outputs if several_outputs else outputs[0]
