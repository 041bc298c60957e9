"""Cross-field rules: named checks run after every field is valid on its own.

Each rule takes the validated spec and returns a list of `Problem`s; `RULES` is the one
list `check` runs, so a new rule is one function plus one line.
"""

from __future__ import annotations

from genkit.errors import Problem, dotted_path
from genkit.spec.schema import DATA_SOURCES, EMA_NETWORK, FAMILY_NETWORKS, SEPARATE_OPTIMIZERS, STREAMED_SOURCES
from genkit.spec.schema import BUILTIN_SOURCES, DERIVATIONS, SAMPLE_METRICS, TRANSLATION_FAMILIES, TRANSLATION_METRICS

__all__ = ["RULES", "check"]


def check_family_networks_present(spec):
    needed = FAMILY_NETWORKS[spec.model.family]
    problems = []
    for role in needed:
        if role not in spec.model.networks:
            problems.append(
                Problem(
                    ("model", "networks"),
                    f"the {spec.model.family} family needs a network named {role!r}; got {sorted(spec.model.networks)}.",
                    f"Add 'model.networks.{role}' with its layers.",
                )
            )
    for role in spec.model.networks:
        if role not in needed:
            problems.append(
                Problem(
                    ("model", "networks", role),
                    f"the {spec.model.family} family has no network role {role!r}; its roles are {', '.join(needed)}.",
                    "Rename or remove it.",
                )
            )
    return problems


def check_latent_dim_for_vae(spec):
    if spec.model.family in ("vae", "cvae") and spec.model.latent_dim is None:
        return [Problem(("model", "latent_dim"), f"the {spec.model.family} family needs a latent size.", "Add e.g. 'latent_dim: 16'.")]
    return []


GAN_FAMILIES = ("gan", "cgan", "wgan")
CONDITIONAL_FAMILIES = ("cvae", "cgan")
# Families whose one network serves with and without a label (model.condition optional).
OPTIONALLY_CONDITIONAL = ("ddpm",)


def check_latent_dim_for_generators(spec):
    if spec.model.family in GAN_FAMILIES and spec.model.latent_dim is None:
        return [Problem(("model", "latent_dim"), f"the {spec.model.family} family needs the size of z.", "Add e.g. 'latent_dim: 64'.")]
    return []


def check_conditional_has_labels(spec):
    problems = []
    if spec.model.family in CONDITIONAL_FAMILIES:
        if spec.model.condition is None:
            problems.append(
                Problem(("model", "condition"), "a conditional family needs the label it is conditioned on.", "Add 'condition: {num_classes: 10}'.")
            )
        if not spec.data.labels:
            problems.append(Problem(("data", "labels"), "a conditional family needs labelled data.", "Set 'data.labels: true'."))
    elif spec.model.family in OPTIONALLY_CONDITIONAL:
        if spec.model.condition is not None and not spec.data.labels:
            problems.append(Problem(("data", "labels"), "a conditional model needs labelled data.", "Set 'data.labels: true'."))
    elif spec.model.condition is not None:
        problems.append(
            Problem(
                ("model", "condition"),
                f"the {spec.model.family} family is not conditional.",
                f"Remove it, or use a conditional family ({', '.join(CONDITIONAL_FAMILIES + OPTIONALLY_CONDITIONAL)}).",
            )
        )
    return problems


def check_bce_needs_unit_range(spec):
    loss = getattr(spec, "loss", None)
    if getattr(loss, "reconstruction", None) == "bce" and tuple(spec.data.range) != (0.0, 1.0):
        return [
            Problem(
                ("loss", "reconstruction"),
                f"bce needs targets in [0, 1] but data.range is {list(spec.data.range)}.",
                "Use 'reconstruction: mse', or 'data.range: [0, 1]' with a sigmoid output.",
            )
        ]
    return []


def check_export_networks_exist(spec):
    names = spec.export.onnx.networks or []
    return [
        Problem(("export", "onnx", "networks"), f"{name!r} is not a network of this spec; networks are {sorted(spec.model.networks)}.", "")
        for name in names
        if name not in spec.model.networks
    ]


_SOURCE_OPTIONS = {
    "x_key": ("npz", "npz_shards"),
    "y_key": ("npz", "npz_shards"),
    "image_size": ("folder",),
    "color_mode": ("folder",),
    "val_path": STREAMED_SOURCES,
    "test_path": STREAMED_SOURCES,
    "shuffle_buffer": STREAMED_SOURCES,
    # A stream is never whole in memory to be split or filtered.
    "validation_split": tuple(s for s in DATA_SOURCES if s not in STREAMED_SOURCES),
    "exclude_classes": tuple(s for s in DATA_SOURCES if s not in STREAMED_SOURCES),
}


def check_data_options_apply_to_source(spec):
    problems = []
    for name, sources in _SOURCE_OPTIONS.items():
        # A default value is fine: resolved specs written into run folders spell every default out.
        changed = getattr(spec.data, name) != type(spec.data).model_fields[name].get_default(call_default_factory=True)
        if changed and spec.data.source not in sources:
            problems.append(
                Problem(("data", name), f"applies to source {' or '.join(sources)}, not {spec.data.source!r}.", "Remove it.")
            )
    if spec.data.source in ("npz", "folder", *STREAMED_SOURCES) and spec.data.path is None:
        problems.append(Problem(("data", "path"), f"source {spec.data.source!r} needs a path.", "Add 'path: <file or folder>'."))
    if spec.data.source in STREAMED_SOURCES and spec.data.test_path is None:
        problems.append(
            Problem(
                ("data", "test_path"),
                f"source {spec.data.source!r} needs test shards for evaluation and export.",
                "Add 'test_path: <glob of test shards>'.",
            )
        )
    return problems


VAE_FAMILIES = ("vae", "cvae")


def check_metrics_apply_to_family(spec):
    family, metrics = spec.model.family, spec.evaluate.metrics
    problems = []

    def refuse(metric, why, fix="Remove it."):
        problems.append(Problem(("evaluate", "metrics"), f"{metric!r} {why}", fix))

    if "reconstruction" in metrics and "encoder" not in FAMILY_NETWORKS[family]:
        refuse("reconstruction", f"needs a family with an encoder; {family!r} has none.")
    for metric in ("elbo", "log_likelihood"):
        if metric not in metrics:
            continue
        if family not in VAE_FAMILIES:
            refuse(metric, f"needs a VAE family ({', '.join(VAE_FAMILIES)}), not {family!r}.")
        elif getattr(spec.loss, "reconstruction", None) == "mse":
            refuse(
                metric,
                "is reported for the Bernoulli decoder (reconstruction: bce); with mse the summed "
                "squared error is not a log-likelihood in nats.",
                f"Remove {metric!r}, or use reconstruction: bce.",
            )
    # A conditional family without its condition is reported by check_conditional_has_labels.
    if "class_accuracy" in metrics and spec.model.condition is None and family not in CONDITIONAL_FAMILIES:
        refuse("class_accuracy", f"scores class-conditional samples; this {family!r} model has no model.condition.")
    return problems


_OUTPUT_ACTIVATION_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_GENERATOR_ROLES = ("decoder", "generator", "generator_ab", "generator_ba")
# Layers that move values without changing them: the activation before them is the output's.
_SHAPE_ONLY = {"Reshape", "Flatten", "Permute", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"}


def _last_activation(net):
    """(activation name, path) of a network's final layer as written, or (None, None)."""
    if net.layers:
        index = len(net.layers) - 1
        while index > 0 and isinstance(net.layers[index], dict) and set(net.layers[index]) <= _SHAPE_ONLY:
            index -= 1
        item = net.layers[index]
        if not (isinstance(item, dict) and len(item) == 1):
            return None, None
        (name, kwargs), = item.items()
        path = ("layers", index, name)
    elif net.graph:
        out = net.output if isinstance(net.output, str) else None
        nodes = [n for n in net.graph if isinstance(n, dict)]
        node = next((n for n in nodes if n.get("id") == out), nodes[-1] if nodes and out is None else None)
        if node is None:
            return None, None
        name, kwargs = node.get("layer"), node
        path = ("graph", net.graph.index(node))
    else:
        return None, None
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    if name == "Activation":
        return kwargs.get("activation"), path + ("activation",)
    return kwargs.get("activation", "linear"), path + ("activation",)


def check_output_activation_matches_range(spec):
    """A sigmoid output cannot reach [-1, 1] data, nor a tanh output sit in [0, 1]."""
    problems = []
    value_range = tuple(spec.data.range)
    for role in _GENERATOR_ROLES:
        net = spec.model.networks.get(role)
        if net is None:
            continue
        activation, path = _last_activation(net)
        if not isinstance(activation, str):
            continue  # not a name: the network builder reports it
        expected = _OUTPUT_ACTIVATION_RANGE.get(activation)
        if expected is not None and expected != value_range:
            fitting = next(a for a, r in _OUTPUT_ACTIVATION_RANGE.items() if r == value_range)
            problems.append(
                Problem(
                    ("model", "networks", role) + path,
                    f"a {activation} output lies in {list(expected)} but data.range is {list(value_range)}.",
                    f"Use activation: {fitting}, or set data.range to {list(expected)}.",
                )
            )
    return problems


def check_train_options_apply_to_family(spec):
    family, train = spec.model.family, spec.train
    problems = []
    if train.optimizers and family not in SEPARATE_OPTIMIZERS:
        fits = f" ({', '.join(SEPARATE_OPTIMIZERS)})" if SEPARATE_OPTIMIZERS else ""
        problems.append(
            Problem(
                ("train", "optimizers"),
                f"the {family} family trains all its networks with one optimizer; per-network optimizers apply "
                f"to adversarial families{fits}.",
                "Remove train.optimizers and set train.optimizer.",
            )
        )
    for role in train.optimizers:
        if family in SEPARATE_OPTIMIZERS and role not in FAMILY_NETWORKS[family]:
            problems.append(
                Problem(
                    ("train", "optimizers", role),
                    f"{role!r} is not a network of the {family} family; its networks are {', '.join(FAMILY_NETWORKS[family])}.",
                    "Name one of them.",
                )
            )
    if train.ema is not None and family not in EMA_NETWORK:
        problems.append(
            Problem(
                ("train", "ema"),
                f"the {family} family has no sampling network to average.",
                "Remove train.ema.",
            )
        )
    return problems


def check_jit_compile_is_not_deterministic(spec):
    """Keras compiles nothing with XLA while TensorFlow's op determinism is on: say so, not ignore it."""
    if spec.train.jit_compile and spec.train.deterministic:
        return [
            Problem(
                ("train", "jit_compile"),
                "XLA does not run under train.deterministic: true (Keras would silently train without it).",
                "Set train.deterministic: false to compile with XLA, or remove jit_compile.",
            )
        ]
    return []


def check_keep_best(spec):
    best = spec.train.keep_best
    if best is None:
        return []
    problems = []
    if spec.data.validation_split == 0:
        problems.append(
            Problem(
                ("train", "keep_best"),
                f"measures {best.metric!r} on the validation split, but data.validation_split is 0.",
                "Set data.validation_split, e.g. 0.1.",
            )
        )
    if best.metric == "neg_elbo" and spec.model.family not in VAE_FAMILIES:
        problems.append(
            Problem(("train", "keep_best", "metric"), f"'neg_elbo' needs a VAE family, not {spec.model.family!r}.", "Use val_loss or fid.")
        )
    return problems


# Output activations that bound a score: a critic must be free to grow, and the GAN losses
# apply the sigmoid themselves (cross-entropy from logits is the numerically stable form).
_BOUNDED_OUTPUTS = ("sigmoid", "hard_sigmoid", "softmax", "tanh")


def _bounded_output_problem(spec, role, why, fix):
    net = spec.model.networks.get(role)
    if net is None:
        return []
    activation, path = _last_activation(net)
    if activation not in _BOUNDED_OUTPUTS:
        return []
    return [Problem(("model", "networks", role) + path, f"the {role} ends in {activation}: {why}", fix)]


def check_wgan_critic_has_no_sigmoid(spec):
    if spec.model.family != "wgan":
        return []
    return _bounded_output_problem(
        spec,
        "critic",
        "a WGAN critic outputs an unbounded score whose mean difference estimates the Wasserstein distance.",
        "End the critic with a linear layer, e.g. 'Dense: {units: 1}'.",
    )


def check_discriminator_outputs_a_logit(spec):
    if spec.model.family not in ("gan", "cgan", "pix2pix"):
        return []
    return _bounded_output_problem(
        spec,
        "discriminator",
        "the family reads the output as a logit and applies the sigmoid inside its cross-entropy.",
        "End the discriminator with a linear layer, e.g. 'Dense: {units: 1}'.",
    )


def check_lipschitz_options_apply(spec):
    """clip_value belongs to weight clipping and gp_weight to the gradient penalty."""
    if spec.model.family != "wgan":
        return []
    fields = type(spec.loss).model_fields
    unused = {"clip": "gp_weight", "gradient_penalty": "clip_value"}[spec.loss.lipschitz]
    if getattr(spec.loss, unused) == fields[unused].default:
        return []
    return [Problem(("loss", unused), f"applies to lipschitz: {'clip' if unused == 'clip_value' else 'gradient_penalty'}, not {spec.loss.lipschitz!r}.", "Remove it.")]


def check_gradient_penalty_critic_has_no_batch_norm(spec):
    """Gulrajani et al. 2017, section 4: the penalty is per example, batch norm mixes examples."""
    critic = spec.model.networks.get("critic")
    if spec.model.family != "wgan" or spec.loss.lipschitz != "gradient_penalty" or critic is None:
        return []
    problems = []
    for path, name, _ in _layer_entries(critic):
        if name == "BatchNormalization":
            problems.append(
                Problem(
                    ("model", "networks", "critic") + path,
                    "the gradient penalty constrains each example's gradient, but batch normalisation makes "
                    "every output depend on the whole batch (Gulrajani et al. 2017, section 4).",
                    "Use LayerNormalization, or no normalisation, in the critic.",
                )
            )
    return problems


def _layer_entries(net):
    """(path below the network, layer name, keyword arguments) of each layer a network writes out
    (layers inside YAML blocks are not listed)."""
    entries = []
    for i, item in enumerate(net.layers or []):
        if isinstance(item, dict) and len(item) == 1:
            ((name, kwargs),) = item.items()
            entries.append((("layers", i), name, kwargs if isinstance(kwargs, dict) else {}))
    for i, node in enumerate(net.graph or []):
        if isinstance(node, dict):
            entries.append((("graph", i), node.get("layer"), node))
    return entries


_VBN = "VirtualBatchNormalization"
_VBN_INSTEAD = {
    "discriminator": f"{_VBN} is for the generator; in the discriminator use BatchNormalization or MinibatchStdDev.",
    "critic": f"{_VBN} is for the generator; in the critic use LayerNormalization or MinibatchStdDev.",
}


def check_virtual_batch_norm_only_in_generators(spec):
    """VBN needs the reference batch that only the adversarial families feed, and only to their
    generator; all of a generator's VBN layers share that one batch, so one reference_size."""
    problems = []
    for role, net in spec.model.networks.items():
        entries = [(path, kwargs) for path, name, kwargs in _layer_entries(net) if name == _VBN]
        where = ("model", "networks", role)
        if role != "generator" or spec.model.family not in GAN_FAMILIES:
            problems += [
                Problem(
                    where + path,
                    f"{_VBN} normalises with a reference batch that only the generator of the "
                    f"{', '.join(GAN_FAMILIES)} families is fed; the {spec.model.family} {role} is not.",
                    _VBN_INSTEAD.get(role, "Use BatchNormalization or GroupNormalization instead."),
                )
                for path, _ in entries
            ]
            continue
        # A missing reference_size is the builder's error (a required argument), reported there.
        sizes = [(path, kwargs["reference_size"]) for path, kwargs in entries if "reference_size" in kwargs]
        first_path, first = sizes[0] if sizes else (None, None)
        problems += [
            Problem(
                where + path + ((_VBN,) if path[0] == "layers" else ()) + ("reference_size",),
                f"is {size} but {dotted_path(where + first_path)} uses {first}: all {_VBN} layers of a generator "
                "normalise with the one reference batch the family feeds it.",
                f"Use reference_size: {first} here too.",
            )
            for path, size in sizes[1:]
            if size != first
        ]
    return problems


def check_batch_splits_into_discriminator_steps(spec):
    """Each of the k discriminator (critic) steps takes its own batch_size / k real images."""
    field = {"gan": "discriminator_steps", "cgan": "discriminator_steps", "wgan": "critic_steps"}.get(spec.model.family)
    if field is None:
        return []
    k, batch = getattr(spec.loss, field), spec.data.batch_size
    if batch % k == 0:
        return []
    return [
        Problem(
            ("data", "batch_size"),
            f"{batch} real images cannot be split into loss.{field} = {k} equal sub-batches: a batch of "
            "data.batch_size feeds one generator step, and each of its k discriminator steps takes batch_size / k.",
            f"Use a multiple of {k}, e.g. {k * max(batch // k, 1)} or {k * (batch // k + 1)}.",
        )
    ]


DIFFUSION_FAMILIES = ("ddpm",)


def _changed(section, name) -> bool:
    # A default value is fine: resolved specs written into run folders spell every default out.
    return getattr(section, name) != type(section).model_fields[name].default


def check_diffusion_sections_match_family(spec):
    """model.diffusion is required by diffusion families and meaningless elsewhere; so is `sample`."""
    family, diffusion = spec.model.family, spec.model.diffusion
    if family in DIFFUSION_FAMILIES and diffusion is None:
        return [
            Problem(
                ("model", "diffusion"),
                f"the {family} family needs its noise schedule.",
                "Add e.g. 'diffusion: {timesteps: 1000, schedule: linear}'.",
            )
        ]
    problems = []
    if family not in DIFFUSION_FAMILIES:
        for path, value in ((("model", "diffusion"), diffusion), (("sample",), spec.sample)):
            if value is not None:
                problems.append(
                    Problem(path, f"applies to diffusion families ({', '.join(DIFFUSION_FAMILIES)}), not {family!r}.", "Remove it.")
                )
    return problems


def check_diffusion_data_range(spec):
    """The forward process ends at N(0, I) and x̂₀ is clipped to [−1, 1]: the data must be there too."""
    if spec.model.family in DIFFUSION_FAMILIES and tuple(spec.data.range) != (-1.0, 1.0):
        return [
            Problem(
                ("data", "range"),
                f"a diffusion model works on data in [-1, 1]; got {list(spec.data.range)}.",
                "Set 'data.range: [-1, 1]' (exports and samples then use [-1, 1] too).",
            )
        ]
    return []


def check_diffusion_options_apply(spec):
    """Options of one schedule or sampler are errors under another, not silently ignored."""
    diffusion = spec.model.diffusion
    if spec.model.family not in DIFFUSION_FAMILIES or diffusion is None:
        return []
    where, problems = ("model", "diffusion"), []
    if diffusion.schedule == "cosine":
        for name in ("beta_start", "beta_end"):
            if _changed(diffusion, name):
                problems.append(Problem(where + (name,), "applies to the linear schedule, not cosine.", "Remove it."))
    elif diffusion.beta_start >= diffusion.beta_end:
        problems.append(
            Problem(where + ("beta_end",), f"must exceed beta_start ({diffusion.beta_start:g}); got {diffusion.beta_end:g}.", "")
        )
    if spec.model.condition is None and _changed(diffusion, "label_dropout"):
        problems.append(Problem(where + ("label_dropout",), "applies to conditional models (model.condition).", "Remove it."))
    sample = spec.sample
    if sample is None:
        return problems
    if sample.steps > diffusion.timesteps:
        problems.append(
            Problem(("sample", "steps"), f"is {sample.steps} but the model has {diffusion.timesteps} timesteps.", f"Use at most {diffusion.timesteps}.")
        )
    for name, sampler in (("eta", "ddim"), ("variance", "ancestral")):
        if sample.sampler != sampler and _changed(sample, name):
            problems.append(Problem(("sample", name), f"applies to sampler {sampler}, not {sample.sampler}.", "Remove it."))
    if _changed(sample, "guidance_scale"):
        if spec.model.condition is None:
            problems.append(Problem(("sample", "guidance_scale"), "applies to conditional models (model.condition).", "Remove it."))
        elif diffusion.label_dropout == 0:
            problems.append(
                Problem(
                    ("sample", "guidance_scale"),
                    "guidance needs the unconditional model, which model.diffusion.label_dropout: 0 never trains.",
                    "Set label_dropout (e.g. 0.1) or guidance_scale: 1.",
                )
            )
    return problems


def check_translation_data(spec):
    """Translation families need two domains (data.translation); pix2pix needs them paired; nobody else reads them."""
    family, data = spec.model.family, spec.data
    translation = data.translation
    where = ("data", "translation")
    if family not in TRANSLATION_FAMILIES:
        if translation is not None:
            return [Problem(where, f"applies to the translation families ({', '.join(TRANSLATION_FAMILIES)}), not {family!r}.", "Remove it.")]
        return []
    if translation is None:
        return [
            Problem(
                where,
                f"the {family} family translates images of a domain A into a domain B; the data section names none.",
                "Add e.g. 'translation: {pairing: paired, derive: super_resolution}' (builtin sources), or an npz/folder "
                "holding both domains.",
            )
        ]
    problems = []
    if family == "pix2pix" and translation.pairing != "paired":
        problems.append(
            Problem(
                where + ("pairing",),
                f"pix2pix learns from aligned pairs (its L1 term compares G(x) with x's own target); got {translation.pairing!r}.",
                "Use pairing: paired, or the cyclegan family for unpaired domains.",
            )
        )
    if data.source in BUILTIN_SOURCES and translation.derive is None:
        problems.append(
            Problem(where + ("derive",), f"source {data.source!r} holds one domain; say how to derive the second.", f"Add 'derive: {DERIVATIONS[0]}' or '{DERIVATIONS[1]}'.")
        )
    if data.source not in BUILTIN_SOURCES and translation.derive is not None:
        problems.append(Problem(where + ("derive",), f"applies to builtin sources ({', '.join(BUILTIN_SOURCES)}), not {data.source!r}.", "Remove it."))
    if data.source != "npz" and _changed(translation, "target_key"):
        problems.append(Problem(where + ("target_key",), f"applies to source npz, not {data.source!r}.", "Remove it."))
    if data.source not in ("npz", "folder", *BUILTIN_SOURCES):
        problems.append(Problem(("data", "source"), f"translation data comes from npz, folder or builtin sources, not {data.source!r}.", ""))
    if data.labels:
        problems.append(Problem(("data", "labels"), f"the {family} family reads images of domain B where labels would go.", "Set 'labels: false'."))
    if spec.model.latent_dim is not None:
        problems.append(Problem(("model", "latent_dim"), f"the {family} family has no latent code: its generators read images.", "Remove it."))
    return problems


def check_translation_metrics(spec):
    """Translation metrics need a translation family, and translation families cannot draw samples."""
    family, metrics = spec.model.family, spec.evaluate.metrics
    problems = []
    wanted = [m for m in TRANSLATION_METRICS if m in metrics]
    if family not in TRANSLATION_FAMILIES:
        problems += [
            Problem(("evaluate", "metrics"), f"{m!r} scores translated images; {family!r} is not a translation family ({', '.join(TRANSLATION_FAMILIES)}).", "Remove it.")
            for m in wanted
        ]
        return problems
    translation = spec.data.translation
    if "translation_l1" in metrics and translation is not None and translation.pairing != "paired":
        problems.append(Problem(("evaluate", "metrics"), "'translation_l1' compares G(x) with x's own target: it needs paired data.", "Remove it, or use cycle_error."))
    if "cycle_error" in metrics and family != "cyclegan":
        problems.append(Problem(("evaluate", "metrics"), f"'cycle_error' needs the two generators of cyclegan, not {family!r}.", "Remove it."))
    for metric in [m for m in SAMPLE_METRICS if m in metrics]:
        problems.append(Problem(("evaluate", "metrics"), f"{metric!r} scores samples drawn from a prior; the {family} family translates given images.", f"Use {', '.join(TRANSLATION_METRICS)}."))
    best = spec.train.keep_best
    if best is not None and best.metric in SAMPLE_METRICS:
        problems.append(Problem(("train", "keep_best", "metric"), f"{best.metric!r} scores samples drawn from a prior; the {family} family has none.", "Use val_loss."))
    return problems


RULES = [
    check_data_options_apply_to_source,
    check_family_networks_present,
    check_latent_dim_for_vae,
    check_latent_dim_for_generators,
    check_wgan_critic_has_no_sigmoid,
    check_discriminator_outputs_a_logit,
    check_lipschitz_options_apply,
    check_gradient_penalty_critic_has_no_batch_norm,
    check_virtual_batch_norm_only_in_generators,
    check_batch_splits_into_discriminator_steps,
    check_conditional_has_labels,
    check_bce_needs_unit_range,
    check_export_networks_exist,
    check_metrics_apply_to_family,
    check_output_activation_matches_range,
    check_train_options_apply_to_family,
    check_keep_best,
    check_jit_compile_is_not_deterministic,
    check_diffusion_sections_match_family,
    check_diffusion_data_range,
    check_diffusion_options_apply,
    check_translation_data,
    check_translation_metrics,
]


def check(spec) -> list:
    problems = []
    for rule in RULES:
        problems += rule(spec)
    return problems
