"""What the translation families (pix2pix, cyclegan) share: patch-score checks, preview rows, the export plan.

A translation family maps images of a domain A to images of a domain B (and, for cyclegan,
back). Its model offers `directions` ("ab", and "ba" when it translates back) and
`translate(x, direction)`; the evaluator and the runtime read only those. These functions
are the parts both families write the same way.
"""

from __future__ import annotations

import numpy as np

from genkit.errors import Problem, SpecError
from genkit.manifest import ExportPlan, TranslationFacts

__all__ = ["check_patch_scores", "translation_plan", "translation_preview"]


def check_patch_scores(output, role):
    """A patch discriminator gives one score per patch: shape (h, w, 1), or (1,) for the whole image."""
    if not output.shape[1:] or output.shape[-1] != 1:
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(output.shape[1:])}; the {role} must give one score per patch, shape [h, w, 1] "
                    "(or [1] for the whole image).",
                    "End it with e.g. 'Conv2D: {filters: 1, kernel_size: 4, padding: same}'.",
                )
            ]
        )


def translation_preview(rows: list, cols: int = 8):
    """(images, columns, row labels) of named rows [(label, images (N, H, W, C))], N ≤ cols each."""
    return np.concatenate([images[:cols] for _, images in rows]), cols, [label for label, _ in rows]


def translation_plan(networks: dict, outputs: dict, directions: dict, input_ranges: dict | None = None) -> ExportPlan:
    """The ExportPlan of a translation family: direction -> the network that reads `x` and writes `y`.

    Nothing is sampled from a prior, so latent_dim, prior, sampling and encoding stay unset.

    Args:
        networks: name -> keras.Model to export.
        outputs: name -> the network's output names.
        directions: direction ("ab", "ba") -> the name of the network translating it.
        input_ranges: network -> input -> (low, high) for the parity batch, beyond the data's images.
    """
    return ExportPlan(
        networks=networks,
        outputs=outputs,
        translation={
            direction: TranslationFacts(network=name, input="x", output="y")
            for direction, name in directions.items()
        },
        input_ranges=input_ranges or {},
    )
