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
    from genkit.pipeline.sweep_plan import planned_trials

    if is_pipeline_file(args.spec):
        quiet_tensorflow()
        plan = load_pipeline(args.spec, args.set or [], build=True)
        if plan.sweep is None:
            print(f"{args.spec}: valid pipeline with {len(plan.runs)} run{'s' if len(plan.runs) != 1 else ''}")
        else:
            sweep = plan.sweep
            size = sweep.trials or len(planned_trials(sweep))
            print(f"{args.spec}: valid {sweep.method} sweep of {size} trials over {', '.join(sweep.params)}, ranked by {sweep.metric} ({sweep.direction})")
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
    quiet_tensorflow()
    from genkit.nets import list_blocks, list_layers

    if args.name is not None:
        print(_layer_doc(args.name), end="")
        return
    names = list_blocks() if args.blocks else list_layers()
    if args.family:
        from genkit.nets.catalog import family_layers
        from genkit.spec.card import card, family_names

        _check_choice("--family", args.family, family_names())
        declared = card(args.family)
        print(f"{args.family}: {declared.summary}")
        print(f"networks {', '.join(declared.roles)}")
        for name, field in declared.loss.model_fields.items():
            print(f"  loss.{name:<24} default {field.default!r:<10} {field.description}")
        fitting = family_layers(args.family, declared)
        title = (
            f"genkit blocks for {args.family} (`genkit layers NAME` documents one; a block with several "
            "inputs is a graph node whose `from` lists them in this order):"
        )
        groups = [(title, fitting.blocks)]
        if not args.blocks:
            groups.append((f"Keras layers for {args.family}'s networks:", fitting.keras))
        left_out = [n for n in fitting.left_out if n in names]
    else:
        groups, left_out = [(None, names)], []
    facts = {name: _layer_facts(name) for _, group in groups for name in group}
    width = max([len(inputs) for _, inputs, _ in facts.values()] + [4])
    for title, group in groups:
        if title:
            print(title)
        for name in group:
            origin, inputs, params = facts[name]
            print(f"{name:<32} {origin:<7} {inputs:<{width}} {', '.join(params)}".rstrip())
    if left_out:
        blocks = [n for n in left_out if n in list_blocks()]
        parts = [f"{len(left_out) - len(blocks)} Keras layers of other kinds of network"] if len(left_out) > len(blocks) else []
        if blocks:
            parts.append(f"the blocks {', '.join(blocks)} (other families', or added by the family itself)")
        print(f"left out: {' and '.join(parts)}; `genkit layers` lists every name a spec may use.")


def _layer_facts(name):
    """(origin, `from` form, constructor arguments) of the layer `name`."""
    import inspect

    import keras

    from genkit.nets import get_layer_class, is_block
    from genkit.nets.block_docs import block_doc, inputs_form

    cls = get_layer_class(name)
    # Only the layer's own arguments; every layer also takes name, dtype, trainable, ...
    base = set(inspect.signature(keras.layers.Layer.__init__).parameters)
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in base]
    if is_block(name) and cls.__module__.startswith("genkit."):
        return "genkit", inputs_form(block_doc(name)), params
    merge = issubclass(cls, keras.layers.Add.__mro__[1])  # Keras's merge layers' base class
    return ("keras" if cls.__module__.startswith("keras") else "plugin"), "[a, b, ...]" if merge else "x", params


def _layer_doc(name) -> str:
    """`genkit layers NAME`: a block's whole documentation; a Keras or plugin layer's first lines."""
    from genkit.nets import get_layer_class, is_block
    from genkit.nets.block_docs import block_text

    cls = get_layer_class(name)  # an unknown name: a SpecError offering the closest names
    if is_block(name) and cls.__module__.startswith("genkit."):
        return block_text(name)
    origin, inputs, params = _layer_facts(name)
    summary = (cls.__doc__ or "").strip().split("\n\n")[0]
    return (
        f"{name} ({'keras.layers.' + name if origin == 'keras' else f'{cls.__module__}.{cls.__qualname__}'}): {' '.join(summary.split())}\n"
        f"from: {inputs}\narguments: {', '.join(params) or 'none'}\n"
        + ("Keras documents it at https://keras.io/api/layers/\n" if origin == "keras" else "")
    )


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
                   "--guidance-interval": args.guidance_interval,
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
            sampler=args.sampler, eta=args.eta, guidance_scale=args.guidance_scale, guidance_interval=args.guidance_interval,
            truncation=args.truncation, mix=args.mix, crossover=args.crossover, codes=args.code,
        )
    )


# --------------------------------------------------------------------------- parser
