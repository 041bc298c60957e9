"""One sweep trial, in a process of its own: train and evaluate a spec, then write result.json.

    python -m genkit.pipeline.sweep_trial SPEC --result FILE [--set KEY=VALUE ...] [--allow-outside-paths]

`genkit.pipeline.sweep` starts one such process per trial, so a crash or an out-of-memory
kill ends that trial only, and each trial's memory (graphs, tf.data buffers) goes back to
the system when it ends. No export: the report names each trial's run folder, and
`genkit export RUN_FOLDER` exports the one worth keeping.

result.json (written atomically, last): {"status": "ok", "run_dir", "train_seconds"}, or
{"status": "failed", "stage", "error", "run_dir"}. Exit code 0 when ok, 1 when failed, 2 for
a spec the sweep should never have started (it was checked before).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError, SpecError

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genkit.pipeline.sweep_trial", description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--result", required=True, help="result.json to write")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    parser.add_argument("--allow-outside-paths", action="store_true")
    args = parser.parse_args(argv)

    from genkit.quiet_tf import quiet_tensorflow_import

    quiet_tensorflow_import()
    from genkit.evaluate import evaluate_model, format_table, write_metrics
    from genkit.evaluate.sample_quality import sample_scores
    from genkit.spec import load_spec
    from genkit.train import train

    result: dict = {"status": "failed", "stage": "load", "run_dir": None}
    start = time.time()
    try:
        loaded = load_spec(args.spec, args.set, allow_outside_paths=args.allow_outside_paths)
        result["stage"] = "train"
        prep = train(loaded, score_samples=sample_scores)
        result.update(run_dir=str(prep.run_dir), train_seconds=time.time() - start, stage="evaluate")
        metrics = evaluate_model(prep)
        write_metrics(metrics, prep.run_dir)
        print(format_table(metrics), flush=True)
        result.update(status="ok", stage="")
    except Exception as err:  # noqa: BLE001 - the trial's outcome, whatever it is, goes into result.json
        if isinstance(err, SpecError) and result["stage"] != "load":
            result["error"] = str(err.located(loaded.source))
        elif isinstance(err, GenkitError):
            result["error"] = str(err)
        else:
            result["error"] = f"{type(err).__name__}: {err}"
            traceback.print_exc()  # a bug: its traceback goes to the trial's log
        print(f"trial FAILED at {result['stage']}: {result['error']}", file=sys.stderr, flush=True)
    result["seconds"] = time.time() - start
    atomic_write_text(Path(args.result), json.dumps(result, indent=2))
    if result["status"] == "ok":
        return 0
    return 2 if result["stage"] == "load" else 1


if __name__ == "__main__":
    sys.exit(main())
