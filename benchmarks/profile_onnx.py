"""Where does an ONNX export spend its time? onnxruntime's profiler, summed per operator type.

    python benchmarks/profile_onnx.py                                   # the smoke ddpm_cond denoiser + cvae decoder
    python benchmarks/profile_onnx.py exports/ddpm_cond_mnist/denoiser.onnx --batches 1 32

For each file and batch size: a session with `SessionOptions.enable_profiling`, a few warm-up
runs, then `--runs` timed runs; the profile's per-node events ("cat": "Node", "_kernel_time")
are summed by operator type into a table of total ms per run, share of the kernel time, and
nodes per run. Inputs are random, shaped from the graph (free dimensions -> the batch size;
integer inputs in [0, 10), a float `t` in [0, 1000)). `--level` picks the session's graph
optimisation level, so the same file can be profiled as onnxruntime runs it by default (all)
or as written (disable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_FILES = [REPO / "exports/smoke/ddpm_cond/denoiser.onnx", REPO / "exports/smoke/cvae/decoder.onnx"]
LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=20, help="profiled runs per batch size")
    parser.add_argument("--level", choices=LEVELS, default="all", help="graph optimisation level of the session")
    parser.add_argument("--threads", type=int, default=0, help="intra_op_num_threads (0: onnxruntime's default)")
    args = parser.parse_args()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; graph optimisation {args.level}; {args.runs} runs each\n")
    for path in args.files:
        for batch in args.batches:
            rows, wall = profile(path, batch, args.runs, args.level, args.threads)
            print(
                f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}, batch {batch}: "
                f"{wall:.2f} ms per run (wall), kernel time by operator type"
            )
            print(table(rows))
            print()


def random_feeds(session, batch: int, rng: np.random.Generator) -> dict:
    feeds = {}
    for value in session.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in value.shape]
        if "int" in value.type:
            feeds[value.name] = rng.integers(0, 10, size=shape).astype(np.int32 if "int32" in value.type else np.int64)
        elif value.name == "t":
            feeds[value.name] = rng.uniform(0, 1000, size=shape).astype(np.float32)
        else:
            feeds[value.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def profile(path: Path, batch: int, runs: int, level: str, threads: int = 0) -> tuple[list, float]:
    """[(op type, ms per run, share, nodes per run)] sorted by time, and the wall ms per run."""
    import time

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[level])
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = random_feeds(session, batch, np.random.default_rng(0))
        for _ in range(3):
            session.run(None, feeds)
        start = time.perf_counter()
        for _ in range(runs):
            session.run(None, feeds)
        wall = 1000 * (time.perf_counter() - start) / runs
        events = json.loads(Path(session.end_profiling()).read_text())
    # Only the timed runs: the last `runs` model_run events bound them.
    model_runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    first = model_runs[-runs]["ts"]
    total, count = defaultdict(float), defaultdict(int)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= first:
            op = e.get("args", {}).get("op_name", "?")
            total[op] += e["dur"] / 1000 / runs
            count[op] += 1
    kernel = sum(total.values()) or 1.0
    rows = sorted(((op, ms, ms / kernel, count[op] // runs) for op, ms in total.items()), key=lambda r: -r[1])
    return rows, wall


def table(rows: list) -> str:
    lines = ["| op type | ms per run | share | nodes |", "|---|---:|---:|---:|"]
    lines += [f"| {op} | {ms:.3f} | {share:.1%} | {n} |" for op, ms, share, n in rows]
    lines.append(f"| (all kernels) | {sum(r[1] for r in rows):.3f} | 100% | {sum(r[3] for r in rows)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
