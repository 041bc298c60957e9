"""Cross-field rules: named checks run after every field is valid on its own.

Each rule takes the validated spec and returns a list of `Problem`s; `RULES` is the one
list `check` runs, so a new rule is one function plus one line.

Rules here read the family's card (`genkit.spec.card`), never a family name: what a family
needs or refuses is declared on its card, and the rules of one family alone are in its
card's `rules`, which `check` runs after these.
"""

from __future__ import annotations

import re

from genkit.errors import Problem
from genkit.spec.budget_rules import check_layer_sizes, check_network_budgets
from genkit.spec.card import card, cards
from genkit.spec.data_rules import (
    check_data_options_apply_to_source,
    check_disentanglement_metrics,
    check_shapes_are_square,
    check_translation_data,
    check_translation_metrics,
)
from genkit.spec.network_rules import (
    check_discriminator_outputs_a_logit,
    check_output_activation_matches_range,
    check_scores_are_unbounded,
    check_virtual_batch_norm_only_in_generators,
)

__all__ = ["RULES", "check"]


def check_family_networks_present(spec):
    needed = card(spec.model.family).roles
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


def check_latent_dim(spec):
    """model.latent_dim: the card says whether the family needs, takes or refuses it."""
    family, latent = card(spec.model.family), spec.model.latent_dim
    if family.latent == "required" and latent is None:
        return [Problem(("model", "latent_dim"), f"the {family.name} family needs a latent size, the size of z.", "Add e.g. 'latent_dim: 64'.")]
    if family.latent == "none" and latent is not None:
        what = "its generators read images" if family.translation else "it has no latent code"
        return [Problem(("model", "latent_dim"), f"the {family.name} family has no latent code: {what}.", "Remove it.")]
    return []





def check_conditional_has_labels(spec):
    condition = card(spec.model.family).condition
    problems = []
    if condition == "required":
        if spec.model.condition is None:
            problems.append(
                Problem(("model", "condition"), "a conditional family needs the label it is conditioned on.", "Add 'condition: {num_classes: 10}'.")
            )
        if not spec.data.labels:
            problems.append(Problem(("data", "labels"), "a conditional family needs labelled data.", "Set 'data.labels: true'."))
    elif condition == "optional":
        if spec.model.condition is not None and not spec.data.labels:
            problems.append(Problem(("data", "labels"), "a conditional model needs labelled data.", "Set 'data.labels: true'."))
    elif spec.model.condition is not None:
        conditional = [c.name for c in cards().values() if c.condition != "never"]
        problems.append(
            Problem(
                ("model", "condition"),
                f"the {spec.model.family} family is not conditional.",
                f"Remove it, or use a conditional family ({', '.join(conditional)}).",
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
    """The card says what an export offers: the spec's networks, or networks the family builds itself (stylegan's
    synthesis), and names matching its `on_request` pattern (progan's stage generators, which its rules check)."""
    exports = card(spec.model.family).export
    names, offered = spec.export.onnx.networks or [], exports.networks
    more = f" (and, when named, networks matching {exports.on_request})" if exports.on_request else ""
    return [
        Problem(("export", "onnx", "networks"), f"{name!r} is not a network the {spec.model.family} family exports; it exports {', '.join(offered)}{more}.", "")
        for name in names
        if name not in offered and not (exports.on_request and re.fullmatch(exports.on_request, name))
    ]


def check_metrics_apply_to_family(spec):
    family, metrics = card(spec.model.family), spec.evaluate.metrics
    problems = []

    def refuse(metric, why, fix="Remove it."):
        problems.append(Problem(("evaluate", "metrics"), f"{metric!r} {why}", fix))

    if "reconstruction" in metrics and not family.encoder:
        refuse("reconstruction", f"needs a family with an encoder; {family.name!r} has none.")
    for metric in ("elbo", "log_likelihood"):
        if metric not in metrics:
            continue
        if not family.likelihood:
            refuse(metric, f"needs a VAE family ({', '.join(_likelihood_families())}), not {family.name!r}.")
        elif getattr(spec.loss, "reconstruction", None) == "mse":
            refuse(
                metric,
                "is reported for the Bernoulli decoder (reconstruction: bce); with mse the summed "
                "squared error is not a log-likelihood in nats.",
                f"Remove {metric!r}, or use reconstruction: bce.",
            )
    # A conditional family without its condition is reported by check_conditional_has_labels.
    if "class_accuracy" in metrics and spec.model.condition is None and family.condition != "required":
        refuse("class_accuracy", f"scores class-conditional samples; this {family.name!r} model has no model.condition.")
    if "code_accuracy" in metrics and "codes" not in family.loss.model_fields:
        refuse("code_accuracy", f"scores the latent codes a family declares in loss.codes (infogan); {family.name!r} has none.")
    return problems


def _likelihood_families():
    return [c.name for c in cards().values() if c.likelihood]


def check_train_options_apply_to_family(spec):
    family, train = card(spec.model.family), spec.train
    problems = []
    if train.optimizers and family.optimizers != "per_role":
        per_role = [c.name for c in cards().values() if c.optimizers == "per_role"]
        problems.append(
            Problem(
                ("train", "optimizers"),
                f"the {family.name} family trains all its networks with one optimizer; per-network optimizers apply "
                f"to families with several players ({', '.join(per_role)}).",
                "Remove train.optimizers and set train.optimizer.",
            )
        )
    for role in train.optimizers:
        if family.optimizers == "per_role" and role not in family.roles:
            problems.append(
                Problem(
                    ("train", "optimizers", role),
                    f"{role!r} is not a network of the {family.name} family; its networks are {', '.join(family.roles)}.",
                    "Name one of them.",
                )
            )
    if train.ema is not None and family.ema_role is None:
        problems.append(Problem(("train", "ema"), f"the {family.name} family has no sampling network to average.", "Remove train.ema."))
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
    if best.metric == "neg_elbo" and not card(spec.model.family).likelihood:
        problems.append(
            Problem(
                ("train", "keep_best", "metric"),
                f"'neg_elbo' needs a VAE family ({', '.join(_likelihood_families())}), not {spec.model.family!r}.",
                "Use val_loss or fid.",
            )
        )
    return problems


def check_batch_splits_into_discriminator_steps(spec):
    """Each of the k discriminator (critic) steps takes its own batch_size / k real images."""
    sub_batches = card(spec.model.family).sub_batches
    if sub_batches is None:
        return []
    field = sub_batches[0]
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


def check_diffusion_sections_match_family(spec):
    """model.diffusion is required by diffusion families and meaningless elsewhere; so is `sample`."""
    family, diffusion = card(spec.model.family), spec.model.diffusion
    if family.diffusion and diffusion is None:
        return [
            Problem(
                ("model", "diffusion"),
                f"the {family.name} family needs its noise schedule.",
                "Add e.g. 'diffusion: {timesteps: 1000, schedule: linear}'.",
            )
        ]
    problems = []
    if not family.diffusion:
        diffusing = ", ".join(c.name for c in cards().values() if c.diffusion)
        for path, value in ((("model", "diffusion"), diffusion), (("sample",), spec.sample)):
            if value is not None:
                problems.append(Problem(path, f"applies to diffusion families ({diffusing}), not {family.name!r}.", "Remove it."))
    return problems


def check_diffusion_data_range(spec):
    """The forward process ends at N(0, I) and x̂₀ is clipped to [−1, 1]: the data must be there too."""
    if card(spec.model.family).diffusion and tuple(spec.data.range) != (-1.0, 1.0):
        return [
            Problem(
                ("data", "range"),
                f"a diffusion model works on data in [-1, 1]; got {list(spec.data.range)}.",
                "Set 'data.range: [-1, 1]' (exports and samples then use [-1, 1] too).",
            )
        ]
    return []


RULES = [
    check_data_options_apply_to_source,
    check_shapes_are_square,
    check_family_networks_present,
    check_latent_dim,
    check_scores_are_unbounded,
    check_discriminator_outputs_a_logit,
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
    check_translation_data,
    check_translation_metrics,
    check_disentanglement_metrics,
    check_layer_sizes,
    check_network_budgets,
]


def check(spec) -> list:
    """Every problem the rules find: the shared ones, then the family card's own."""
    problems = []
    for rule in RULES + list(card(spec.model.family).rules):
        problems += rule(spec)
    return problems
