"""The `prior` section of the vae and cvae cards: what sampling draws z from.

Both families train one model (genkit/families/vae/model.py), so they share this section;
a family card may not import another family's card, hence its home here beside
`genkit.spec.loss_sections`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.errors import Problem
from genkit.spec.section import Section, changed

__all__ = [
    "MAX_COMPONENTS",
    "PriorSection",
    "check_prior_components",
    "check_prior_per_class",
    "check_prior_per_class_needs_labels",
]

MAX_COMPONENTS = 1024  # the manifest's cap (genkit.manifest MAX_MIXTURE_COMPONENTS)


class PriorSection(Section):
    """The distribution sampling draws z from: N(0, I), or a density fitted to the training images' codes.

    The KL term always uses N(0, I). But the codes of the training images (the aggregate
    posterior q(z), their posterior means) need not fill N(0, I): a small latent space leaves
    regions N(0, I) covers that decode to one class or to blur. A density fitted to the codes
    after training ("ex-post density estimation": Ghosh et al., 'From variational to
    deterministic autoencoders', ICLR 2020, sec. 4; Dai & Wipf, 'Diagnosing and enhancing VAE
    models', ICLR 2019) draws where the decoder was trained. A cvae's codes are the means of
    q(z | x, y): one density for every class, and the label goes to the decoder beside z.
    """

    kind: Literal["standard_normal", "gaussian", "mixture"] = Field(
        "standard_normal",
        description="standard_normal: z ~ N(0, I), the VAE's own prior. gaussian: a full-covariance Gaussian fitted "
        "to the posterior means of up to 10,000 training images. mixture: a Gaussian mixture of `components` "
        "full-covariance Gaussians fitted to them (EM, scikit-learn, seeded by `seed`). evaluate's sample scores, "
        "the export (manifest `prior`), `genkit sample`, `serve` and `explore` all draw from it.",
    )
    components: int = Field(
        10, ge=1, le=MAX_COMPONENTS, description="kind mixture: the number of Gaussians (about the number of classes)."
    )
    per_class: bool = Field(
        False,
        description="kind gaussian, conditional models (cvae): fit one Gaussian to the codes of each class's training "
        "images and draw z for a sample of class y from class y's. The encoder leaks some of the label into z, so "
        "one Gaussian for all classes draws z where another class's codes live; the export carries the Gaussians "
        "as a mixture with a component per class that the label picks (manifest `prior.per_class`).",
    )


def check_prior_components(spec):
    """prior.components means something for a mixture only; beside another kind it would be ignored."""
    if spec.prior.kind != "mixture" and changed(spec.prior, "components"):
        return [
            Problem(
                ("prior", "components"),
                f"is set but prior.kind is {spec.prior.kind!r}; only a mixture has components.",
                "Set prior.kind: mixture, or remove prior.components.",
            )
        ]
    return []


def check_prior_per_class(spec):
    """prior.per_class fits a Gaussian to each class's codes: for kind gaussian only."""
    if spec.prior.per_class and spec.prior.kind != "gaussian":
        return [
            Problem(
                ("prior", "per_class"),
                f"is true but prior.kind is {spec.prior.kind!r}; one Gaussian per class is fitted for kind gaussian only.",
                "Set prior.kind: gaussian, or remove prior.per_class.",
            )
        ]
    return []


def check_prior_per_class_needs_labels(spec):
    """The rule of a family without labels (the vae): no class to fit a Gaussian to."""
    if spec.prior.per_class:
        return [
            Problem(
                ("prior", "per_class"),
                f"is true but the {spec.model.family} family has no class labels to fit a Gaussian per class.",
                "Use family cvae with model.condition (a conditional VAE), or remove prior.per_class.",
            )
        ]
    return []
