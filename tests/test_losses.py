"""Loss terms against values computed by hand on fixed tensors."""

import math

import numpy as np
import pytest

from genkit import losses


def test_kl_divergence_normal_matches_closed_form():
    mean = np.array([[0.0, 1.0], [0.5, -0.5]], "float32")
    log_var = np.array([[0.0, 0.0], [math.log(2.0), math.log(0.5)]], "float32")
    # Per unit: 0.5 * (σ² + μ² − 1 − log σ²)
    expected = [
        0.5 * (1 + 0 - 1 - 0) + 0.5 * (1 + 1 - 1 - 0),
        0.5 * (2 + 0.25 - 1 - math.log(2)) + 0.5 * (0.5 + 0.25 - 1 - math.log(0.5)),
    ]
    np.testing.assert_allclose(np.asarray(losses.kl_divergence_normal(mean, log_var)), expected, rtol=1e-6)


def test_kl_sparsity_penalty_matches_hand_value():
    h = np.array([[0.1, 0.5], [0.3, 0.5]], "float32")  # batch means: 0.2, 0.5
    rho = 0.05

    def kl(r, r_hat):
        return r * math.log(r / r_hat) + (1 - r) * math.log((1 - r) / (1 - r_hat))

    assert float(losses.kl_sparsity_penalty(h, rho)) == pytest.approx(kl(rho, 0.2) + kl(rho, 0.5), rel=1e-5)
    assert float(losses.kl_sparsity_penalty(np.full((4, 3), rho, "float32"), rho)) == pytest.approx(0.0, abs=1e-6)


def test_l1_sparsity_is_batch_mean_of_absolute_sums():
    h = np.array([[1.0, -2.0], [0.0, 3.0]], "float32")
    assert float(losses.l1_sparsity_penalty(h)) == pytest.approx((3.0 + 3.0) / 2)


def test_reconstruction_terms_sum_pixels_and_average_examples():
    t = np.array([[[1.0], [0.0]], [[0.5], [0.5]]], "float32")  # (B=2, 2, 1)
    p = np.array([[[0.9], [0.2]], [[0.5], [0.25]]], "float32")
    bce = [-(math.log(0.9) + math.log(0.8)), 0.0]
    # second example: pixel 1: −(0.5·log .5 + 0.5·log .5); pixel 2: −(0.5·log .25 + 0.5·log .75)
    bce[1] = -(math.log(0.5)) - (0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert float(losses.reconstruction_loss("bce", t, p)) == pytest.approx(sum(bce) / 2, rel=1e-5)
    mse = [(0.1**2 + 0.2**2), (0.0 + 0.25**2)]
    assert float(losses.reconstruction_loss("mse", t, p)) == pytest.approx(sum(mse) / 2, rel=1e-5)


def test_contractive_penalty_is_mean_squared_frobenius_norm():
    j = np.array([[[1.0, 2.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, 0.0]]], "float32")  # (B, code, input)
    assert float(losses.contractive_penalty(j)) == pytest.approx((6.0 + 9.0) / 2)
