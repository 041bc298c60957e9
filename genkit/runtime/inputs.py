"""`genkit sample EXPORT --input IMAGES`: run given images through an export, onnxruntime only.

A translation export (pix2pix, cyclegan) translates them: rows input | output. An export with
an encoder and a decoder (autoencoder, sparse_ae, contractive_ae, denoising_ae, vae, cvae)
reconstructs them: rows input | reconstruction; a denoising_ae export first corrupts them as its
training did (its manifest's spec, or --corruption/--noise), so the grid shows it denoising:
input | corrupted | denoised. Images of another size or colour are not changed silently
(`genkit.runtime.input_images`).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from genkit.atomic import atomic_write_bytes
from genkit.errors import GenkitError
from genkit.runtime.corruption import corruption_settings
from genkit.runtime.images import COMPARED_PER_ROW, check_grid_size, check_output_path, compared_rows, save_compared
from genkit.runtime.input_images import load_npz, read_images
from genkit.runtime.sampler import Sampler, positive_int

__all__ = ["input_main"]


def input_main(
    export_dir,
    input_path,
    out,
    n: int | None = None,
    direction: str | None = None,
    *,
    label: int | None = None,
    corruption: str | None = None,
    noise: float | None = None,
    seed: int | None = None,
    resize: bool = False,
) -> str:
    """`genkit sample EXPORT_DIR --input FILE.npz|IMAGE|FOLDER --out FILE.png|FILE.npz [--n N] [--resize]`,
    with `[--direction ab|ba]` for translation exports and `[--label K] [--corruption KIND] [--noise LEVEL]
    [--seed S]` for exports with an encoder and a decoder. Returns the line the CLI prints.

    Reads (at most `n` of) the images as `read_images` says: another size is resized with a
    warning unless `resize`, colour for a grayscale export is refused unless `resize`. A `.png`
    gets rows of 8 images, one row per stage (input | output, input | reconstruction, or
    input | corrupted | denoised); an `.npz` gets `x` (the outputs, which `--input` reads back),
    `source` (the inputs), and `corrupted` and `y` (the labels) when there are some.
    A conditional export (cvae) takes `label` for every image, else the .npz's integer array `y`.
    The corruption is drawn from `seed`; see `genkit.runtime.corruption.corruption_settings`.
    """
    out = check_output_path(out)  # before the (slower) loading, so a typo fails fast
    if n is not None:
        n = positive_int(n, "--n")
    start = time.perf_counter()
    model = Sampler(export_dir)
    settings = _check_flags(model, direction, label, corruption, noise)
    x = read_images(input_path, model.image_shape, model.value_range, resize=resize)[:n]
    y = None if model.directions else _labels(model, input_path, label, len(x), n)
    stages = 2 if model.directions or settings is None else 3
    if out.suffix.lower() == ".png":
        check_grid_size(compared_rows(stages, len(x)), COMPARED_PER_ROW, model.image_shape, out)
    if model.directions:
        direction = direction or model.directions[0]
        shown = {"input": x, "output": model.translate(x, direction)}
        done = f"Translated {len(x)} images ({direction}) with {model.name} ({model.family})"
    elif settings is None:
        shown = {"input": x, "reconstruction": model.reconstruct(x, y)}
        done = f"Reconstructed {len(x)} images with {model.name} ({model.family}{_label_text(label, y)})"
    else:
        corrupted = model.corrupt(x, *settings, seed=seed)
        shown = {"input": x, "corrupted": corrupted, "denoised": model.reconstruct(corrupted, y)}
        what = f"{settings[0]} noise {'rate' if settings[0] == 'masking' else 'sigma'} {settings[1]:g}"
        own = "" if corruption is not None or noise is not None else ", the export's own"
        drawn = "" if seed is None else f", seed {seed}"
        done = f"Denoised {len(x)} images ({what}{own}{drawn}) with {model.name} ({model.family}{_label_text(label, y)})"
    _write(out, shown, y, model.value_range)
    return f"{done} to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {model.provider}."


def _check_flags(model: Sampler, direction, label, corruption, noise) -> tuple[str, float] | None:
    """Refuse flags that do not apply to this export; the corruption to show (None: none)."""
    where = f"{model.export_dir} is a '{model.family}' export"
    if model.directions:
        given = [flag for flag, value in (("--label", label), ("--corruption", corruption), ("--noise", noise)) if value is not None]
        if given:
            raise GenkitError(f"{', '.join(given)}: for exports with an encoder and a decoder; {where}, which translates images.")
        if direction is not None and direction not in model.directions:
            raise GenkitError(f"--direction: {model.export_dir} translates {' and '.join(model.directions)}; got {direction!r}.")
        return None
    m = model.manifest
    if not (m.get("encoding") and m.get("sampling")) or model.is_diffusion or model.style is not None:
        raise GenkitError(
            f"--input applies to translation exports (pix2pix, cyclegan) and to exports with an encoder and a decoder "
            f"(autoencoder, sparse_ae, contractive_ae, denoising_ae, vae, cvae), which reconstruct the images; {where}. "
            "Draw its samples without --input."
        )
    if direction is not None:
        raise GenkitError(f"--direction: for translation exports (pix2pix, cyclegan); {where}, which reconstructs images.")
    return corruption_settings(m, corruption, noise)


def _labels(model: Sampler, input_path, label, count: int, n) -> np.ndarray | None:
    """One class per image for a conditional export: `label` for all, else the input .npz's `y`."""
    conditional = model.conditional or bool(model.manifest["encoding"].get("label_input"))
    if not conditional:
        if label is not None:
            raise GenkitError(f"--label: {model.name} ({model.family}) is unconditional; drop --label.")
        return None
    if label is not None:
        return np.full(count, label, np.int64)
    y = load_npz(input_path, "--input").get("y") if Path(input_path).suffix.lower() == ".npz" else None
    if y is None:
        raise GenkitError(
            f"--input: {model.name} ({model.family}) is conditional: its encoder and decoder take each image's class. "
            f"Give --label K (0..{model.num_classes - 1}) for every image, or an .npz with integer labels y beside x."
        )
    return np.asarray(y)[:n]  # its length and values are checked by encode


def _label_text(label, y) -> str:
    if label is not None:
        return f", label {label}"
    return ", the input's labels y" if y is not None else ""


def _write(out: Path, shown: dict, y, value_range) -> None:
    """`.npz`: x (the last stage), source (the inputs), corrupted and y when there are; `.png`: the compared rows."""
    if out.suffix.lower() == ".png":
        save_compared(out, shown, value_range=value_range)
        return
    stages = list(shown.values())
    arrays = {"x": stages[-1], "source": stages[0]}
    if "corrupted" in shown:
        arrays["corrupted"] = shown["corrupted"]
    if y is not None:
        arrays["y"] = np.asarray(y, np.int32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(out, buffer.getvalue())
