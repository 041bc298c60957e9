"""Scores of image-to-image translation on held-out images: L1 against targets, cycles, intensity.

Every score is a per-pixel mean in [0, 1] units whatever `data.range` is, so runs on either
range compare. `translation_l1` comes with the baseline of returning the input unchanged
(for super-resolution: the naive bilinear upsampling), which a useful model has to beat.
"""

from __future__ import annotations

import numpy as np

__all__ = ["translation_scores"]


def _unit(x, value_range):
    low, high = value_range
    return (np.asarray(x, np.float64) - low) / (high - low)


def _l1(a, b, value_range) -> float:
    return float(np.mean(np.abs(_unit(a, value_range) - _unit(b, value_range))))


def _intensity(x, value_range) -> float:
    return float(np.mean(_unit(x, value_range)))


def translation_scores(model, x, y, wanted, value_range, protocol: dict, *, paired: bool) -> dict:
    """The translation metrics in `wanted` of `model` (with `directions` and `translate(x, direction)`) on A images `x`
    and B images `y` (`y[i]` the target of `x[i]` when `paired`); adds protocol lines."""
    results = {}
    fake_b = model.translate(x, "ab")
    if "translation_l1" in wanted:
        results["translation_l1"] = _l1(fake_b, y, value_range)
        results["translation_l1_baseline"] = _l1(x, y, value_range)
        protocol["translation_l1"] = (
            "mean |G(x) - y| per pixel over held-out pairs, in [0, 1] units; the baseline returns x unchanged "
            "(mean |x - y|): lower than the baseline means the model improves on its input"
        )
    fake_a = model.translate(y, "ba") if "ba" in model.directions else None  # cyclegan's F
    if "cycle_error" in wanted and fake_a is not None:
        results["cycle_error_a"] = _l1(model.translate(fake_b, "ba"), x, value_range)
        results["cycle_error_b"] = _l1(model.translate(fake_a, "ab"), y, value_range)
        results["cycle_error"] = 0.5 * (results["cycle_error_a"] + results["cycle_error_b"])
        protocol["cycle_error"] = (
            "mean |F(G(a)) - a| (cycle_error_a) and |G(F(b)) - b| (cycle_error_b) per pixel over held-out images "
            "of each domain, in [0, 1] units; cycle_error is their mean"
        )
    if "mean_intensity" in wanted:
        results["mean_intensity_ab"] = {"input": _intensity(x, value_range), "output": _intensity(fake_b, value_range), "target": _intensity(y, value_range)}
        if fake_a is not None:
            results["mean_intensity_ba"] = {"input": _intensity(y, value_range), "output": _intensity(fake_a, value_range), "target": _intensity(x, value_range)}
        kind = "the inputs' own targets" if paired else "real held-out images of the target domain"
        protocol["mean_intensity"] = (
            f"mean pixel value in [0, 1] units of held-out inputs, their translations and {kind}: a translation "
            "that matches its target domain (e.g. thicker strokes: more ink) moves output from input toward target"
        )
    return results
