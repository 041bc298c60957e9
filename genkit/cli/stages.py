"""The commands that run the stages: train, evaluate, export and run (with --resume and Ctrl-C handling).

Each calls the Python API (`genkit.api`): the flags become its arguments, and it prints what
the command prints.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import threading
import time
from pathlib import Path

from genkit.cli.common import load, quiet_tensorflow
from genkit.errors import GenkitError

__all__ = ["cmd_evaluate", "cmd_export", "cmd_run", "cmd_train"]


def _is_run_dir(path: str) -> bool:
    return Path(path).is_dir() and (Path(path) / "spec.yaml").is_file()


@contextlib.contextmanager
def _ctrl_c_interrupts():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in every phase of the block, even in a process
    started with SIGINT ignored.

    A background job of a non-interactive shell (and some job and test runners) starts with
    SIGINT ignored, and Python then leaves it ignored. Training's own handler
    (`genkit.train.interrupt.checkpoint_on_interrupt`) heard it anyway but restored "ignored"
    when training ended, so a Ctrl-C during evaluation or export was dropped and `genkit run`
    went on to exit 0. Standard library only: `genkit run` without a spec stays quick.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, signal.SIG_DFL):
        yield  # Python's own handler (or a caller's, or one set outside Python): left as it is
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _resume_folder(args):
    """The run folder `--resume RUN_FOLDER` names, else None (`SPEC --resume`, or no --resume).

    `--resume` takes an optional folder, so `genkit run --resume spec.yaml` (the flag before the
    spec, valid before --resume took a folder) reaches here as resume='spec.yaml' without a
    spec: a file there is taken as the spec, with --resume, as it always was.
    """
    if not isinstance(args.resume, str):
        if args.spec is None:
            raise GenkitError(f"genkit {args.command}: give a spec file, or --resume RUN_FOLDER to continue a run.")
        return None
    folder = args.resume
    if args.spec is None and Path(folder).is_file():
        args.spec, args.resume = folder, True
        return None
    if args.spec is not None:
        raise GenkitError(
            f"--resume {folder} {args.spec}: give either the run folder or the spec. 'genkit {args.command} --resume "
            f"RUN_FOLDER' continues that run with the spec stored in it; 'genkit {args.command} SPEC --resume' "
            "the newest run of SPEC."
        )
    if not _is_run_dir(folder):
        raise GenkitError(
            f"--resume {folder}: not a run folder (it has no spec.yaml). Give a folder runs/<name>/<time> "
            "written by 'genkit run' or 'genkit train', or a spec file followed by --resume for its newest run."
        )
    return Path(folder)


def _open_target(target: str, overrides, allow_outside_paths=False):
    """A run folder, or a spec whose newest finished run is used."""
    quiet_tensorflow()
    from genkit.api import open_run
    from genkit.spec.loader import parse_override
    from genkit.train.run_folder import find_latest_run

    overrides = list(overrides or [])
    if _is_run_dir(target):
        return open_run(target, overrides=overrides)  # evaluate.* / export.* apply; others are refused
    from genkit.spec import load_spec

    loaded = load_spec(target, overrides, allow_outside_paths=allow_outside_paths)
    run_dir = find_latest_run(loaded.spec)
    if run_dir is None:
        raise GenkitError(f"no finished run of '{loaded.spec.name}' under {loaded.spec.runs_dir}/. Train it first: genkit run {target}")
    # name and runs_dir only find the run; evaluate.* and export.* apply to it; open_run refuses the rest,
    # which would otherwise be silently ignored (the run keeps the spec it was trained with).
    return open_run(run_dir, overrides=[t for t in overrides if parse_override(t)[0][0] not in ("name", "runs_dir")])


# --------------------------------------------------------------------------- commands
def cmd_train(args):
    with _ctrl_c_interrupts():
        return _train(args)


def _train(args):
    """`genkit train` (train only) or `genkit run` (train, evaluate, export): the `genkit.api.Run`."""
    folder = _resume_folder(args)
    if folder is not None:
        from genkit.train.run_folder import load_run_spec

        loaded = load_run_spec(folder, args.set or [])
    else:
        loaded = load(args)
    if args.allow_spec_change and not args.resume:
        raise GenkitError("--allow-spec-change applies with --resume: it lets a run continue under a changed spec.")
    quiet_tensorflow()
    from genkit.api import train

    stages = args.command == "run"
    return train(
        loaded,
        resume=folder or bool(args.resume),
        allow_spec_change=args.allow_spec_change,
        evaluate=stages,
        export=stages,
        out=getattr(args, "out", None),
        force=getattr(args, "force", False),
    )


def _evaluate_command_for(run_dir) -> str:
    return shlex.join(["genkit", "evaluate", str(run_dir)])


def cmd_evaluate(args):
    with _ctrl_c_interrupts():
        _evaluate_command(args)


def _evaluate_command(args):
    options = {"steps": args.steps, "sampler": args.sampler, "eta": args.eta, "guidance_scale": args.guidance_scale,
               "guidance_interval": args.guidance_interval}
    if _is_export_dir(args.target):
        _evaluate_export(args.target, args.set, options)
        return
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
    if given:
        raise GenkitError(f"{', '.join(given)}: sampler settings apply when evaluating a diffusion export folder, not a run.")
    _open_target(args.target, args.set, args.allow_outside_paths).evaluate()


def _is_export_dir(path: str) -> bool:
    return Path(path).is_dir() and (Path(path) / "manifest.json").is_file()


def _evaluate_export(export_dir, overrides, options):
    if overrides:
        raise GenkitError(f"--set does not apply to an export folder ({export_dir}): it is evaluated with the spec it was trained with.")
    quiet_tensorflow()
    from genkit.atomic import atomic_write_text
    from genkit.evaluate import format_table
    from genkit.evaluate.export_eval import evaluate_export
    from genkit.train.interrupt import interrupted_phase

    path = Path(export_dir) / "metrics.json"
    said = (
        f"stopped during evaluation; the export folder {export_dir} is as it was (a metrics.json it had is the "
        f"previous one, whole). Evaluate again with: {_evaluate_command_for(export_dir)}"
    )
    with interrupted_phase(said):
        report = evaluate_export(export_dir, **options)
        atomic_write_text(path, json.dumps(report, indent=2))
    print(format_table(report))
    for metric, why in report["skipped"].items():
        print(f"  {metric}: not computed ({why})")
    print(f"metrics written to {path}")


def cmd_export(args):
    with _ctrl_c_interrupts():
        _open_target(args.target, args.set, args.allow_outside_paths).export(args.out, force=args.force)


def cmd_run(args):
    with _ctrl_c_interrupts():
        _run(args)


def _run(args):
    from genkit.pipeline import is_pipeline_file, run_pipeline

    folder = _resume_folder(args)
    if folder is None and is_pipeline_file(args.spec):
        if args.resume or args.out or args.allow_spec_change:
            raise GenkitError("--resume, --allow-spec-change and --out apply to one spec, not to a pipeline file.")
        report = run_pipeline(args.spec, args.set or [], allow_outside_paths=args.allow_outside_paths, reuse=args.reuse)
        print(f"report: {report / 'report.md'} and {report / 'report.html'}")
        return
    if args.reuse:
        raise GenkitError("--reuse applies to pipeline files; for one spec, --resume continues its newest run.")
    start = time.time()
    run = _train(args)  # trained, evaluated and (by the chief of a cluster) exported
    if not run.chief:
        print(f"done in {time.time() - start:.0f} s: this worker is not the chief, which keeps the run and exports it")
        return
    print(f"done in {time.time() - start:.0f} s: run folder {run.folder}")
