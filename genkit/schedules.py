"""Diffusion noise schedules and sampler updates, in NumPy only.

One module for the numbers both sides use: `genkit.families.ddpm` trains with them and
`genkit.runtime.diffusion` samples with them without TensorFlow. The maths are done in
float64 and the schedule is stored in float32, the precision the networks see; sampler
coefficients come from a float64 copy of ᾱ, because 1 − ᾱ_t near t = 0 (about 1e-4) keeps
only three digits when ᾱ_t is rounded to float32.

Notation (Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020): timestep
indices t = 0 … T − 1 stand for the paper's 1 … T; α_t = 1 − β_t, ᾱ_t = Π_{s≤t} α_s, and
ᾱ_{−1} = 1 (the clean data).

- forward process, eq. (4): q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I);
- posterior, eqs. (6)–(7): q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
  β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t;
- ancestral sampling, Algorithm 2: x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z, σ_t² = β_t or β̃_t;
- DDIM (Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021), eq. (12)
  with σ from eq. (16) scaled by η: η = 0 is deterministic, η = 1 is ancestral with β̃;
- cosine schedule: Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic
  Models", ICML 2021, eq. (17); sampling on a subsequence of timesteps ("respacing",
  their section 4) uses the betas implied by ᾱ on that subsequence;
- v-prediction: Salimans & Ho, "Progressive Distillation", ICLR 2022, v = √ᾱ ε − √(1−ᾱ) x_0;
- classifier-free guidance: Ho & Salimans, 2022, ε̃ = ε_∅ + w (ε_y − ε_∅);
- few-step solvers (DPM-Solver++(2M) and its SDE form, Euler, Heun): `genkit.solvers`, driven by
  `sample_loop` through the same guidance, prediction and clipping as DDIM.

Example:

    schedule = make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
    sequence = timestep_sequence(1000, 50)                      # [999, 979, ..., 0]
    x = sample_loop(schedule, predict, (16, 28, 28, 1), sequence=sequence, sampler="ddim",
                    prediction="epsilon", eta=0.0, variance="beta", clip=True,
                    rng=np.random.default_rng(0))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genkit.solvers import SOLVERS, solve

__all__ = [
    "PREDICTIONS",
    "SAMPLERS",
    "SCHEDULES",
    "STEP_SAMPLERS",
    "VARIANCES",
    "Schedule",
    "Step",
    "ancestral_step",
    "apply_step",
    "data_prediction",
    "ddim_step",
    "guide",
    "make_schedule",
    "q_sample",
    "sample_loop",
    "sampler_timesteps",
    "step_coefficients",
    "timestep_sequence",
]

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "v")
STEP_SAMPLERS = ("ancestral", "ddim")  # one `Step` per network call, noise drawn by `sample_loop`
SAMPLERS = STEP_SAMPLERS + SOLVERS  # ... and the few-step solvers of genkit.solvers
VARIANCES = ("beta", "posterior")

_COSINE_OFFSET = 0.008  # s of Nichol & Dhariwal eq. (17): keeps β_0 from being vanishingly small
_COSINE_MAX_BETA = 0.999  # their clipping of β_t, which avoids a singularity at t = T


@dataclass(frozen=True, eq=False)
class Schedule:
    """A noise schedule: per-timestep arrays of shape (T,), float32 (and ᾱ_t in float64)."""

    kind: str
    betas: np.ndarray  # β_t
    alphas_cumprod: np.ndarray  # ᾱ_t
    sqrt_alphas_cumprod: np.ndarray  # √ᾱ_t, scales x_0 in the forward process
    sqrt_one_minus_alphas_cumprod: np.ndarray  # √(1 − ᾱ_t), scales ε
    posterior_variance: np.ndarray  # β̃_t, eq. (7); β̃_0 = 0
    alphas_cumprod_f64: np.ndarray  # ᾱ_t in float64, for the sampler's coefficients

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t as a float64 number; ᾱ_{−1} = 1."""
        return 1.0 if t < 0 else float(self.alphas_cumprod_f64[t])


def _linear_betas(timesteps: int, beta_start: float, beta_end: float) -> np.ndarray:
    return np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)


def _cosine_betas(timesteps: int) -> np.ndarray:
    # ᾱ(t) = f(t) / f(0), f(t) = cos²(((t/T + s) / (1 + s)) · π/2); β_t = 1 − ᾱ_t / ᾱ_{t−1}.
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + _COSINE_OFFSET) / (1 + _COSINE_OFFSET) * math.pi / 2) ** 2
    return np.minimum(1.0 - f[1:] / f[:-1], _COSINE_MAX_BETA)


def _f32(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


def make_schedule(kind: str, timesteps: int, *, beta_start: float, beta_end: float) -> Schedule:
    """The schedule `kind` ("linear" or "cosine") over `timesteps` steps.

    `linear`: β_t evenly spaced from beta_start to beta_end (Ho et al.: 1e-4 … 0.02 over
    T = 1000). `cosine`: ᾱ follows a squared cosine (beta_start/beta_end are not used).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {kind!r}.")
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 2:
        raise ValueError(f"timesteps must be an integer >= 2; got {timesteps!r}.")
    betas = _linear_betas(timesteps, beta_start, beta_end) if kind == "linear" else _cosine_betas(timesteps)
    if not (np.all(betas > 0) and np.all(betas < 1)):
        raise ValueError(f"every beta must lie in (0, 1); got {betas.min():g} … {betas.max():g}.")
    alphas_cumprod = np.cumprod(1.0 - betas)
    previous = np.concatenate([[1.0], alphas_cumprod[:-1]])  # ᾱ_{t−1}, with ᾱ_{−1} = 1
    return Schedule(
        kind=kind,
        betas=_f32(betas),
        alphas_cumprod=_f32(alphas_cumprod),
        sqrt_alphas_cumprod=_f32(np.sqrt(alphas_cumprod)),
        sqrt_one_minus_alphas_cumprod=_f32(np.sqrt(1.0 - alphas_cumprod)),
        posterior_variance=_f32((1.0 - previous) / (1.0 - alphas_cumprod) * betas),
        alphas_cumprod_f64=alphas_cumprod,
    )


def q_sample(schedule: Schedule, x0, t, noise) -> np.ndarray:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4), for x0 (B, ...) and integer t (B,)."""
    x0 = np.asarray(x0, np.float64)
    shape = (-1,) + (1,) * (x0.ndim - 1)  # (B,) -> (B, 1, 1, 1)
    a = schedule.sqrt_alphas_cumprod[np.asarray(t)].astype(np.float64).reshape(shape)
    b = schedule.sqrt_one_minus_alphas_cumprod[np.asarray(t)].astype(np.float64).reshape(shape)
    return (a * x0 + b * np.asarray(noise, np.float64)).astype(np.float32)


def timestep_sequence(timesteps: int, steps: int) -> np.ndarray:
    """`steps` timesteps from T − 1 down to 0, evenly spaced (int64, descending).

    Both ends are always included, so the sampler starts from (almost) pure noise and its
    last update lands on clean data; `steps = T` visits every timestep.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be an integer in [1, {timesteps}] (the model's timesteps); got {steps!r}.")
    if steps == 1:
        return np.array([timesteps - 1], dtype=np.int64)
    return np.round(np.linspace(timesteps - 1, 0, steps)).astype(np.int64)


def sampler_timesteps(schedule: Schedule, sampler: str, steps: int) -> np.ndarray:
    """The `steps` timesteps `sampler` visits (int64, descending, from T − 1 to 0).

    ancestral and DDIM: `timestep_sequence`, evenly spaced in t. The solvers of
    `genkit.solvers`: evenly spaced in the half log-SNR λ_t = ½ log(ᾱ_t / (1 − ᾱ_t)), each
    rounded to the nearest integer timestep the network was trained on. Lu et al. recommend
    λ-uniform steps for low-resolution images (DPM-Solver, NeurIPS 2022, "logSNR" skip type); with
    the exact denoiser of Gaussian data (tests/test_solvers.py) it gives 13x less error than
    t-uniform steps for DPM-Solver++(2M) at 15 steps, and less for Euler and Heun too: t-uniform
    steps spend a tenth of the steps on the last, largest change of λ (about 4.6 to 1 over t < 100).
    """
    sequence = timestep_sequence(schedule.timesteps, steps)
    if sampler not in SOLVERS or steps < 2:
        return sequence
    ab = schedule.alphas_cumprod_f64
    lam = 0.5 * np.log(ab / (1.0 - ab))  # (T,), decreasing in t
    targets = np.linspace(lam[-1], lam[0], steps)  # λ_{T−1} ... λ_0
    nearest = np.abs(lam[None, :] - targets[:, None]).argmin(axis=1)  # (steps,)
    # Rounding can land two steps on one timestep where λ changes fast (near t = 0, and near
    # t = T − 1 for the cosine schedule): keep `steps` distinct timesteps by lifting each to at
    # least one above the next, then capping each at one below the previous (t_0 = T − 1).
    for i in range(steps - 2, -1, -1):
        nearest[i] = max(nearest[i], nearest[i + 1] + 1)
    nearest[0] = schedule.timesteps - 1
    for i in range(1, steps):
        nearest[i] = min(nearest[i], nearest[i - 1] - 1)
    return nearest.astype(np.int64)


@dataclass(frozen=True)
class Step:
    """One sampler update, linear in its inputs:

    x̂_0 = x0_from_xt · x_t + x0_from_output · output   (then clipped to [−1, 1] if asked)
    x_prev = coef_x0 · x̂_0 + coef_xt · x_t + sigma · z
    """

    x0_from_xt: float
    x0_from_output: float
    coef_x0: float
    coef_xt: float
    sigma: float


def step_coefficients(
    schedule: Schedule, t: int, t_prev: int, *, sampler: str, prediction: str, eta: float, variance: str
) -> Step:
    """The update from timestep t to t_prev (< t; −1 means clean data) as a `Step`.

    For consecutive timesteps the ancestral update is exactly Algorithm 2; on a
    subsequence it uses β' = 1 − ᾱ_t / ᾱ_prev (respacing).
    """
    if sampler not in STEP_SAMPLERS or prediction not in PREDICTIONS or variance not in VARIANCES:
        raise ValueError(f"unknown sampler/prediction/variance: {sampler!r}, {prediction!r}, {variance!r}.")
    if not -1 <= t_prev < t < schedule.timesteps:
        raise ValueError(f"need -1 <= t_prev < t < {schedule.timesteps}; got t={t}, t_prev={t_prev}.")
    # 1. ᾱ at both ends, in float64.
    ab_t, ab_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
    # 2. x̂_0 from the network output: eq. (15) of DDPM (ε) or x_0 = √ᾱ x_t − √(1−ᾱ) v.
    x0_from_xt, x0_from_output = _x0_coefficients(ab_t, prediction)
    if sampler == "ancestral":
        # 3a. Posterior mean μ̃ = √ᾱ_prev β'/(1−ᾱ_t) x̂_0 + √α'(1−ᾱ_prev)/(1−ᾱ_t) x_t, eq. (7).
        alpha = ab_t / ab_prev
        beta = 1.0 - alpha
        coef_x0 = math.sqrt(ab_prev) * beta / (1.0 - ab_t)
        coef_xt = math.sqrt(alpha) * (1.0 - ab_prev) / (1.0 - ab_t)
        # 4a. σ² = β' or β̃' = (1−ᾱ_prev)/(1−ᾱ_t) β'; no noise on the last step (z = 0 at t = 1).
        var = beta if variance == "beta" else (1.0 - ab_prev) / (1.0 - ab_t) * beta
        sigma = 0.0 if t_prev < 0 else math.sqrt(var)
    else:
        # 3b. DDIM eq. (16): σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev).
        sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab_t)) * math.sqrt(1.0 - ab_t / ab_prev)
        # 4b. eq. (12): x_prev = √ᾱ_prev x̂_0 + √(1−ᾱ_prev−σ²) ε̂ + σ z, ε̂ = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t).
        # ε̂ is re-derived from x̂_0 rather than taken from the network, so a clipped x̂_0 and
        # its ε̂ stay consistent (as in GLIDE); without clipping the two are equal.
        direction = math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0)) / math.sqrt(1.0 - ab_t)
        coef_x0 = math.sqrt(ab_prev) - direction * math.sqrt(ab_t)
        coef_xt = direction
    return Step(x0_from_xt, x0_from_output, coef_x0, coef_xt, sigma)


def _x0_coefficients(alpha_bar: float, prediction: str) -> tuple[float, float]:
    """(a, b) of x̂_0 = a x_t + b output: eq. (15) of DDPM (ε) or x_0 = √ᾱ x_t − √(1−ᾱ) v."""
    if prediction == "epsilon":
        return 1.0 / math.sqrt(alpha_bar), -math.sqrt(1.0 - alpha_bar) / math.sqrt(alpha_bar)
    return math.sqrt(alpha_bar), -math.sqrt(1.0 - alpha_bar)


def data_prediction(schedule: Schedule, x_t, output, t: int, *, prediction: str, clip: bool) -> np.ndarray:
    """x̂_0 (float64) from x_t and the network output at timestep t, clipped to [−1, 1] if asked."""
    a, b = _x0_coefficients(schedule.alpha_bar(t), prediction)
    x0 = a * np.asarray(x_t, np.float64) + b * np.asarray(output, np.float64)
    return np.clip(x0, -1.0, 1.0) if clip else x0


def apply_step(step: Step, x_t, output, noise, *, clip: bool) -> np.ndarray:
    """x_prev from x_t, the network output and noise z (None when step.sigma is 0); float32."""
    x_t = np.asarray(x_t, np.float64)
    x0 = step.x0_from_xt * x_t + step.x0_from_output * np.asarray(output, np.float64)
    if clip:
        # The data lie in [−1, 1]; clipping x̂_0 there (as Ho et al.'s code does) keeps an
        # early, poor estimate from pushing the sample out of range.
        x0 = np.clip(x0, -1.0, 1.0)
    x_prev = step.coef_x0 * x0 + step.coef_xt * x_t
    if step.sigma > 0:
        if noise is None:
            raise ValueError("this step adds noise (sigma > 0): pass noise z ~ N(0, I).")
        x_prev = x_prev + step.sigma * np.asarray(noise, np.float64)
    return x_prev.astype(np.float32)


def ancestral_step(schedule, x_t, output, t, t_prev, noise, *, prediction, variance, clip) -> np.ndarray:
    """DDPM Algorithm 2, one step: x_{t_prev} from x_t and the network output at t."""
    step = step_coefficients(
        schedule, t, t_prev, sampler="ancestral", prediction=prediction, eta=0.0, variance=variance
    )
    return apply_step(step, x_t, output, noise, clip=clip)


def ddim_step(schedule, x_t, output, t, t_prev, noise, *, prediction, eta, clip) -> np.ndarray:
    """DDIM eq. (12), one step: x_{t_prev} from x_t and the network output at t."""
    step = step_coefficients(schedule, t, t_prev, sampler="ddim", prediction=prediction, eta=eta, variance="beta")
    return apply_step(step, x_t, output, noise, clip=clip)


def guide(conditional, unconditional, scale: float) -> np.ndarray:
    """Classifier-free guidance: out_∅ + w (out_y − out_∅); w = 1 is the conditional output."""
    conditional = np.asarray(conditional, np.float64)
    unconditional = np.asarray(unconditional, np.float64)
    return (unconditional + scale * (conditional - unconditional)).astype(np.float32)


def sample_loop(
    schedule: Schedule,
    predict,
    shape,
    *,
    sequence,
    sampler: str,
    prediction: str,
    eta: float,
    variance: str,
    clip: bool,
    rng: np.random.Generator,
    labels=None,
    null_class: int | None = None,
    guidance_scale: float = 1.0,
    guidance_interval=None,
    progress=None,
) -> np.ndarray:
    """Draw x_T ~ N(0, I) and denoise it along `sequence` (descending timesteps); float32.

    Args:
        predict: `predict(x_t, t, y)` -> network output, with x_t float32 (B, ...),
            t float32 (B,) and y int32 (B,) or None; any framework behind it.
        shape: (N, H, W, C) of the samples.
        sequence: timesteps to visit, e.g. `timestep_sequence(T, 50)`.
        sampler: "ancestral" or "ddim" (one `Step` per timestep), or one of the solvers of
            `genkit.solvers` ("dpmpp_2m", "dpmpp_2m_sde", "euler", "heun"; `eta` and `variance` unused).
        labels: int (N,) class per sample (conditional models), else None.
        null_class: the "no label" class of a guided model; needed when guidance_scale != 1.
        guidance_scale: w of classifier-free guidance; 1 runs the conditional network only.
        guidance_interval: (low, high) timesteps: guide only at low <= t <= high and run the
            conditional network alone elsewhere (Kynkäänniemi et al. 2024); None guides every step.
        progress: optional `progress(done, total)` called after each step.

    The noise comes from `rng` in one fixed order (x_T, then one z per step for the whole
    batch), so a seed gives the same samples however `predict` splits the batch.
    """
    sequence = [int(t) for t in sequence]
    if sorted(set(sequence), reverse=True) != sequence:
        raise ValueError(f"sequence must be strictly decreasing timesteps; got {sequence[:5]}...")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}.")
    guided = labels is not None and guidance_scale != 1.0
    if guided and null_class is None:
        raise ValueError("guidance_scale != 1 needs the model's null_class.")
    n = shape[0]

    def output_at(x, t: int) -> np.ndarray:
        """The network output at timestep t, guided: what every sampler reads."""
        times = np.full(n, t, np.float32)
        x = np.asarray(x, np.float32)
        if not guided or (guidance_interval is not None and not guidance_interval[0] <= t <= guidance_interval[1]):
            return predict(x, times, labels)
        # One network call on [x, x] with [y, ∅]: the same weights give both outputs.
        both = predict(
            np.concatenate([x, x]),
            np.concatenate([times, times]),
            np.concatenate([labels, np.full(n, null_class, np.int32)]),
        )
        return guide(both[:n], both[n:], guidance_scale)

    x = rng.standard_normal(shape).astype(np.float32)  # x_T ~ N(0, I)
    if sampler in SOLVERS:

        def denoise(x_t, t: int) -> np.ndarray:
            return data_prediction(schedule, x_t, output_at(x_t, t), t, prediction=prediction, clip=clip)

        return solve(schedule, denoise, x, sequence, sampler=sampler, rng=rng, progress=progress)
    for i, t in enumerate(sequence):
        t_prev = sequence[i + 1] if i + 1 < len(sequence) else -1
        output = output_at(x, t)
        step = step_coefficients(
            schedule, t, t_prev, sampler=sampler, prediction=prediction, eta=eta, variance=variance
        )
        noise = rng.standard_normal(shape).astype(np.float32) if step.sigma > 0 else None
        x = apply_step(step, x, output, noise, clip=clip)
        if progress is not None:
            progress(i + 1, len(sequence))
    return x
