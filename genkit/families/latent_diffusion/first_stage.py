"""The latent_diffusion family's first stage: the inline autoencoder the spec declares, or the Keras
networks of a reused export's run (see model.py for the mathematics)."""

from __future__ import annotations

import keras

from genkit.errors import Problem, SpecError
from genkit.families.latent_diffusion.card import reusable_first_stage
from genkit.nets import build_network

__all__ = ["build_first_stage", "load_first_stage", "spec_error"]


def spec_error(where, message, fix="") -> SpecError:
    """One located problem as a SpecError."""
    return SpecError([Problem(where, message, fix)])


def build_first_stage(spec, data_shape):
    """(encoder, decoder, latent shape) of the inline first stage, as the spec declares them."""
    first = spec.first_stage
    encoder = build_network(
        "encoder", first.encoder, input_shape=data_shape, path=("first_stage", "encoder"), blocks=spec.blocks
    )
    out = tuple(encoder.output.shape[1:])
    if first.kind == "vae" and out[-1] % 2:
        raise spec_error(
            ("first_stage", "encoder"),
            f"outputs shape {list(out)}; kind vae splits the last axis into the mean and log-variance halves, so it must be even.",
            "Double the last layer's filters or units.",
        )
    latent = out[:-1] + (out[-1] // 2,) if first.kind == "vae" else out
    decoder = build_network(
        "decoder",
        first.decoder,
        input_shape=latent,
        input_name="z",
        path=("first_stage", "decoder"),
        blocks=spec.blocks,
    )
    if tuple(decoder.output.shape[1:]) != tuple(data_shape):
        raise spec_error(
            ("first_stage", "decoder"),
            f"outputs shape {list(decoder.output.shape[1:])} but the data has shape {list(data_shape)}.",
            "Adjust its last layers (strides, filters) so that it outputs images of the data's shape.",
        )
    return encoder, decoder, latent


def load_first_stage(folder, data_shape, value_range):
    """(encoder, decoder, latent shape, kind) of a reused export: its run's Keras networks, frozen.

    The networks see images in their own data range; an affine map (Rescaling) takes this run's
    [-1, 1] images there and the decoder's output back, inside the networks, so the export's
    decoder outputs this run's range.
    """
    manifest, run = reusable_first_stage(folder)
    where = ("first_stage", "export")
    if tuple(manifest["data"]["shape"]) != tuple(data_shape):
        raise spec_error(
            where, f"{folder} encodes images of shape {manifest['data']['shape']}; the data have {list(data_shape)}."
        )
    (low, high), (a, b) = manifest["data"]["range"], value_range
    scale = (high - low) / (b - a)
    encoder = keras.saving.load_model(run / "networks" / "encoder.keras", compile=False)
    decoder = keras.saving.load_model(run / "networks" / "decoder.keras", compile=False)
    for net in (encoder, decoder):
        net.trainable = False
    x = keras.Input(tuple(data_shape), name="x")
    wrapped_encoder = keras.Model(
        x, encoder(keras.layers.Rescaling(scale, low - a * scale, name="to_first_stage")(x)), name="encoder"
    )
    latent = tuple(decoder.inputs[0].shape[1:])
    z = keras.Input(latent, name="z")
    back = keras.layers.Rescaling(1.0 / scale, a - low / scale, name="from_first_stage")(decoder(z))
    kind = "vae" if len(manifest["encoding"]["outputs"]) == 2 else "autoencoder"  # [z_mean, z_log_var]
    return wrapped_encoder, keras.Model(z, back, name="decoder"), latent, kind
