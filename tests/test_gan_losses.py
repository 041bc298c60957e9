"""Adversarial loss terms of genkit.losses against values worked out by hand on fixed logits."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genkit.losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    gradient_penalty,
    js_divergence_lower_bound,
    r1_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

LN3 = math.log(3.0)  # σ(ln 3) = 3/4


def value(tensor) -> float:
    return float(keras.ops.convert_to_numpy(tensor))


# --------------------------------------------------------------------------- GAN
def test_discriminator_loss_is_half_the_two_cross_entropies():
    # D(x) = σ(0) = 1/2 and σ(ln 3) = 3/4 on real; D(G(z)) = 1/4 and 1/2 on fakes.
    real, fake = np.array([[0.0], [LN3]]), np.array([[-LN3], [0.0]])
    real_term = (-math.log(1 / 2) - math.log(3 / 4)) / 2
    fake_term = (-math.log(1 - 1 / 4) - math.log(1 - 1 / 2)) / 2
    assert value(discriminator_loss(real, fake)) == pytest.approx(0.5 * real_term + 0.5 * fake_term, rel=1e-6)


def test_one_sided_label_smoothing_moves_only_the_real_target():
    real, fake = np.array([LN3]), np.array([-LN3])
    s = 0.1
    real_term = -(1 - s) * math.log(3 / 4) - s * math.log(1 / 4)  # target 1 − s
    fake_term = -math.log(3 / 4)  # target 0, unchanged
    assert value(discriminator_loss(real, fake, label_smoothing=s)) == pytest.approx(0.5 * (real_term + fake_term), rel=1e-6)


def test_a_discriminator_that_says_one_half_scores_log_2_and_bounds_no_divergence():
    zeros = np.zeros((5, 1))
    assert value(discriminator_loss(zeros, zeros)) == pytest.approx(math.log(2.0), rel=1e-6)
    assert value(js_divergence_lower_bound(zeros, zeros)) == pytest.approx(0.0, abs=1e-6)
    # Perfect separation: the bound reaches log 2, the largest JSD.
    assert value(js_divergence_lower_bound(np.full(4, 30.0), np.full(4, -30.0))) == pytest.approx(math.log(2.0), rel=1e-6)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("non_saturating", (-math.log(1 / 2) - math.log(3 / 4)) / 2),  # −log D(G(z))
        ("minimax", (math.log(1 - 1 / 2) + math.log(1 - 3 / 4)) / 2),  # log(1 − D(G(z)))
        ("max_likelihood", -(1.0 + 3.0) / 2),  # −exp(l): exp(0) = 1, exp(ln 3) = 3
    ],
)
def test_generator_losses_on_fixed_logits(kind, expected):
    fake = np.array([[0.0], [LN3]])  # D(G(z)) = 1/2 and 3/4
    assert value(generator_loss(kind, fake)) == pytest.approx(expected, rel=1e-6)


def test_non_saturating_keeps_its_gradient_where_minimax_saturates():
    logits = tf.Variable([-10.0])  # D(G(z)) ≈ 4.5e-5: the discriminator wins
    grads = {}
    for kind in ("non_saturating", "minimax"):
        with tf.GradientTape() as tape:
            loss = generator_loss(kind, logits)
        grads[kind] = abs(float(tape.gradient(loss, logits)[0]))
    assert grads["non_saturating"] > 0.99 and grads["minimax"] < 1e-4


def test_unknown_generator_loss_is_refused():
    with pytest.raises(ValueError, match="non_saturating"):
        generator_loss("hinge", np.zeros(2))


def test_feature_matching_is_the_squared_distance_of_batch_means():
    real = np.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = np.array([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert value(feature_matching_loss(real, fake)) == pytest.approx(1.0**2 + 2.0**2)
    maps = np.arange(16, dtype="float32").reshape(2, 2, 2, 2)
    assert value(feature_matching_loss(maps, maps + 0.5)) == pytest.approx(8 * 0.25)


# --------------------------------------------------------------------------- WGAN
def test_wasserstein_losses_are_differences_of_mean_scores():
    real, fake = np.array([[1.0], [3.0]]), np.array([[0.0], [-2.0]])
    assert value(wasserstein_critic_loss(real, fake)) == pytest.approx(-1.0 - 2.0)  # E[D(G(z))] − E[D(x)]
    assert value(wasserstein_generator_loss(fake)) == pytest.approx(1.0)


def small_critic(seed=0):
    rng = np.random.default_rng(seed)
    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(1)])
    critic.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in critic.get_weights()])
    return critic


def test_gradient_penalty_matches_finite_differences():
    critic = small_critic()
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(3, 4, 4, 1)).astype("float32"), rng.normal(size=(3, 4, 4, 1)).astype("float32")
    epsilon = np.array([0.2, 0.5, 0.9], "float32")
    mixed = epsilon[:, None, None, None] * real + (1 - epsilon[:, None, None, None]) * fake

    def score(images):
        return critic.predict(images.astype("float32"), verbose=0)[:, 0].astype(np.float64)

    h = 1e-2
    expected = []
    for example in mixed:
        steps = np.eye(16, dtype=np.float64).reshape(16, 4, 4, 1) * h
        grad = (score(example + steps) - score(example - steps)) / (2 * h)  # central differences, (16,)
        expected.append((np.linalg.norm(grad) - 1.0) ** 2)
    got = value(gradient_penalty(critic, real, fake, epsilon=epsilon))
    assert got == pytest.approx(np.mean(expected), rel=2e-3)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic_and_differentiable():
    w = np.random.default_rng(2).normal(size=(16, 1)).astype("float32")
    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    critic.set_weights([w / np.linalg.norm(w)])  # ∇D = w/‖w‖ everywhere: norm 1
    real, fake = np.ones((2, 4, 4, 1), "float32"), np.zeros((2, 4, 4, 1), "float32")
    assert value(gradient_penalty(critic, real, fake)) == pytest.approx(0.0, abs=1e-6)

    critic.set_weights([2 * w / np.linalg.norm(w)])  # norm 2: penalty (2 − 1)² = 1 ...
    with tf.GradientTape() as tape:
        penalty = gradient_penalty(critic, real, fake)
    assert value(penalty) == pytest.approx(1.0, rel=1e-5)
    # ... whose gradient with respect to the weights is 2·(‖w‖ − 1)·w/‖w‖ (a second-order gradient).
    (grad,) = tape.gradient(penalty, critic.trainable_variables)
    np.testing.assert_allclose(np.asarray(grad), 2 * w / np.linalg.norm(w), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- R1
def _two_layer_critic(dtype, scale=1e-4):
    """D(x) = Σ_j v_j (W x)_j with every weight `scale`: ∇_x D = W^T v, each entry 16·scale² exactly."""
    critic = keras.Sequential([keras.layers.Flatten(dtype=dtype), keras.layers.Dense(16, use_bias=False, dtype=dtype),
                               keras.layers.Dense(1, use_bias=False, dtype=dtype)])
    critic.build((None, 4, 4, 1))
    critic.set_weights([np.full((16, 16), scale, np.float32), np.full((16, 1), scale, np.float32)])
    return critic


def test_r1_penalty_is_the_squared_input_gradient_and_survives_float16_with_the_loss_scale():
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype(np.float32)
    exact = 16 * (16 * 1e-4**2) ** 2  # ‖∇_x D‖² = 16 pixels × (16·scale²)², the same for every example
    assert value(r1_penalty(_two_layer_critic("float32"), x)) == pytest.approx(exact, rel=1e-5)
    assert value(r1_penalty(_two_layer_critic("float32"), x, scale=1024.0)) == pytest.approx(exact, rel=1e-5)
    # In float16 the per-pixel gradient 1.6e-7 is subnormal (below 6.1e-5) and loses its digits;
    # multiplied by a loss scale of 2^15 first, it is an ordinary float16 number.
    mixed = _two_layer_critic("mixed_float16")
    assert abs(value(r1_penalty(mixed, x)) / exact - 1) > 0.1
    assert value(r1_penalty(mixed, x, scale=2.0**15)) == pytest.approx(exact, rel=1e-2)
