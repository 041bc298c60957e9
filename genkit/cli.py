"""The `genkit` command: run | validate | inspect | train | evaluate | export | sample.

Stages are imported inside each command so `genkit sample` (onnxruntime only) never
imports TensorFlow. A `GenkitError` (bad spec, flags or files) is printed as a paragraph
and exits with code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from genkit.errors import GenkitError, SpecError, did_you_mean

__all__ = ["main"]


_DEBUG = False


def _quiet_tensorflow():
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN, CUDA probe) buries genkit's
    # own output; --debug shows it.
    if not _DEBUG:
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
    loaded = _load(args)
    _quiet_tensorflow()
    from genkit.evaluate.sample_quality import sample_scores
    from genkit.train import train

    try:
        if args.allow_spec_change and not args.resume:
            raise GenkitError("--allow-spec-change applies with --resume: it lets a run continue under a changed spec.")
        return train(loaded, resume=args.resume, allow_spec_change=args.allow_spec_change, score_samples=sample_scores)
    except SpecError as err:
        raise _located(err, loaded) from None


def _evaluate(prep):
    from genkit.evaluate import evaluate_model, format_table, write_metrics

    report = evaluate_model(prep)
    path = write_metrics(report, prep.run_dir)
    print(format_table(report))
    print(f"metrics written to {path}")
    return report


def _export(prep, out, force=False):
    from genkit.export.from_run import default_export_dir, export_run

    manifest = export_run(prep, out, force=force)
    out_dir = Path(out) if out else default_export_dir(prep.spec)
    parity = {n: f"{v.get('parity_max_abs_diff', float('nan')):.1e}" for n, v in manifest["networks"].items()}
    print(f"exported {', '.join(manifest['networks'])} to {out_dir} (ONNX vs Keras max abs diff: {parity})")
    return manifest


def cmd_evaluate(args):
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

    report = evaluate_export(export_dir, **options)
    path = Path(export_dir) / "metrics.json"
    atomic_write_text(path, json.dumps(report, indent=2))
    print(format_table(report))
    for metric, why in report["skipped"].items():
        print(f"  {metric}: not computed ({why})")
    print(f"metrics written to {path}")


def cmd_export(args):
    _export(_open_target(args.target, args.set, args.allow_outside_paths), args.out, args.force)


def cmd_run(args):
    from genkit.pipeline import is_pipeline_file, run_pipeline

    if is_pipeline_file(args.spec):
        if args.resume or args.out or args.allow_spec_change:
            raise GenkitError("--resume, --allow-spec-change and --out apply to one spec, not to a pipeline file.")
        report = run_pipeline(args.spec, args.set or [], allow_outside_paths=args.allow_outside_paths, reuse=args.reuse)
        print(f"report: {report / 'report.md'} and {report / 'report.html'}")
        return
    if args.reuse:
        raise GenkitError("--reuse applies to pipeline files; for one spec, --resume continues its newest run.")
    start = time.time()
    prep = cmd_train(args)
    _evaluate(prep)  # every worker of a cluster evaluates: its collective ops need them all
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
_FORCE_HELP = "replace an export of another spec or name in the export folder, keeping it under <folder>/.previous/"
_ALLOW_SPEC_CHANGE_HELP = "with --resume: continue even though the spec changed (e.g. a lower learning rate); the changed fields are printed"


def build_parser(families: str = "a family name; `genkit new --help` lists them") -> argparse.ArgumentParser:
    """The command-line parser. `families`: the family list the help of `new` and `layers` shows
    (read from the cards only for those commands, so `genkit sample` starts without pydantic)."""
    parser = argparse.ArgumentParser(prog="genkit", description="Declarative deep generative models from YAML specs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_spec(p):
        p.add_argument("spec", help="the spec YAML file")
        p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a spec field (repeatable)")
        p.add_argument(
            "--allow-outside-paths", action="store_true", help="let the spec file name paths outside the working folder"
        )
        return p

    p = with_spec(sub.add_parser("run", help="validate, train, evaluate and export a spec"))
    p.add_argument("--resume", action="store_true", help="continue the newest run of this spec from its last checkpoint")
    p.add_argument("--allow-spec-change", action="store_true", help=_ALLOW_SPEC_CHANGE_HELP)
    p.add_argument("--out", help="export folder (default: exports/<name>)")
    p.add_argument("--force", action="store_true", help=_FORCE_HELP)
    p.add_argument(
        "--reuse", action="store_true", help="pipelines: keep runs whose identical spec already finished and exported"
    )
    p.set_defaults(func=cmd_run)
    p = with_spec(sub.add_parser("validate", help="check a spec and build its networks"))
    p.add_argument("--print", action="store_true", help="print the fully resolved spec (every default filled in)")
    p.set_defaults(func=cmd_validate)
    with_spec(sub.add_parser("inspect", help="show the built networks and parameter counts")).set_defaults(func=cmd_inspect)
    p = with_spec(sub.add_parser("train", help="train only (writes a run folder)"))
    p.add_argument("--resume", action="store_true", help="continue the newest run from its last checkpoint")
    p.add_argument("--allow-spec-change", action="store_true", help=_ALLOW_SPEC_CHANGE_HELP)
    p.set_defaults(func=cmd_train)
    for name, helptext, func in (("evaluate", "held-out metrics of a run", cmd_evaluate), ("export", "export a run to ONNX", cmd_export)):
        p = sub.add_parser(name, help=helptext)
        target = "a run folder (runs/<name>/<time>) or a spec (its newest run)"
        p.add_argument("target", help=target + (", or an export folder (scored through onnxruntime)" if name == "evaluate" else ""))
        p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a spec field")
        p.add_argument("--allow-outside-paths", action="store_true", help="let the spec name paths outside the working folder")
        if name == "export":
            p.add_argument("--out", help="export folder (default: exports/<name>)")
            p.add_argument("--force", action="store_true", help=_FORCE_HELP)
        else:
            p.add_argument("--steps", type=int, help="diffusion export: sampler steps")
            p.add_argument("--sampler", choices=("ancestral", "ddim"), help="diffusion export: sampler")
            p.add_argument("--eta", type=float, help="diffusion export: DDIM eta")
            p.add_argument("--guidance-scale", type=float, help="diffusion export: classifier-free guidance scale")
        p.set_defaults(func=func)
    sub.add_parser("schema", help="print the JSON Schema of specs (for editors)").set_defaults(func=cmd_schema)
    p = sub.add_parser("layers", help="list the layer names a spec may use, with their arguments")
    p.add_argument("--blocks", action="store_true", help="only genkit's own blocks")
    p.add_argument("--family", help=f"also list that family's networks and loss options ({families})")
    p.set_defaults(func=cmd_layers)
    p = sub.add_parser("new", help="write a commented starter spec that runs as written")
    p.add_argument("family", help=families)
    p.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or cifar10")
    p.add_argument("--out", help="file to write (default: print)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_new)
    p = sub.add_parser("explore", help="pictures of an export's latent space (onnxruntime only)")
    p.add_argument("export_dir")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    t = tools.add_parser("interpolate", help="strips between the latents of two images (--data) or two prior draws")
    t.add_argument("--data", help="FILE.npz with x (and y), as `genkit sample --out` writes")
    t.add_argument("--pair", dest="pairs", action="append", nargs=2, type=int, metavar=("I", "J"), help="indices into --data")
    t.add_argument("--rows", type=int, help="strips to draw")
    t.add_argument("--steps", type=int, help="images per strip")
    t.add_argument("--method", metavar="{linear,slerp}")
    t.add_argument("--label", type=int, help="class to decode with (conditional exports)")
    t.add_argument("--seed", type=int)
    t = tools.add_parser("arithmetic", help="decode mean(A) - mean(B) + mean(C) of encoded classes")
    for k in "abc":
        t.add_argument(k, type=int, metavar=k.upper())
    t.add_argument("--data", required=True, help="FILE.npz with x and y")
    t.add_argument("--n", type=int, help="images averaged per class")
    t.add_argument("--label", type=int, help="class to decode the result with (conditional exports)")
    t = tools.add_parser("manifold", help="decode a grid over a 2-D latent space")
    t.add_argument("--n", type=int, help="grid side")
    t.add_argument("--span", nargs=2, type=float, metavar=("LOW", "HIGH"), help="Gaussian quantiles covered")
    t.add_argument("--label", type=int)
    t = tools.add_parser("scatter", help="PCA or t-SNE of encoded data, coloured by label")
    t.add_argument("--data", required=True, help="FILE.npz with x (and y)")
    t.add_argument("--method", metavar="{pca,tsne}")
    t.add_argument("--max-points", type=int)
    t.add_argument("--seed", type=int)
    for t in tools.choices.values():
        t.add_argument("--out", required=True, help="FILE.png")
    p.set_defaults(func=cmd_explore)
    p = sub.add_parser("score", help="anomaly scores (reconstruction error) of images, onnxruntime only")
    p.add_argument("export_dir")
    p.add_argument("--data", required=True, metavar="FILE.npz", help="images to score: x, optional integer labels y")
    p.add_argument("--normal", metavar="FILE.npz", help="held-out normal images to set the threshold on")
    p.add_argument("--anomalous-classes", type=int, nargs="+", metavar="K", help="labels in --data that are anomalies (adds AUC, roc.png)")
    p.add_argument("--fpr", type=float, help="share of normal examples above the threshold (default 0.05)")
    p.add_argument("--metric", help="mse or bce (default mse)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for scores.csv, report.json, roc.png, histogram.png")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("sample", help="draw samples from an export, or translate images, with onnxruntime only")
    p.add_argument("export_dir")
    p.add_argument("--n", type=int, help=f"number of samples (default {SAMPLES}); with --input, at most N input images (default all)")
    p.add_argument("--input", metavar="FILE.npz|IMAGE|FOLDER", help="translation exports: images to translate (npz array x, or PNG/JPEG files)")
    p.add_argument("--direction", choices=("ab", "ba"), help="translation exports: ab (default) or ba (cyclegan's second generator)")
    p.add_argument("--label", type=int, help="class to draw (conditional models)")
    p.add_argument("--steps", type=int, help="sampler steps (diffusion exports)")
    p.add_argument("--sampler", choices=("ancestral", "ddim"), help="diffusion exports: sampler (default: the export's)")
    p.add_argument("--eta", type=float, help="diffusion exports: DDIM noise, 0 (deterministic) to 1")
    p.add_argument("--guidance-scale", type=float, help="conditional diffusion exports: classifier-free guidance; 1 = none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="FILE.png (grid) or FILE.npz (arrays x, y; with --input: x translated, source)")
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv=None) -> int:
    global _DEBUG
    argv = sys.argv[1:] if argv is None else list(argv)
    families = None
    if argv[:1] in (["new"], ["layers"]):
        from genkit.spec.card import family_names

        families = ", ".join(family_names())
    args = (build_parser(families) if families else build_parser()).parse_args(argv)
    _DEBUG = args.debug
    try:
        args.func(args)
    except GenkitError as err:
        if args.debug:
            raise
        lines = [p.format() for p in err.problems] if isinstance(err, SpecError) else [str(err)]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        # Ctrl-C during training says where its checkpoint is and how to resume.
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
