"""What the four autoencoder families share: the encoder/decoder pair, the preview, a fitted
Gaussian prior to sample from, and the export of flat codes.

The autoencoder, sparse, denoising and contractive families differ only in their objective;
each writes its own `train_step` and calls these functions for everything else:

    self.encoder, self.decoder = build_encoder_decoder(spec, data_shape)   # in __init__
    self.code_shape = tuple(self.encoder.output.shape[1:])
    self.latent_dim = code_size(spec, self.code_shape)
    ...
    return reconstruction_preview(self.encoder, self.decoder, x_fixed)     # preview
    return code_export_plan(self.encoder, self.decoder, self.data_shape, self.code_shape, prior)

The code is the encoder's output as it is, of any shape (a vector, or a spatial map of a
convolutional code). The runtime speaks of flat latents, so the export reshapes inside the
exported graphs, and the fitted prior is over the flattened code.
"""

from __future__ import annotations

import keras
import numpy as np

from genkit.errors import Problem, SpecError
from genkit.manifest import EncodingFacts, ExportPlan, SamplingFacts
from genkit.modeling.networks import build_trunk, check_output_shape
from genkit.modeling.prior import PRIOR_FIT_IMAGES, fit_gaussian
from genkit.nets.inference import predict_batches

__all__ = [
    "build_encoder_decoder",
    "code_export_plan",
    "code_size",
    "decode_fitted_draws",
    "fit_code_prior",
    "reconstruction_preview",
]


def build_encoder_decoder(spec, data_shape):
    """(encoder, decoder): the user's networks as they are, the decoder fed the encoder's output.

    The decoder's input shape is the encoder's output shape, so the encoder is built first
    (a problem in it stops the build before the decoder's are known).
    """
    encoder = build_trunk(spec, "encoder", data_shape, "x", data_shape)
    decoder = build_trunk(spec, "decoder", tuple(encoder.output.shape[1:]), "z")
    check_output_shape(decoder, "decoder", data_shape)
    return encoder, decoder


def code_size(spec, code_shape) -> int:
    """The number of values in a code of `code_shape`; a declared model.latent_dim must equal it."""
    latent_dim = int(np.prod(code_shape))
    if spec.model.latent_dim is not None and spec.model.latent_dim != latent_dim:
        raise SpecError(
            [
                Problem(
                    ("model", "latent_dim"),
                    f"is {spec.model.latent_dim} but the encoder's output has {latent_dim} values "
                    f"(shape {list(code_shape)}).",
                    "Make them agree, or remove latent_dim (an autoencoder's code is its encoder's output).",
                )
            ]
        )
    return latent_dim


def reconstruction_preview(encoder, decoder, x_fixed, cols: int = 8):
    """The per-epoch grid: rows of originals alternating with rows of their reconstructions.

    Returns (images, columns, row labels). Only whole rows are shown.
    """
    cols = min(len(x_fixed), cols)
    x_fixed = x_fixed[: len(x_fixed) // cols * cols]
    x_hat = predict_batches(decoder, predict_batches(encoder, x_fixed))
    rows = []
    for start in range(0, len(x_fixed), cols):
        rows += [x_fixed[start : start + cols], x_hat[start : start + cols]]
    return np.concatenate(rows), cols, ["input", "output"] * (len(rows) // 2)


def fit_code_prior(encoder, x_train) -> dict:
    """The Gaussian over the codes of (up to 10,000) training images: the runtime's `gaussian` prior.

    An autoencoder has no prior of its own; decoding draws from a Gaussian fitted to its
    codes is the usual baseline, and what `genkit sample` does with its export.
    """
    return fit_gaussian(predict_batches(encoder, x_train[:PRIOR_FIT_IMAGES]))


def decode_fitted_draws(decoder, mean, scale_tril, code_shape, n: int, seed: int = 0):
    """n images decoded from z = mean + L·ε, ε ~ N(0, I), for the arrays of a `fit_code_prior` prior."""
    if mean is None:
        raise RuntimeError("an autoencoder samples from a Gaussian fitted to its codes: call fit_prior(x_train) first.")
    eps = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z = mean + eps @ scale_tril.T  # (n, latent_dim)
    return predict_batches(decoder, z.astype("float32").reshape((n, *code_shape)))


def code_export_plan(encoder, decoder, data_shape, code_shape, prior: dict) -> ExportPlan:
    """The export: a decoder from flat z (n, latent_dim) and an encoder to flat z, with the fitted prior.

    A spatial code is reshaped inside the exported graphs, so the runtime sees flat latents.
    """
    latent_dim = int(np.prod(code_shape))
    z = keras.Input((latent_dim,), name="z")
    flat_decoder = keras.Model(z, decoder(keras.layers.Reshape(code_shape)(z)), name="decoder")
    x = keras.Input(data_shape, name="x")
    flat_encoder = keras.Model(x, keras.layers.Flatten(name="z")(encoder(x)), name="encoder")
    return ExportPlan(
        networks={"decoder": flat_decoder, "encoder": flat_encoder},
        outputs={"decoder": ["x"], "encoder": ["z"]},
        latent_dim=latent_dim,
        prior=prior,
        sampling=SamplingFacts(network="decoder", latent_input="z", label_input=None, output="x"),
        encoding=EncodingFacts(network="encoder", image_input="x", label_input=None, outputs=["z"]),
    )
