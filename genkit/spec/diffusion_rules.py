"""Rules every diffusion family's card lists: options of one schedule, sampler or conditioning are
errors under another, not silently ignored (the ddpm and latent_diffusion cards share them)."""

from __future__ import annotations

from genkit.errors import Problem
from genkit.spec.section import changed

__all__ = ["check_diffusion_options_apply"]


def check_diffusion_options_apply(spec):
    """Options of one schedule or sampler are errors under another, not silently ignored."""
    diffusion = spec.model.diffusion
    if diffusion is None:
        return []
    where, problems = ("model", "diffusion"), []
    if diffusion.schedule == "cosine":
        for name in ("beta_start", "beta_end"):
            if changed(diffusion, name):
                problems.append(Problem(where + (name,), "applies to the linear schedule, not cosine.", "Remove it."))
    elif diffusion.beta_start >= diffusion.beta_end:
        problems.append(
            Problem(
                where + ("beta_end",),
                f"must exceed beta_start ({diffusion.beta_start:g}); got {diffusion.beta_end:g}.",
                "",
            )
        )
    if spec.model.condition is None and changed(diffusion, "label_dropout"):
        problems.append(
            Problem(where + ("label_dropout",), "applies to conditional models (model.condition).", "Remove it.")
        )
    sample = spec.sample
    if sample is None:
        return problems
    if sample.steps > diffusion.timesteps:
        problems.append(
            Problem(
                ("sample", "steps"),
                f"is {sample.steps} but the model has {diffusion.timesteps} timesteps.",
                f"Use at most {diffusion.timesteps}.",
            )
        )
    for name, sampler in (("eta", "ddim"), ("variance", "ancestral")):
        if sample.sampler != sampler and changed(sample, name):
            problems.append(
                Problem(("sample", name), f"applies to sampler {sampler}, not {sample.sampler}.", "Remove it.")
            )
    for name in ("guidance_scale", "guidance_interval"):
        if not changed(sample, name):
            continue
        if spec.model.condition is None:
            problems.append(
                Problem(("sample", name), "applies to conditional models (model.condition).", "Remove it.")
            )
        elif diffusion.label_dropout == 0:
            problems.append(
                Problem(
                    ("sample", name),
                    "guidance needs the unconditional model, which model.diffusion.label_dropout: 0 never trains.",
                    f"Set label_dropout (e.g. 0.1) or remove {name}." if name == "guidance_interval"
                    else "Set label_dropout (e.g. 0.1) or guidance_scale: 1.",
                )
            )
    if sample.guidance_interval is not None and sample.guidance_scale == 1.0 and spec.model.condition is not None:
        problems.append(
            Problem(
                ("sample", "guidance_interval"),
                "applies when sample.guidance_scale is not 1; at 1 no step is guided.",
                "Set guidance_scale (e.g. 1.5) or remove guidance_interval.",
            )
        )
    if sample.guidance_interval is not None and sample.guidance_interval[1] >= diffusion.timesteps:
        problems.append(
            Problem(
                ("sample", "guidance_interval"),
                f"ends at timestep {sample.guidance_interval[1]} but the model's last is {diffusion.timesteps - 1}.",
                f"Use timesteps in [0, {diffusion.timesteps - 1}].",
            )
        )
    return problems
