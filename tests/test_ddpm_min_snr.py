"""model.diffusion.min_snr_gamma: Min-SNR-γ loss weighting (Hang et al. 2023) in the shared diffusion objective."""

import numpy as np
import pytest
import tensorflow as tf

from genkit.errors import SpecError
from genkit.modeling.diffusion import denoising_losses, min_snr_weights
from genkit.schedules import make_schedule
from genkit.spec import validate_dict
from genkit.train import prepare
from tiny import tiny_ddpm_spec


def _columns(schedule):
    return tf.constant(schedule.sqrt_alphas_cumprod), tf.constant(schedule.sqrt_one_minus_alphas_cumprod)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_weights_are_min_snr_over_snr_for_epsilon_and_over_snr_plus_one_for_v(schedule):
    s = make_schedule(schedule, 1000, beta_start=1e-4, beta_end=0.02)
    t = np.arange(1000)
    snr = s.alphas_cumprod / (1.0 - s.alphas_cumprod)
    eps = np.asarray(min_snr_weights(tf.constant(t), *_columns(s), 5.0, "epsilon"))
    v = np.asarray(min_snr_weights(tf.constant(t), *_columns(s), 5.0, "v"))
    np.testing.assert_allclose(eps, np.minimum(snr, 5.0) / np.maximum(snr, 1e-12), rtol=1e-3)
    np.testing.assert_allclose(v, np.minimum(snr, 5.0) / (snr + 1.0), rtol=1e-3)
    # Nearly clean timesteps are down-weighted, noisy ones keep weight 1 (ε), finite everywhere.
    assert eps[0] < 0.01 and eps[-1] == pytest.approx(1.0) and np.all(np.isfinite(eps))
    assert np.all((v > 0) & (v <= 1.0))


def test_the_loss_is_the_unweighted_one_times_the_weights_of_its_timesteps():
    spec = validate_dict(tiny_ddpm_spec())
    weighted_spec = validate_dict(tiny_ddpm_spec(**{"model.diffusion.min_snr_gamma": 5.0}))
    prep = prepare(spec, quiet=True)
    x0 = next(iter(prep.data.train_dataset(32, shuffle=False)))  # unconditional: images only
    cols = (prep.model._sqrt_ab, prep.model._sqrt_one_minus_ab)

    def losses(diffusion):
        import keras

        return denoising_losses(
            prep.model.denoiser, x0, None, diffusion=diffusion, coefficients=cols, null_class=None,
            seed=keras.random.SeedGenerator(11), training=False,
        )

    plain, t = losses(spec.model.diffusion)
    weighted, t2 = losses(weighted_spec.model.diffusion)
    np.testing.assert_array_equal(np.asarray(t), np.asarray(t2))
    expected = np.asarray(plain) * np.asarray(min_snr_weights(t, *cols, 5.0, "epsilon"))
    np.testing.assert_allclose(np.asarray(weighted), expected, rtol=1e-5)
    assert np.any(np.asarray(weighted) < np.asarray(plain))  # some drawn t are nearly clean


def test_a_weighted_conditional_model_trains_with_finite_losses():
    spec = tiny_ddpm_spec(conditional=True, **{"model.diffusion.min_snr_gamma": 5.0, "model.diffusion.prediction": "v"})
    prep = prepare(validate_dict(spec), quiet=True)
    batch = next(iter(prep.data.train_dataset(32, shuffle=False)))
    logs = prep.model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in logs.values())


@pytest.mark.parametrize("gamma", [0, -1, "five"])
def test_a_gamma_that_is_not_a_positive_number_is_refused_naming_the_field(gamma):
    with pytest.raises(SpecError) as info:
        validate_dict(tiny_ddpm_spec(**{"model.diffusion.min_snr_gamma": gamma}))
    assert any(p.path[:3] == ("model", "diffusion", "min_snr_gamma") for p in info.value.problems), str(info.value)
