"""The `genkit` commands, one function each (`cmd_<name>(args)`), and what they share.

Stages are imported inside each command so `genkit sample` (onnxruntime only) never imports
TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import threading
import time
from pathlib import Path

from genkit.errors import GenkitError, SpecError, did_you_mean

__all__ = [
    "DEBUG",
    "SAMPLES",
    "cmd_evaluate",
    "cmd_explore",
    "cmd_export",
    "cmd_inspect",
    "cmd_layers",
    "cmd_new",
    "cmd_run",
    "cmd_sample",
    "cmd_schema",
    "cmd_score",
    "cmd_train",
    "cmd_validate",
]

# --debug: show TensorFlow's start-up lines and tracebacks (set by `main`).
DEBUG = {"on": False}


def _quiet_tensorflow():
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN, CUDA probe) buries genkit's
    # own output; --debug shows it.
    if not DEBUG["on"]:
        from genkit.quiet_tf import quiet_tensorflow_import

        quiet_tensorflow_import()


def _load(args):
    from genkit.spec import load_spec

    return load_spec(args.spec, args.set or [], allow_outside_paths=args.allow_outside_paths)


def _located(err: SpecError, loaded=None):
    return err.located(loaded.source) if loaded is not None else err


def _build_for_check(loaded):
    """The family model built on the CPU (builtin datasets are not loaded: shapes are known)."""
    _quiet_tensorflow()
    from genkit.train import build_for_check

    try:
        return build_for_check(loaded.spec)
    except SpecError as err:
        raise _located(err, loaded) from None


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


def _export_flags(args) -> list:
    """The export flags of `genkit run` that a printed resume or export command repeats."""
    flags = []
    if getattr(args, "out", None):
        flags += ["--out", args.out]
    if getattr(args, "force", False):
        flags.append("--force")
    return flags


def _resume_flags(args) -> list:
    """The flags a printed resume command repeats besides the run folder (no --set: the folder has
    the resolved spec). --allow-spec-change too: the newest checkpoint may predate the change."""
    flags = ["--allow-spec-change"] if args.allow_spec_change else []
    return flags + (_export_flags(args) if args.command == "run" else [])


def _open_target(target: str, overrides, allow_outside_paths=False):
    """A run folder, or a spec whose newest finished run is used."""
    _quiet_tensorflow()
    from genkit.train import open_run
    from genkit.train.run_folder import find_latest_run

    if _is_run_dir(target):
        if overrides:
            raise GenkitError(
                f"--set does not apply to a run folder ({target}): a run is evaluated and exported with the "
                "spec it was trained with. Give the spec file instead to use its newest run."
            )
        return open_run(target)
    from genkit.spec import load_spec

    loaded = load_spec(target, overrides or [], allow_outside_paths=allow_outside_paths)
    run_dir = find_latest_run(loaded.spec)
    if run_dir is None:
        raise GenkitError(f"no finished run of '{loaded.spec.name}' under {loaded.spec.runs_dir}/. Train it first: genkit run {target}")
    return open_run(run_dir)


# --------------------------------------------------------------------------- commands
def cmd_validate(args):
    from genkit.pipeline import is_pipeline_file, load_pipeline

    if is_pipeline_file(args.spec):
        _quiet_tensorflow()
        plan = load_pipeline(args.spec, args.set or [], build=True)
        print(f"{args.spec}: valid pipeline with {len(plan.runs)} runs")
        return
    loaded = _load(args)
    model = _build_for_check(loaded)
    if args.print:
        import yaml

        print(yaml.safe_dump(loaded.spec.model_dump(mode="json"), sort_keys=False), end="")
        return
    print(f"{args.spec}: valid {loaded.spec.model.family} spec '{loaded.spec.name}'")
    print(_network_summary(model, verbose=False))


def cmd_inspect(args):
    loaded = _load(args)
    print(_network_summary(_build_for_check(loaded), verbose=True))


def _network_summary(model, verbose: bool) -> str:
    from genkit.nets import count_params, summarize

    lines, total, trainable = [], 0, 0
    additions = model.describe()
    for role, net in model.networks().items():
        n, t = count_params(net)
        total, trainable = total + n, trainable + t
        shapes_in = [tuple(i.shape[1:]) for i in net.inputs]
        shapes_out = [tuple(o.shape[1:]) for o in net.outputs]
        lines.append(f"{role}: {n:,} parameters ({t:,} trainable); inputs {shapes_in} -> outputs {shapes_out}")
        if additions.get(role):
            lines.append(f"  family adds: {additions[role]}")
        if verbose and role in model.trunks:
            lines.append("  " + summarize(model.trunks[role]).replace("\n", "\n  "))
    lines.append(f"total: {total:,} parameters ({trainable:,} trainable, {total - trainable:,} non-trainable)")
    return "\n".join(lines)


def cmd_train(args):
    with _ctrl_c_interrupts():
        return _train(args)


def _train(args):
    folder = _resume_folder(args)
    if folder is not None:
        from genkit.train.run_folder import load_run_spec

        loaded = load_run_spec(folder, args.set or [])
    else:
        loaded = _load(args)
    _quiet_tensorflow()
    from genkit.evaluate.sample_quality import sample_scores
    from genkit.train import train

    try:
        if args.allow_spec_change and not args.resume:
            raise GenkitError("--allow-spec-change applies with --resume: it lets a run continue under a changed spec.")
        return train(
            loaded,
            resume=bool(args.resume),
            run_dir=folder,
            allow_spec_change=args.allow_spec_change,
            score_samples=sample_scores,
            command=args.command,
            flags=_resume_flags(args),
        )
    except SpecError as err:
        raise _located(err, loaded) from None


def _evaluate_command_for(run_dir) -> str:
    return shlex.join(["genkit", "evaluate", str(run_dir)])


def _export_command_for(run_dir, flags=()) -> str:
    return shlex.join(["genkit", "export", str(run_dir), *flags])


def _evaluate(prep, then_export=None):
    """Evaluate `prep` into its run folder's metrics.json. `then_export`: the export flags when
    `genkit run` exports next (None: `genkit evaluate`), for what a Ctrl-C message says."""
    from genkit.evaluate import evaluate_model, format_table, write_metrics
    from genkit.train.interrupt import interrupted_phase

    run = prep.run_dir
    if then_export is None:
        said = (
            f"stopped during evaluation; the run folder {run} is as it was (a metrics.json it had is the "
            f"previous one, whole). Evaluate again with: {_evaluate_command_for(run)}"
        )
    else:
        said = (
            f"stopped during evaluation; training finished and the run folder {run} is complete (final weights "
            "saved), but no metrics.json was written and nothing was exported. Finish with: "
            f"{_evaluate_command_for(run)} && {_export_command_for(run, then_export)}"
        )
    with interrupted_phase(said):
        report = evaluate_model(prep)
        path = write_metrics(report, run)
    print(format_table(report))
    print(f"metrics written to {path}")
    return report


def _export(prep, out, force=False):
    from genkit.export.from_run import default_export_dir, export_run
    from genkit.train.interrupt import interrupted_phase

    flags = (["--out", out] if out else []) + (["--force"] if force else [])
    try:
        target = Path(out) if out else default_export_dir(prep.spec)
        where = f"the export folder {target} is untouched (a new export is swapped in only whole)"
    except GenkitError:
        where = "the export folder is untouched"
    said = (
        f"stopped during export; {where}, and the run folder {prep.run_dir} is complete"
        f"{' with its metrics.json' if (Path(prep.run_dir) / 'metrics.json').is_file() else ''}. "
        f"Export again with: {_export_command_for(prep.run_dir, flags)}"
    )
    with interrupted_phase(said):
        manifest = export_run(prep, out, force=force)
    out_dir = Path(out) if out else default_export_dir(prep.spec)
    parity = {n: f"{v.get('parity_max_abs_diff', float('nan')):.1e}" for n, v in manifest["networks"].items()}
    print(f"exported {', '.join(manifest['networks'])} to {out_dir} (ONNX vs Keras max abs diff: {parity})")
    return manifest


def cmd_evaluate(args):
    with _ctrl_c_interrupts():
        _evaluate_command(args)


def _evaluate_command(args):
    options = {"steps": args.steps, "sampler": args.sampler, "eta": args.eta, "guidance_scale": args.guidance_scale}
    if _is_export_dir(args.target):
        _evaluate_export(args.target, args.set, options)
        return
    given = [f"--{k.replace('_scale', '').replace('_', '-')}" for k, v in options.items() if v is not None]
    if given:
        raise GenkitError(f"{', '.join(given)}: sampler settings apply when evaluating a diffusion export folder, not a run.")
    _evaluate(_open_target(args.target, args.set, args.allow_outside_paths))


def _is_export_dir(path: str) -> bool:
    return Path(path).is_dir() and (Path(path) / "manifest.json").is_file()


def _evaluate_export(export_dir, overrides, options):
    if overrides:
        raise GenkitError(f"--set does not apply to an export folder ({export_dir}): it is evaluated with the spec it was trained with.")
    _quiet_tensorflow()
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
        _export(_open_target(args.target, args.set, args.allow_outside_paths), args.out, args.force)


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
    prep = _train(args)
    # Every worker of a cluster evaluates: its collective ops need them all.
    _evaluate(prep, then_export=_export_flags(args) if prep.chief else None)
    if not prep.chief:
        print(f"done in {time.time() - start:.0f} s: this worker is not the chief, which keeps the run and exports it")
        return
    _export(prep, args.out, args.force)
    print(f"done in {time.time() - start:.0f} s: run folder {prep.run_dir}")


def _check_choice(what, value, options):
    if value not in options:
        raise GenkitError(f"{what}: got {value!r}. {did_you_mean(value, options)}")


def cmd_new(args):
    from genkit.atomic import atomic_write_text
    from genkit.spec.starter import starter_spec

    from genkit.spec.card import family_names
    from genkit.spec.starter import DATASET_SHAPES

    _check_choice("family", args.family, family_names())
    _check_choice("--dataset", args.dataset, DATASET_SHAPES)
    text = starter_spec(args.family, args.dataset)
    if args.out is None:
        print(text, end="")
        return
    out = Path(args.out)
    if out.exists() and not args.force:
        raise GenkitError(f"{out} exists; choose another --out or add --force to overwrite it.")
    atomic_write_text(out, text)
    print(f"wrote {out}: genkit run {out}")


def cmd_schema(args):
    import json

    from genkit.spec.json_schema import json_schema

    print(json.dumps(json_schema(), indent=2))


def cmd_layers(args):
    import inspect

    _quiet_tensorflow()
    import keras

    from genkit.nets import get_layer_class, list_blocks, list_layers

    blocks = set(list_blocks())
    if args.family:
        from genkit.spec.card import card, family_names

        _check_choice("--family", args.family, family_names())
        declared = card(args.family)
        print(f"{args.family}: {declared.summary}")
        print(f"networks {', '.join(declared.roles)}")
        for name, field in declared.loss.model_fields.items():
            print(f"  loss.{name:<24} default {field.default!r:<10} {field.description}")
        print("layers (any of these, in any network):")
    for name in list_layers():
        if args.blocks and name not in blocks:
            continue
        # Only the layer's own arguments; every layer also takes name, dtype, trainable, ...
        base = set(inspect.signature(keras.layers.Layer.__init__).parameters)
        params = [p for p in inspect.signature(get_layer_class(name).__init__).parameters if p not in base]
        origin = "genkit" if name in blocks else "keras"
        print(f"{name:<32} {origin:<7} {', '.join(params)}")


def cmd_explore(args):
    from genkit.runtime import latent

    # Only the flags the user gave: each tool's defaults are written once, in the tool.
    skip = {"command", "tool", "export_dir", "out", "func", "debug"}
    flags = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    print(getattr(latent, f"explore_{args.tool}")(args.export_dir, args.out, **flags))


def cmd_score(args):
    from genkit.runtime.anomaly import score_main

    # Only the flags the user gave: the defaults are written once, in score_main.
    given = {k: v for k, v in (("fpr", args.fpr), ("metric", args.metric)) if v is not None}
    print(score_main(args.export_dir, args.data, args.out, normal_npz=args.normal, anomaly_labels=args.anomalous_classes, **given))


SAMPLES = 64  # `genkit sample` without --n or --input


def cmd_sample(args):
    from genkit.runtime import sample_main, translate_main

    if args.input is not None:
        drawing = {"--label": args.label, "--steps": args.steps, "--sampler": args.sampler, "--eta": args.eta, "--guidance-scale": args.guidance_scale}
        given = [flag for flag, value in drawing.items() if value is not None]
        if given:
            raise GenkitError(f"{', '.join(given)}: settings for drawing samples; with --input the export translates the given images.")
        print(translate_main(args.export_dir, args.input, args.out, args.n, args.direction))
        return
    if args.direction is not None:
        raise GenkitError("--direction chooses the generator that translates --input images; give --input too.")
    print(
        sample_main(
            args.export_dir, SAMPLES if args.n is None else args.n, args.label, args.out, args.seed, args.steps,
            sampler=args.sampler, eta=args.eta, guidance_scale=args.guidance_scale,
        )
    )


# --------------------------------------------------------------------------- parser
