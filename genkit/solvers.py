"""Few-step solvers for diffusion sampling: DPM-Solver++(2M), its SDE form, Euler and Heun, in NumPy.

`genkit.schedules.sample_loop` hands these samplers a `denoise(x_t, t) -> x̂_0` callback (the
network output after guidance, turned into a data prediction and clipped if asked) and the
descending timesteps to visit; they integrate the probability-flow ODE of the VP diffusion
x_t = α_t x_0 + σ_t ε, α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), from pure noise down to clean data. The
ODE solvers are deterministic (the only noise is x_T); dpmpp_2m_sde adds fresh noise each step, as
stochastic DDIM (η = 1) does, which small, briefly trained models sample better with. Why here and not in `schedules`: that module
holds the schedule and the one-network-call updates (ancestral, DDIM); these solvers keep
state between calls (multistep history, Heun's predictor) and are the variants STYLE asks
to keep apart.

- DPM-Solver++(2M) (Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver++: Fast Solver for Guided
  Sampling of Diffusion Probabilistic Models", 2022, arXiv:2211.01095, Algorithm 2), in the
  half log-SNR λ_t = log(α_t / σ_t), h_i = λ_{t_i} − λ_{t_{i−1}}, D_i = x̂_0 at t_i:

      x_{t_i} = (σ_{t_i} / σ_{t_{i−1}}) x_{t_{i−1}} − α_{t_i} (e^{−h_i} − 1) D,
      D = D_{i−1} (first step),  D = (1 + 1/(2 r_i)) D_{i−1} − 1/(2 r_i) D_{i−2},  r_i = h_{i−1} / h_i.

  The first step is first order (no history yet; it is DDIM with η = 0), and so is the last
  one, to clean data: there σ = 0, λ = ∞ and the update is x_0 = D (diffusers calls this
  `lower_order_final`; the second-order weight 1/(2r) would be 1/0 there).
- SDE-DPM-Solver++(2M) (Lu et al. 2022, section 4 and appendix: the data-prediction solver of the
  reverse SDE; diffusers' `sde-dpmsolver++` with the midpoint rule), with the same D and z ~ N(0, I):

      x_{t_i} = (σ_{t_i} / σ_{t_{i−1}}) e^{−h_i} x_{t_{i−1}} + α_{t_i} (1 − e^{−2h_i}) D + σ_{t_i} √(1 − e^{−2h_i}) z.

  Its first-order step is exactly DDPM's posterior q(x_t | x_s, x̂_0): DDIM with η = 1 on the same
  timesteps (e^{−h} = σ_t α_s / (α_t σ_s) makes the three coefficients those of eqs. (6)-(7) of Ho
  et al.); the tests hold the two equal. Noise is drawn once a step, for the whole batch, after x_T.
- Euler and Heun (Karras, Aittala, Aila & Laine, "Elucidating the Design Space of
  Diffusion-Based Generative Models", NeurIPS 2022, Algorithm 1 without churn) in the VE
  variables σ̃_t = σ_t / α_t = √((1 − ᾱ_t) / ᾱ_t) and x̃ = x_t / α_t = x_t √(1 + σ̃²), where
  the ODE reads dx̃/dσ̃ = (x̃ − D(x̃; σ̃)) / σ̃:

      d_i = (x̃_i − D_i) / σ̃_i,     Euler:  x̃_{i+1} = x̃_i + (σ̃_{i+1} − σ̃_i) d_i,
      Heun:  d' = (x̃_{i+1} − D(x̃_{i+1}; σ̃_{i+1})) / σ̃_{i+1},  x̃_{i+1} = x̃_i + (σ̃_{i+1} − σ̃_i)(d_i + d')/2,

  with Heun's correction skipped on the last step (σ̃_{i+1} = 0). On the same timesteps
  Euler is exactly DDIM with η = 0 (x̃_{i+1} = D_i + σ̃_{i+1} d_i; Song et al. 2021, eq. 14):
  it is here in Karras's form as the first-order member of the pair, and the tests hold the
  two equal. Heun calls the network twice a step except the last (2·steps − 1 calls).

Timesteps: every solver takes the sequence it is given (`timestep_sequence`: evenly spaced
integer timesteps, both ends included, as DDIM uses), so "steps" means the same network
inputs for every sampler, the network only ever sees the integer timesteps it was trained
on, and a row of the quality table differs from another by the update alone.

Example:
    x = solve(schedule, denoise, x_T, timestep_sequence(1000, 15), sampler="dpmpp_2m")
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SOLVERS", "network_calls", "solve"]

SOLVERS = ("dpmpp_2m", "dpmpp_2m_sde", "euler", "heun")


def network_calls(sampler: str, steps: int) -> int:
    """Denoiser evaluations (NFE) of `steps` steps: Heun corrects every step but the last."""
    return 2 * steps - 1 if sampler == "heun" else steps


def solve(schedule, denoise, x, sequence, *, sampler: str, rng=None, progress=None) -> np.ndarray:
    """Integrate from x at sequence[0] down to clean data along `sequence`; float32.

    Args:
        schedule: a `genkit.schedules.Schedule` (only `alpha_bar(t)` is used; ᾱ_{−1} = 1).
        denoise: `denoise(x_t, t) -> x̂_0`, float64 arrays of x's shape, t an integer timestep.
        x: the starting sample x_T, e.g. N(0, I).
        sequence: strictly decreasing integer timesteps; the step after the last lands on t = −1.
        sampler: one of SOLVERS.
        rng: dpmpp_2m_sde: the `np.random.Generator` of each step's noise.
        progress: optional `progress(done, total)` after each step.
    """
    if sampler not in SOLVERS:
        raise ValueError(f"sampler must be one of {', '.join(SOLVERS)}; got {sampler!r}.")
    if sampler == "dpmpp_2m_sde" and rng is None:
        raise ValueError("dpmpp_2m_sde draws noise every step: pass rng.")
    step = {"dpmpp_2m": _dpmpp_2m, "dpmpp_2m_sde": _dpmpp_2m_sde}.get(sampler, _karras)
    x = np.asarray(x, np.float64)
    state: dict = {"heun": sampler == "heun", "rng": rng}
    for i, t in enumerate(sequence):
        t_next = int(sequence[i + 1]) if i + 1 < len(sequence) else -1
        x = step(schedule, denoise, x, int(t), t_next, state)
        if progress is not None:
            progress(i + 1, len(sequence))
    return x.astype(np.float32)


def _alpha_sigma(schedule, t: int) -> tuple[float, float]:
    """(α_t, σ_t) = (√ᾱ_t, √(1 − ᾱ_t)) in float64; (1, 0) at t = −1."""
    alpha_bar = schedule.alpha_bar(t)
    return math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar)


def _dpmpp_2m(schedule, denoise, x, t: int, t_next: int, state: dict) -> np.ndarray:
    """One step of Lu et al. 2022, Algorithm 2; `state` keeps D_{i−1} and h_{i−1}."""
    d = denoise(x, t)
    if t_next < 0:
        return d  # σ = 0: the first-order update is x_0 = D (see the module docstring)
    (alpha, sigma), (alpha_next, sigma_next) = _alpha_sigma(schedule, t), _alpha_sigma(schedule, t_next)
    h = math.log(alpha_next / sigma_next) - math.log(alpha / sigma)
    blend = _second_order(d, h, state)
    # −expm1(−h) = 1 − e^{−h}, exact for small h where 1 − e^{−h} would lose digits.
    return (sigma_next / sigma) * x - alpha_next * math.expm1(-h) * blend


def _dpmpp_2m_sde(schedule, denoise, x, t: int, t_next: int, state: dict) -> np.ndarray:
    """One step of SDE-DPM-Solver++(2M) (module docstring); `state` keeps D_{i−1}, h_{i−1} and the rng."""
    d = denoise(x, t)
    if t_next < 0:
        return d  # σ = 0: no noise is left to add, x_0 = D
    (alpha, sigma), (alpha_next, sigma_next) = _alpha_sigma(schedule, t), _alpha_sigma(schedule, t_next)
    h = math.log(alpha_next / sigma_next) - math.log(alpha / sigma)
    blend = _second_order(d, h, state)
    kept = -math.expm1(-2.0 * h)  # 1 − e^{−2h}
    # Drawn in float32 as sample_loop draws its noise, then widened: float32 · a Python float stays float32.
    z = state["rng"].standard_normal(x.shape).astype(np.float32).astype(np.float64)
    return (sigma_next / sigma) * math.exp(-h) * x + alpha_next * kept * blend + sigma_next * math.sqrt(kept) * z


def _second_order(d, h: float, state: dict):
    """D of the 2M update: D_{i−1} on the first step, then (1 + 1/(2r)) D_{i−1} − 1/(2r) D_{i−2}."""
    if "previous" in state:
        d_previous, h_previous = state["previous"]
        half_r = 0.5 * h / h_previous  # 1 / (2 r_i)
        blend = (1.0 + half_r) * d - half_r * d_previous
    else:
        blend = d
    state["previous"] = (d, h)
    return blend


def _karras(schedule, denoise, x, t: int, t_next: int, state: dict) -> np.ndarray:
    """One Euler or Heun step of Karras et al. 2022, Algorithm 1, in σ̃ = σ/α; x stays VP between steps."""
    (alpha, sigma), (alpha_next, sigma_next) = _alpha_sigma(schedule, t), _alpha_sigma(schedule, t_next)
    ve_sigma, ve_sigma_next = sigma / alpha, sigma_next / alpha_next
    x_ve = x / alpha  # x̃ = x_t √(1 + σ̃²)
    slope = (x_ve - denoise(x, t)) / ve_sigma  # d_i = ε̂
    x_ve_next = x_ve + (ve_sigma_next - ve_sigma) * slope
    if state["heun"] and t_next >= 0:
        # The network reads VP inputs: x_{t_next} = α_next x̃_{i+1}.
        slope_next = (x_ve_next - denoise(alpha_next * x_ve_next, t_next)) / ve_sigma_next
        x_ve_next = x_ve + (ve_sigma_next - ve_sigma) * 0.5 * (slope + slope_next)
    return alpha_next * x_ve_next
