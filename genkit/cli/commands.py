"""The `genkit` commands that do not run a stage: validate, inspect, new, schema, layers, explore, score, sample.

Stages are imported inside each command so `genkit sample` (onnxruntime only) never imports
TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from genkit.cli.common import build_for_check_located, load, quiet_tensorflow
from genkit.errors import GenkitError, did_you_mean

__all__ = ["SAMPLES", "cmd_explore", "cmd_inspect", "cmd_layers", "cmd_new", "cmd_sample", "cmd_schema", "cmd_score", "cmd_validate"]


def cmd_validate(args):
    from genkit.pipeline import is_pipeline_file, load_pipeline

    if is_pipeline_file(args.spec):
        quiet_tensorflow()
        plan = load_pipeline(args.spec, args.set or [], build=True)
        print(f"{args.spec}: valid pipeline with {len(plan.runs)} runs")
        return
    loaded = load(args)
    model = build_for_check_located(loaded)
    if args.print:
        import yaml

        print(yaml.safe_dump(loaded.spec.model_dump(mode="json"), sort_keys=False), end="")
        return
    print(f"{args.spec}: valid {loaded.spec.model.family} spec '{loaded.spec.name}'")
    print(_network_summary(model, verbose=False))


def cmd_inspect(args):
    loaded = load(args)
    print(_network_summary(build_for_check_located(loaded), verbose=True))


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

    quiet_tensorflow()
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
    from genkit.runtime import input_main, sample_main

    if args.input is not None:
        drawing = {"--code": args.code, "--steps": args.steps, "--sampler": args.sampler, "--eta": args.eta, "--guidance-scale": args.guidance_scale,
                   "--truncation": args.truncation, "--mix": args.mix, "--crossover": args.crossover}
        given = [flag for flag, value in drawing.items() if value is not None]
        if given:
            raise GenkitError(f"{', '.join(given)}: settings for drawing samples; with --input the export translates or reconstructs the given images.")
        print(input_main(args.export_dir, args.input, args.out, args.n, args.direction, label=args.label, corruption=args.corruption,
                         noise=args.noise, seed=args.seed, resize=args.resize))
        return
    given = [flag for flag, value in (("--direction", args.direction), ("--corruption", args.corruption), ("--noise", args.noise)) if value is not None]
    if given or args.resize:
        raise GenkitError(f"{', '.join(given + ['--resize'] * args.resize)}: settings for --input images; give --input too.")
    print(
        sample_main(
            args.export_dir, SAMPLES if args.n is None else args.n, args.label, args.out, args.seed, args.steps,
            sampler=args.sampler, eta=args.eta, guidance_scale=args.guidance_scale,
            truncation=args.truncation, mix=args.mix, crossover=args.crossover, codes=args.code,
        )
    )


# --------------------------------------------------------------------------- parser
