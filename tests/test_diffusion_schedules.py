"""genkit.schedules: noise schedules and sampler updates against closed-form numbers (NumPy only)."""

import math

import numpy as np
import pytest

from genkit.schedules import (
    Schedule,
    ancestral_step,
    apply_step,
    ddim_step,
    guide,
    make_schedule,
    q_sample,
    sample_loop,
    step_coefficients,
    timestep_sequence,
)

LINEAR = make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
COSINE = make_schedule("cosine", 1000, beta_start=1e-4, beta_end=0.02)


def fixed(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- schedules
def test_linear_betas_run_from_beta_start_to_beta_end_in_equal_steps():
    assert LINEAR.betas[0] == pytest.approx(1e-4, rel=1e-6)
    assert LINEAR.betas[-1] == pytest.approx(0.02, rel=1e-6)
    assert LINEAR.betas[500] == pytest.approx(1e-4 + 500 * (0.02 - 1e-4) / 999, rel=1e-6)
    assert all(a.dtype == np.float32 for a in (LINEAR.betas, LINEAR.alphas_cumprod, LINEAR.posterior_variance))
    assert LINEAR.alphas_cumprod_f64.dtype == np.float64


def test_linear_alpha_bar_at_T_matches_the_closed_form_product():
    # ᾱ_T = Π (1 − β_t) = exp(Σ log(1 − β_t)) ≈ 4.04e-5 for Ho et al.'s schedule.
    betas = [1e-4 + t * (0.02 - 1e-4) / 999 for t in range(1000)]
    expected = math.exp(sum(math.log1p(-b) for b in betas))
    assert LINEAR.alphas_cumprod[-1] == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(4.036e-5, rel=1e-3)
    assert LINEAR.alphas_cumprod[0] == pytest.approx(1 - 1e-4, rel=1e-7)


def test_cosine_alpha_bar_follows_nichol_and_dhariwal_eq_17():
    def f(t):
        return math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 100, 500, 900):
        # Index t is the paper's t + 1 (ᾱ at the end of step t).
        assert COSINE.alphas_cumprod[t] == pytest.approx(f(t + 1) / f(0), rel=1e-5)
    assert COSINE.betas.max() == pytest.approx(0.999)  # clipped near t = T
    assert COSINE.alphas_cumprod[-1] < 1e-6


def test_posterior_variance_is_beta_tilde_and_zero_at_the_first_step():
    betas = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - betas)
    for t in (1, 10, 500, 999):
        expected = (1 - ab[t - 1]) / (1 - ab[t]) * betas[t]
        assert LINEAR.posterior_variance[t] == pytest.approx(expected, rel=1e-5)
    assert LINEAR.posterior_variance[0] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "cosin", "timesteps": 10}, "one of linear, cosine"),
        ({"kind": "linear", "timesteps": 1}, "timesteps must be an integer >= 2"),
        ({"kind": "linear", "timesteps": 10, "beta_end": 1.5}, r"every beta must lie in \(0, 1\)"),
    ],
)
def test_make_schedule_refuses_impossible_settings(kwargs, match):
    kwargs = {"beta_start": 1e-4, "beta_end": 0.02, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_schedule(kwargs.pop("kind"), kwargs.pop("timesteps"), **kwargs)


# --------------------------------------------------------------------------- forward process
@pytest.mark.parametrize("t", [0, 250, 999])
def test_forward_process_has_the_marginal_mean_and_variance_of_eq_4(t):
    n = 200_000
    x0 = np.full((n, 1), 0.7, np.float32)
    xt = q_sample(LINEAR, x0, np.full(n, t), fixed((n, 1), seed=t))
    ab = float(LINEAR.alphas_cumprod[t])
    assert xt.mean() == pytest.approx(math.sqrt(ab) * 0.7, abs=4 * math.sqrt((1 - ab) / n) + 1e-6)
    assert xt.var() == pytest.approx(1 - ab, rel=0.02, abs=1e-6)


# --------------------------------------------------------------------------- one step by hand
X_T, OUT, Z = fixed((2, 3, 3, 1), 1), fixed((2, 3, 3, 1), 2), fixed((2, 3, 3, 1), 3)


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ancestral_step_is_algorithm_2(variance):
    t = 500
    beta, alpha, ab = (float(a[t]) for a in (LINEAR.betas, 1 - LINEAR.betas, LINEAR.alphas_cumprod))
    sigma2 = beta if variance == "beta" else float(LINEAR.posterior_variance[t])
    x, eps, z = (a.astype(np.float64) for a in (X_T, OUT, Z))
    expected = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha) + math.sqrt(sigma2) * z
    got = ancestral_step(LINEAR, X_T, OUT, t, t - 1, Z, prediction="epsilon", variance=variance, clip=False)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)


def test_ancestral_last_step_adds_no_noise():
    step = step_coefficients(LINEAR, 0, -1, sampler="ancestral", prediction="epsilon", eta=0.0, variance="beta")
    assert step.sigma == 0.0
    got = ancestral_step(LINEAR, X_T, OUT, 0, -1, None, prediction="epsilon", variance="beta", clip=False)
    expected = (X_T - 1e-4 / math.sqrt(1e-4) * OUT.astype(np.float64)) / math.sqrt(1 - 1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_ddim_step_is_song_et_al_eq_12_with_sigma_of_eq_16():
    t, s, eta = 600, 400, 0.5
    ab, ab_s = float(LINEAR.alphas_cumprod[t]), float(LINEAR.alphas_cumprod[s])
    x, eps, z = (a.astype(np.float64) for a in (X_T, OUT, Z))
    x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab) * (1 - ab / ab_s))
    expected = math.sqrt(ab_s) * x0 + math.sqrt(1 - ab_s - sigma**2) * eps + sigma * z
    got = ddim_step(LINEAR, X_T, OUT, t, s, Z, prediction="epsilon", eta=eta, clip=False)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)


def test_ddim_with_eta_0_ignores_the_noise_and_ancestral_posterior_equals_ddim_eta_1():
    a = ddim_step(LINEAR, X_T, OUT, 700, 650, Z, prediction="epsilon", eta=0.0, clip=True)
    b = ddim_step(LINEAR, X_T, OUT, 700, 650, -Z, prediction="epsilon", eta=0.0, clip=True)
    np.testing.assert_array_equal(a, b)
    ancestral = ancestral_step(LINEAR, X_T, OUT, 700, 650, Z, prediction="epsilon", variance="posterior", clip=True)
    ddim = ddim_step(LINEAR, X_T, OUT, 700, 650, Z, prediction="epsilon", eta=1.0, clip=True)
    np.testing.assert_allclose(ancestral, ddim, atol=1e-6)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_a_perfect_prediction_takes_one_ddim_step_to_the_data(prediction):
    x0 = np.clip(fixed((4, 5), 7), -1, 1)
    eps = fixed((4, 5), 8)
    t = 800
    x_t = q_sample(LINEAR, x0, np.full(4, t), eps)
    a, b = float(LINEAR.sqrt_alphas_cumprod[t]), float(LINEAR.sqrt_one_minus_alphas_cumprod[t])
    output = eps if prediction == "epsilon" else a * eps - b * x0  # v = √ᾱ ε − √(1−ᾱ) x0
    got = ddim_step(LINEAR, x_t, output, t, -1, None, prediction=prediction, eta=0.0, clip=False)
    np.testing.assert_allclose(got, x0, atol=2e-3 if prediction == "epsilon" else 1e-5)


def test_clipping_keeps_the_estimate_of_x0_inside_the_data_range():
    step = step_coefficients(LINEAR, 999, -1, sampler="ddim", prediction="epsilon", eta=0.0, variance="beta")
    wild = np.full((1, 2), 50.0, np.float32)
    assert np.all(np.abs(apply_step(step, wild, np.zeros_like(wild), None, clip=True)) <= 1.0 + 1e-6)
    assert np.all(np.abs(apply_step(step, wild, np.zeros_like(wild), None, clip=False)) > 1.0)


def test_a_noisy_step_without_noise_is_an_error():
    with pytest.raises(ValueError, match="pass noise"):
        ancestral_step(LINEAR, X_T, OUT, 10, 9, None, prediction="epsilon", variance="beta", clip=False)


# --------------------------------------------------------------------------- sequences, guidance, loop
def test_timestep_sequence_spans_T_minus_1_to_0_and_steps_T_visits_every_timestep():
    seq = timestep_sequence(1000, 50)
    assert len(seq) == 50 and seq[0] == 999 and seq[-1] == 0 and np.all(np.diff(seq) < 0)
    np.testing.assert_array_equal(timestep_sequence(1000, 1000), np.arange(999, -1, -1))
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000\]"):
        timestep_sequence(1000, 1001)


def test_guidance_scale_1_is_the_conditional_output_and_0_the_unconditional():
    cond, uncond = fixed((3, 4), 1), fixed((3, 4), 2)
    np.testing.assert_allclose(guide(cond, uncond, 1.0), cond, atol=1e-6)
    np.testing.assert_allclose(guide(cond, uncond, 0.0), uncond, atol=1e-6)
    np.testing.assert_allclose(guide(cond, uncond, 3.0), uncond + 3 * (cond - uncond), atol=1e-5)


class Recorder:
    """A stand-in network: output = 0.1·x + label/10, recording the labels it was called with."""

    def __init__(self, chunk=None):
        self.labels, self.chunk = [], chunk

    def __call__(self, x, t, y):
        self.labels.append(None if y is None else y.copy())
        outputs = []
        step = self.chunk or len(x)
        for i in range(0, len(x), step):
            bias = 0.0 if y is None else (y[i : i + step, None, None, None] / 10.0)
            outputs.append(0.1 * x[i : i + step] + bias)
        return np.concatenate(outputs).astype(np.float32)


def loop(predict, seed=0, **kwargs):
    options = {
        "sequence": timestep_sequence(100, 10),
        "sampler": "ddim",
        "prediction": "epsilon",
        "eta": 0.0,
        "variance": "beta",
        "clip": True,
    }
    options.update(kwargs)
    schedule = make_schedule("linear", 100, beta_start=1e-4, beta_end=0.02)
    return sample_loop(schedule, predict, (4, 2, 2, 1), rng=np.random.default_rng(seed), **options)


def test_guidance_scale_1_runs_only_the_conditional_network():
    labels = np.array([1, 2, 3, 4], np.int32)
    recorder = Recorder()
    loop(recorder, labels=labels, null_class=10, guidance_scale=1.0)
    assert all(np.array_equal(y, labels) for y in recorder.labels)
    guided = Recorder()
    loop(guided, labels=labels, null_class=10, guidance_scale=2.0)
    assert all(np.array_equal(y, [1, 2, 3, 4, 10, 10, 10, 10]) for y in guided.labels)


def test_a_guidance_interval_guides_inside_it_and_runs_the_conditional_network_alone_outside():
    labels = np.array([1, 2, 3, 4], np.int32)
    sequence = timestep_sequence(100, 10)  # 99, 88, ..., 0
    inside = [int(t) for t in sequence if 30 <= t <= 70]
    recorder = Recorder()
    partly = loop(recorder, labels=labels, null_class=10, guidance_scale=2.0, guidance_interval=(30, 70))
    batches = [len(y) for y in recorder.labels]
    assert batches == [8 if 30 <= t <= 70 else 4 for t in sequence] and batches.count(8) == len(inside) > 0
    everywhere = loop(Recorder(), labels=labels, null_class=10, guidance_scale=2.0, guidance_interval=(0, 99))
    np.testing.assert_array_equal(everywhere, loop(Recorder(), labels=labels, null_class=10, guidance_scale=2.0))
    nowhere = loop(Recorder(), labels=labels, null_class=10, guidance_scale=2.0, guidance_interval=(40, 42))
    np.testing.assert_array_equal(nowhere, loop(Recorder(), labels=labels, null_class=10, guidance_scale=1.0))
    assert not np.array_equal(partly, everywhere) and not np.array_equal(partly, nowhere)


def test_ddim_eta_0_is_deterministic_given_x_T_and_ancestral_is_not():
    a, b = loop(Recorder(), seed=1), loop(Recorder(), seed=1)
    np.testing.assert_array_equal(a, b)
    schedule = make_schedule("linear", 100, beta_start=1e-4, beta_end=0.02)

    class CountingRng:
        """Counts the calls to standard_normal (only x_T is drawn when eta = 0)."""

        def __init__(self):
            self.calls = 0

        def standard_normal(self, shape):
            self.calls += 1
            return np.ones(shape)

    def draws(sampler: str) -> int:
        rng = CountingRng()
        sample_loop(
            schedule,
            Recorder(),
            (4, 2, 2, 1),
            sequence=timestep_sequence(100, 10),
            sampler=sampler,
            prediction="epsilon",
            eta=0.0,
            variance="beta",
            clip=True,
            rng=rng,
        )
        return rng.calls

    assert draws("ddim") == 1
    # x_T, then noise on every step but the last: ancestral, and the SDE solver too.
    assert draws("ancestral") == draws("dpmpp_2m_sde") == 1 + 9


@pytest.mark.parametrize("sampler", ["ancestral", "dpmpp_2m_sde"])
def test_a_seed_gives_the_same_samples_however_the_network_splits_the_batch(sampler):
    whole = loop(Recorder(), seed=3, sampler=sampler)
    chunked = loop(Recorder(chunk=1), seed=3, sampler=sampler)
    np.testing.assert_array_equal(whole, chunked)


def test_guidance_without_a_null_class_and_unordered_sequences_are_errors():
    with pytest.raises(ValueError, match="null_class"):
        loop(Recorder(), labels=np.zeros(4, np.int32), guidance_scale=2.0)
    with pytest.raises(ValueError, match="strictly decreasing"):
        loop(Recorder(), sequence=[0, 50, 99])


def test_schedule_is_a_frozen_record_of_float32_arrays():
    assert isinstance(LINEAR, Schedule) and LINEAR.timesteps == 1000
    with pytest.raises(AttributeError):
        LINEAR.kind = "cosine"
