"""genkit.solvers (DPM-Solver++(2M) and its SDE form, Euler, Heun): hand-computed steps, exact Gaussian answers, order of accuracy."""

import math

import numpy as np
import pytest

from genkit.schedules import Schedule, make_schedule, sample_loop, sampler_timesteps, timestep_sequence
from genkit.solvers import SOLVERS, network_calls, solve

LINEAR = make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
MU, S = 0.5, 0.3  # the Gaussian "data" of the known-answer tests: x_0 ~ N(MU, S²)


def _schedule(alpha_bars) -> Schedule:
    """A schedule with hand-picked ᾱ_t (only ᾱ is read by the solvers)."""
    ab = np.asarray(alpha_bars, np.float64)
    f32 = ab.astype(np.float32)
    return Schedule("linear", f32, f32, np.sqrt(f32), np.sqrt(1 - f32), f32, ab)


# ᾱ = 0.8, 0.5, 0.2 at t = 0, 1, 2: σ̃ = √((1−ᾱ)/ᾱ) = 0.5, 1, 2 and λ = −log σ̃ = log 2, 0, −log 2,
# so every step has h = log 2 (e^{−h} = 1/2) and r = 1: numbers a hand can follow.
HAND = _schedule([0.8, 0.5, 0.2])
X_T = np.array([1.0, -2.0])
D = {2: np.array([0.5, -0.5]), 1: np.array([0.2, 0.1]), 0: np.array([0.3, -0.4])}  # x̂_0 the "network" gives at t


class Fixed:
    """denoise(x, t) -> D[t] whatever x is; records the inputs."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t):
        self.calls.append((t, np.array(x, np.float64)))
        return D[t]


def test_dpmpp_2m_steps_match_algorithm_2_by_hand():
    denoise = Fixed()
    out = solve(HAND, denoise, X_T, [2, 1, 0], sampler="dpmpp_2m")
    # Step 1 (first order): x_1 = (σ_1/σ_2) x_2 − α_1 (e^{−h} − 1) D_2 = √(0.5/0.8) x_2 + √0.5 / 2 · D_2.
    x1 = math.sqrt(0.5 / 0.8) * X_T + math.sqrt(0.5) / 2 * D[2]
    # Step 2 (r = 1): D = (1 + 1/2) D_1 − 1/2 D_2;  x_0' = √(0.2/0.5) x_1 + √0.8 / 2 · D.
    x0 = math.sqrt(0.2 / 0.5) * x1 + math.sqrt(0.8) / 2 * (1.5 * D[1] - 0.5 * D[2])
    assert [t for t, _ in denoise.calls] == [2, 1, 0]
    np.testing.assert_allclose(denoise.calls[1][1], x1, rtol=1e-12)
    np.testing.assert_allclose(denoise.calls[2][1], x0, rtol=1e-12)
    np.testing.assert_allclose(out, D[0], rtol=1e-6)  # the last step to σ = 0 is x = D


def test_dpmpp_2m_sde_steps_match_the_sde_solver_by_hand():
    denoise = Fixed()
    out = solve(HAND, denoise, X_T, [2, 1, 0], sampler="dpmpp_2m_sde", rng=np.random.default_rng(4))
    z1, z2 = (np.random.default_rng(4).standard_normal((2, 2)).astype(np.float32)).astype(np.float64)
    # h = log 2 each step: e^{−h} = 1/2, 1 − e^{−2h} = 3/4.
    # Step 1 (first order): x_1 = (σ_1/σ_2)/2 · x_2 + α_1 · 3/4 · D_2 + σ_1 √(3/4) z_1.
    x1 = math.sqrt(0.5 / 0.8) / 2 * X_T + math.sqrt(0.5) * 0.75 * D[2] + math.sqrt(0.5) * math.sqrt(0.75) * z1
    # Step 2 (r = 1): D = 1.5 D_1 − 0.5 D_2;  x_0' = (σ_0/σ_1)/2 · x_1 + α_0 · 3/4 · D + σ_0 √(3/4) z_2.
    x0 = math.sqrt(0.2 / 0.5) / 2 * x1 + math.sqrt(0.8) * 0.75 * (1.5 * D[1] - 0.5 * D[2]) + math.sqrt(0.2) * math.sqrt(0.75) * z2
    np.testing.assert_allclose(denoise.calls[1][1], x1, rtol=1e-12)
    np.testing.assert_allclose(denoise.calls[2][1], x0, rtol=1e-12)
    np.testing.assert_allclose(out, D[0], rtol=1e-6)  # no noise on the last step, to σ = 0
    with pytest.raises(ValueError, match="pass rng"):
        solve(HAND, Fixed(), X_T, [2, 1, 0], sampler="dpmpp_2m_sde")


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_dpmpp_2m_sde_to_one_timestep_is_ddim_with_eta_1(prediction):
    # First order (one step, then x_0 = D) it is DDPM's posterior: DDIM η = 1, with the same noise.
    schedule = make_schedule("linear", 100, beta_start=1e-4, beta_end=0.02)
    common = dict(prediction=prediction, variance="beta", clip=True, sequence=[60, 20])
    sde = sample_loop(schedule, Network(), (4, 2, 2, 1), sampler="dpmpp_2m_sde", eta=0.0, rng=np.random.default_rng(2), **common)
    ddim = sample_loop(schedule, Network(), (4, 2, 2, 1), sampler="ddim", eta=1.0, rng=np.random.default_rng(2), **common)
    np.testing.assert_allclose(sde, ddim, rtol=1e-5, atol=1e-5)


def test_euler_and_heun_steps_match_karras_algorithm_1_by_hand():
    euler, heun = Fixed(), Fixed()
    solve(HAND, euler, X_T, [2, 1], sampler="euler")
    out = solve(HAND, heun, X_T, [2, 1], sampler="heun")
    x_ve = X_T / math.sqrt(0.2)  # x̃ = x / α at σ̃ = 2
    d = (x_ve - D[2]) / 2
    predicted = x_ve + (1 - 2) * d  # Euler to σ̃ = 1
    np.testing.assert_allclose(euler.calls[1][1], math.sqrt(0.5) * predicted, rtol=1e-12)
    # Heun: the network at the Euler point, then the average slope; the last step (to σ̃ = 0) is Euler.
    assert [t for t, _ in heun.calls] == [2, 1, 1]
    np.testing.assert_allclose(heun.calls[1][1], math.sqrt(0.5) * predicted, rtol=1e-12)
    corrected = x_ve + (1 - 2) * (d + (predicted - D[1]) / 1) / 2
    np.testing.assert_allclose(heun.calls[2][1], math.sqrt(0.5) * corrected, rtol=1e-12)
    np.testing.assert_allclose(out, D[1], rtol=1e-6)
    assert len(heun.calls) == network_calls("heun", 2) and network_calls("dpmpp_2m", 15) == 15


def _gaussian_denoiser(x, t):
    """The exact x̂_0 = E[x_0 | x_t] for x_0 ~ N(MU, S²): MU + α S² / (α² S² + σ²) (x_t − α MU)."""
    alpha_bar = LINEAR.alpha_bar(t)
    alpha, var = math.sqrt(alpha_bar), 1 - alpha_bar
    return MU + alpha * S**2 / (alpha**2 * S**2 + var) * (np.asarray(x, np.float64) - alpha * MU)


def _exact(x_T, first: int, last: int):
    """The probability-flow ODE from `first` to `last` keeps (x_t − α MU) / √(α² S² + σ²), then x̂_0 at `last`."""

    def spread(t):
        alpha_bar = LINEAR.alpha_bar(t)
        return math.sqrt(alpha_bar), math.sqrt(alpha_bar * S**2 + 1 - alpha_bar)

    (a_first, v_first), (a_last, v_last) = spread(first), spread(last)
    return _gaussian_denoiser(a_last * MU + v_last * (x_T - a_first * MU) / v_first, last)


@pytest.mark.parametrize(
    ("sampler", "steps", "tolerance"),
    [("dpmpp_2m", 15, 0.01), ("dpmpp_2m_sde", 15, 0.02), ("heun", 15, 0.025), ("euler", 50, 0.02)],
)
def test_with_an_exact_denoiser_samples_have_the_data_mean_and_variance(sampler, steps, tolerance):
    # x_T ~ N(0, I) as sample_loop draws it; the exact denoiser of N(MU, S²) "data" (no network).
    # The SDE's path differs from the ODE's but its marginals are the same: the mean and spread agree.
    x_T = np.random.default_rng(0).standard_normal(20000)
    sequence = sampler_timesteps(LINEAR, sampler, steps)
    x = solve(LINEAR, _gaussian_denoiser, x_T, sequence, sampler=sampler, rng=np.random.default_rng(1))
    # √ᾱ_999 ≈ 0.006 leaves x_T a hair off N(α MU, α² S² + σ²): the exact ODE's own answer is the yardstick.
    exact = _exact(x_T, 999, 0)
    assert abs(exact.mean() - MU) < 0.01 and abs(exact.std() - S) < 0.01
    assert abs(x.mean() - exact.mean()) < tolerance and abs(x.std() - exact.std()) < tolerance


def test_solver_timesteps_are_log_snr_uniform_and_beat_time_uniform_ones():
    sequence = sampler_timesteps(LINEAR, "dpmpp_2m", 15)
    assert sequence[0] == 999 and sequence[-1] == 0 and np.all(np.diff(sequence) < 0)
    ab = LINEAR.alphas_cumprod_f64[sequence]
    steps_in_lambda = np.diff(0.5 * np.log(ab / (1 - ab)))
    assert np.all(np.abs(steps_in_lambda / steps_in_lambda.mean() - 1) < 0.3)  # rounding to integer t
    np.testing.assert_array_equal(sampler_timesteps(LINEAR, "ddim", 15), timestep_sequence(1000, 15))
    x_T = np.linspace(-2.0, 2.0, 9)
    errors = [
        np.max(np.abs(solve(LINEAR, _gaussian_denoiser, x_T, seq, sampler="dpmpp_2m") - _exact(x_T, 999, 0)))
        for seq in (sequence, timestep_sequence(1000, 15))
    ]
    assert errors[0] < 0.2 * errors[1]
    tiny = make_schedule("cosine", 12, beta_start=1e-4, beta_end=0.02)  # clipped last β: rounding collides
    for steps in range(2, 13):
        sequence = sampler_timesteps(tiny, "heun", steps)
        assert len(sequence) == steps and sequence[0] == 11 and sequence[-1] == 0 and np.all(np.diff(sequence) < 0)


@pytest.mark.parametrize(("sampler", "order"), [("euler", 1), ("heun", 2), ("dpmpp_2m", 2)])
def test_the_error_shrinks_at_the_solvers_order_when_steps_double(sampler, order):
    x_T = np.linspace(-2.0, 2.0, 9)
    errors = []
    for steps in (80, 160, 320):
        x = solve(LINEAR, _gaussian_denoiser, x_T, timestep_sequence(1000, steps), sampler=sampler)
        errors.append(np.max(np.abs(x - _exact(x_T, 999, 0))))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    # 2^order when the steps double: ~2 for Euler, ~4 for the second-order pair.
    assert all(0.8 * 2**order < r < 1.2 * 2**order for r in ratios), (errors, ratios)


def _loop(predict, sampler, seed=0, **kwargs):
    options = {"prediction": "epsilon", "eta": 0.0, "variance": "beta", "clip": True}
    options.update(kwargs)
    return sample_loop(
        make_schedule("linear", 100, beta_start=1e-4, beta_end=0.02),
        predict,
        (4, 2, 2, 1),
        sequence=timestep_sequence(100, 10),
        sampler=sampler,
        rng=np.random.default_rng(seed),
        **options,
    )


class Network:
    """A smooth stand-in network whose output depends on x, t and the label; records the labels it saw."""

    def __init__(self):
        self.labels = []

    def __call__(self, x, t, y):
        self.labels.append(None if y is None else y.copy())
        bias = 0.0 if y is None else y[:, None, None, None] / 10.0
        return (0.3 * x * (1 + t[:, None, None, None] / 100) + bias).astype(np.float32)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("clip", [True, False])
def test_euler_on_the_same_timesteps_is_ddim_with_eta_0(prediction, clip):
    euler = _loop(Network(), "euler", prediction=prediction, clip=clip)
    ddim = _loop(Network(), "ddim", prediction=prediction, clip=clip)
    np.testing.assert_allclose(euler, ddim, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sampler", SOLVERS)
def test_every_solver_guides_each_call_and_a_seed_repeats_its_samples(sampler):
    labels = np.array([1, 2, 3, 4], np.int32)
    network = Network()
    guided = _loop(network, sampler, labels=labels, null_class=10, guidance_scale=3.0)
    assert len(network.labels) == network_calls(sampler, 10)
    assert all(np.array_equal(y, [1, 2, 3, 4, 10, 10, 10, 10]) for y in network.labels)
    plain = _loop(Network(), sampler, labels=labels, null_class=10, guidance_scale=1.0)
    assert np.all(np.isfinite(guided)) and not np.allclose(guided, plain)
    np.testing.assert_array_equal(guided, _loop(Network(), sampler, labels=labels, null_class=10, guidance_scale=3.0))


def test_unknown_samplers_are_refused_by_name():
    with pytest.raises(ValueError, match="sampler must be one of ancestral, ddim, dpmpp_2m, dpmpp_2m_sde, euler, heun"):
        _loop(Network(), "dpm")
    with pytest.raises(ValueError, match="dpmpp_2m, dpmpp_2m_sde, euler, heun"):
        solve(LINEAR, _gaussian_denoiser, np.zeros(2), [5, 0], sampler="ddim")


def test_the_cli_and_the_manifest_offer_every_sampler():
    from typing import get_args

    from genkit.cli.parser import _SAMPLERS
    from genkit.manifest.facts import DiffusionSampleFacts
    from genkit.schedules import SAMPLERS

    assert _SAMPLERS == SAMPLERS
    assert get_args(DiffusionSampleFacts.model_fields["sampler"].annotation) == SAMPLERS
