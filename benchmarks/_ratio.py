"""Shared plumbing of the ratio benchmarks (train_overhead, flops, input_pipeline, memory).

This machine is shared and noisy, so every benchmark compares two things measured in the
same run, in interleaved repeats (A B B A A B ...), and reports the medians and their
ratio rather than an absolute number alone. Nothing here imports TensorFlow at module
level: `memory.py` must stay a small process (its children's peak RSS is the measurement).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COUNTED = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul", "BatchMatMulV2", "BatchMatMulV3")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = [
    "REPO",
    "cached_dataset",
    "interleave",
    "machine_facts",
    "markdown_table",
    "ratio_range",
    "step_flops",
    "step_timer",
    "steps_for",
    "tensorflow",
    "xla_overrides",
]


def xla_overrides(jit: bool) -> list:
    """Spec overrides for a row with XLA on or off; Keras turns XLA off under op determinism,
    so an XLA row runs with `train.deterministic=false` (genkit refuses the pair)."""
    return ["train.jit_compile=true", "train.deterministic=false"] if jit else ["train.jit_compile=false"]


def tensorflow():
    """Import TensorFlow without its start-up chatter; return the module."""
    from genkit.quiet_tf import quiet_tensorflow_import

    quiet_tensorflow_import()
    import tensorflow as tf

    return tf


def machine_facts(with_tensorflow: bool = True) -> str:
    """Versions and machine facts, one line each, for the top of a benchmark's output."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        f"machine: {cpu}; {os.cpu_count()} CPU cores ({usable} usable by this process); "
        f"load average at start (1/5/15 min): {load}",
        f"python {platform.python_version()} on {platform.system()} {platform.release()}",
    ]
    if with_tensorflow:
        tf = tensorflow()
        import keras
        import numpy as np

        threading = tf.config.threading
        threads = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
        lines.append(
            f"tensorflow {tf.__version__}, keras {keras.__version__}, numpy {np.__version__}; "
            f"TF threads intra/inter-op: {threads[0] or 'default'}/{threads[1] or 'default'}; "
            f"devices: {', '.join(d.device_type for d in tf.config.list_physical_devices())}"
        )
    return "\n".join(lines)


def interleave(candidates: dict, repeats: int) -> dict:
    """Call each candidate `repeats` times, alternating the order (A B, B A, ...).

    `candidates` maps a name to a function returning one measurement; returns name -> list
    of measurements. Alternating the order spreads slow phases of a shared machine over
    both sides instead of letting them land on one.
    """
    names = list(candidates)
    results = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(candidates[name]())
    return results


def ratio_range(a: list, b: list) -> str:
    """Median (min–max) of the per-repeat ratios a_i / b_i: repeat i of A ran next to repeat i of B,
    so each ratio compares the two under the same load of the machine."""
    ratios = [x / y for x, y in zip(a, b)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def markdown_table(headers: list, rows: list, align: str = "") -> str:
    """A markdown table; `align` holds one of l/r per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" if a == "l" else "---:" for a in align) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def cached_dataset(x, y, batch_size: int):
    """Full batches of (x[, y]) from memory, cached and repeated forever, warmed up once.

    The per-step cost of reading it is a memory copy at most, so a step fed by it measures
    the train step itself.
    """
    tf = tensorflow()
    arrays = (x,) if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
    n_batches = len(x) // batch_size
    ds = ds.batch(batch_size, drop_remainder=True).take(n_batches).cache().repeat()
    for _ in ds.take(n_batches):  # fill the cache
        pass
    return ds


def step_timer(model, dataset):
    """A function `run(steps) -> (wall s, CPU s) per step` of `model`'s compiled Keras train function.

    Calls `model.train_function` on one iterator of `dataset`, as `fit` does per step, minus
    fit's per-call set-up and callbacks. The model must have been fitted once (trace, and
    XLA compile with jit_compile) so nothing is compiled inside a timed block. Each block
    ends by reading the step's logs, so all of its work has finished. The CPU time (all of
    this process's threads) is less sensitive to other jobs on the machine, which stretch
    wall time more than the work a step does (it still counts threads spinning while they
    wait, and the jobs still share caches and memory bandwidth).
    """
    iterator = iter(dataset)

    def run(steps: int) -> tuple:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            logs = model.train_function(iterator)
        for value in logs.values():
            value.numpy()
        return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps

    return run


def step_flops(model, element_spec) -> dict:
    """op type -> FLOPs of one `model.train_step` on a batch of `element_spec`, from its graph.

    The step is traced with static shapes, and every matrix-multiply-type op (COUNTED) that
    runs is counted as 2·MACs. Ops nothing depends on (gradients no one asked for) are
    skipped, as TensorFlow's runtime skips them; element-wise ops are not counted.
    """
    import tensorflow as tf

    # No autograph, as Keras traces its train function (and autograph would re-read the source).
    graph = tf.function(model.train_step, autograph=False).get_concrete_function(element_spec).graph
    # What runs: the ops the outputs or any stateful op (variable updates) depend on.
    needed, stack = set(), [t.op for t in graph.outputs] + [op for op in graph.get_operations() if op._is_stateful]
    while stack:
        op = stack.pop()
        if op.name in needed:
            continue
        needed.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    by_op = {}
    for op in graph.get_operations():
        if op.type in COUNTED and op.name in needed:
            by_op[op.type] = by_op.get(op.type, 0) + op_flops(op)
    return by_op


def op_flops(op) -> int:
    """2·MACs of one matrix-multiply-type op, from its static shapes."""

    def shape(t):
        return [int(d) for d in t.shape]

    if op.type == "Conv2D":  # inputs: x (N, H, W, Cin), filter (kh, kw, Cin, Cout); output (N, Ho, Wo, Cout)
        kh, kw, cin, _ = shape(op.inputs[1])
        return 2 * math.prod(shape(op.outputs[0])) * kh * kw * cin
    if op.type == "Conv2DBackpropInput":  # inputs: sizes, filter (kh, kw, Cin, Cout), dy (N, Ho, Wo, Cout)
        kh, kw, cin, _ = shape(op.inputs[1])
        return 2 * math.prod(shape(op.inputs[2])) * kh * kw * cin
    if op.type == "Conv2DBackpropFilter":  # inputs: x, sizes, dy (N, Ho, Wo, Cout); output: dfilter (kh, kw, Cin, Cout)
        kh, kw, cin, _ = shape(op.outputs[0])
        return 2 * math.prod(shape(op.inputs[2])) * kh * kw * cin
    # MatMul / BatchMatMul (keras.ops.einsum lowers to it too): (..., M, K) x (..., K, N) -> (..., M, N)
    a = shape(op.inputs[0])
    transpose_a = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
    k = a[-2] if transpose_a else a[-1]
    return 2 * math.prod(shape(op.outputs[0])) * k


def steps_for(run, seconds: float, minimum: int = 3) -> int:
    """Steps per timed block so that one block lasts about `seconds` (from a short probe)."""
    probe = statistics.median(run(2)[0] for _ in range(3))
    return max(minimum, round(seconds / probe))
