"""How much memory does training each shipped spec take, against importing TensorFlow alone?

    python benchmarks/memory.py                       # every specs/*.yaml, 10 steps each
    python benchmarks/memory.py --steps 50 --only cvae_mnist ddpm_mnist --repeats 3

Each spec is trained in a fresh process as a user would — `genkit train SPEC` with
`train.epochs=1` and `train.steps_per_epoch=--steps` (so also its validation pass, sample
grid, checkpoint and saved networks), runs written to a scratch folder — and the table
shows that process's peak resident set size, from `os.wait4` on it (the `ru_maxrss` of
that one child; `resource.getrusage(RUSAGE_CHILDREN)` would give the largest of all
children so far). The baseline is a fresh process running only `import tensorflow`, and
a second one importing what `genkit train` imports before it builds anything.

This process imports no TensorFlow and stays small: Linux starts a child's RSS
high-water mark at its parent's (it is carried across fork/exec), so a large parent
would hide its children's peaks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from _ratio import REPO, machine_facts, markdown_table

BASELINES = {
    "python -c 'import tensorflow'": "import tensorflow",
    "python -c 'import genkit.train' (TF, Keras, genkit)": "import genkit.train",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="training steps per spec (default 10)")
    parser.add_argument("--only", nargs="*", help="spec names (file stems) to run (default: every specs/*.yaml)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per row; shows the median (default 1)")
    args = parser.parse_args()

    specs = sorted((REPO / "specs").glob("*.yaml"))
    if args.only:
        specs = [s for s in specs if s.stem in args.only]
    versions = ", ".join(f"{p} {_version(p)}" for p in ("tensorflow", "keras", "numpy"))
    print(machine_facts(with_tensorflow=False))
    print(f"{versions}; GENKIT_OFFLINE={os.environ.get('GENKIT_OFFLINE', '(unset)')}")
    print(f"{args.repeats} fresh process(es) per row; each spec trained for {args.steps} steps (1 epoch)")
    print()

    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}
    columns = ["process", "family", "steps", "wall s", "peak RSS MB", "over import tensorflow MB", "ratio"]
    print(markdown_table(columns, []), flush=True)  # rows follow as they are measured
    failures = []
    with tempfile.TemporaryDirectory(prefix="genkit-memory-") as scratch:
        baseline = None
        for label, code in BASELINES.items():
            runs = [run([sys.executable, "-c", code], env, Path(scratch) / "baseline.log") for _ in range(args.repeats)]
            rss, seconds = _median(runs)
            baseline = baseline or rss
            _print_row(label, "–", "–", rss, seconds, baseline)
        for spec in specs:
            runs = []
            for r in range(args.repeats):
                command = [
                    sys.executable, "-m", "genkit.cli", "train", str(spec), "--allow-outside-paths",
                    "--set", "train.epochs=1",
                    "--set", f"train.steps_per_epoch={args.steps}",
                    "--set", f"runs_dir={Path(scratch) / 'runs' / str(r)}",
                ]  # fmt: skip
                log = Path(scratch) / f"{spec.stem}.{r}.log"
                result = run(command, env, log)
                if result["status"] != 0:
                    failures.append(f"{spec.name}: exit code {result['status']}: {_last_line(log)}")
                    break
                runs.append(result)
            if len(runs) < args.repeats:
                print(f"| {spec.name} | {_family(spec)} | {args.steps} | – | failed | – | – |", flush=True)
                continue
            _print_row(spec.name, _family(spec), args.steps, *_median(runs), baseline)
    for failure in failures:
        print(f"\n{failure}")


def run(command: list, env: dict, log: Path) -> dict:
    """Run `command` in a fresh process; its exit status, wall time and own peak RSS (MB)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
    return {"status": child.returncode, "seconds": time.perf_counter() - start, "rss_mb": usage.ru_maxrss / 1024}


def _print_row(label, family, steps, rss, seconds, baseline) -> None:
    cells = [label, family, steps, f"{seconds:.1f}", f"{rss:,.0f}", f"{rss - baseline:+,.0f}", f"{rss / baseline:.2f}x"]
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def _median(runs: list) -> tuple:
    return statistics.median(r["rss_mb"] for r in runs), statistics.median(r["seconds"] for r in runs)


def _family(spec: Path) -> str:
    for line in spec.read_text().splitlines():
        if line.strip().startswith("family:"):
            return line.split(":", 1)[1].split("#")[0].strip()
    return "?"


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
