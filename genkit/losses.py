"""Loss terms shared by several families, as functions of tensors.

Conventions: a term is summed over the features of one example (pixels, latent units)
and averaged over the batch, so its scale does not change with the batch size and the
ELBO terms are in nats per example. Terms are computed in float32 even under mixed
precision, because log/exp of float16 activations underflow.
"""

from __future__ import annotations

from keras import ops

__all__ = [
    "binary_crossentropy_sum",
    "contractive_penalty",
    "kl_divergence_normal",
    "kl_sparsity_penalty",
    "l1_sparsity_penalty",
    "per_example_sum",
    "reconstruction_loss",
    "squared_error_sum",
]

_EPS = 1e-7


def per_example_sum(values):
    """Sum every axis but the batch axis: (B, ...) -> (B,)."""
    values = ops.reshape(values, (ops.shape(values)[0], -1))
    return ops.sum(values, axis=1)


def binary_crossentropy_sum(target, output):
    """-Σ [t·log p + (1−t)·log(1−p)] per example, (B,). `output` holds probabilities."""
    target = ops.cast(target, "float32")
    output = ops.clip(ops.cast(output, "float32"), _EPS, 1.0 - _EPS)
    return per_example_sum(-(target * ops.log(output) + (1.0 - target) * ops.log(1.0 - output)))


def squared_error_sum(target, output):
    """Σ (t − x̂)² per example, (B,)."""
    diff = ops.cast(target, "float32") - ops.cast(output, "float32")
    return per_example_sum(ops.square(diff))


_RECONSTRUCTION = {"bce": binary_crossentropy_sum, "mse": squared_error_sum}


def reconstruction_loss(kind: str, target, output):
    """Batch mean of the per-example reconstruction term named `kind` ('bce' or 'mse')."""
    return ops.mean(_RECONSTRUCTION[kind](target, output))


def kl_divergence_normal(mean, log_var):
    """KL(N(mean, exp(log_var)) ‖ N(0, I)) per example, (B,).

    Closed form (Kingma & Welling 2014, appendix B): −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).
    """
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def kl_sparsity_penalty(activations, target: float):
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch-mean activation of unit j (Ng, "Sparse autoencoder").

    KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1−ρ) log((1−ρ)/(1−ρ̂)). Activations must lie in [0, 1]
    (sigmoid units); ρ̂ is clipped away from 0 and 1 so the logs stay finite.
    """
    flat = ops.reshape(ops.cast(activations, "float32"), (ops.shape(activations)[0], -1))
    rho_hat = ops.clip(ops.mean(flat, axis=0), _EPS, 1.0 - _EPS)
    rho = target
    return ops.sum(rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)))


def l1_sparsity_penalty(activations):
    """Batch mean of Σ_j |h_j|: the L1 alternative to the KL sparsity penalty."""
    return ops.mean(per_example_sum(ops.abs(ops.cast(activations, "float32"))))


def contractive_penalty(jacobian):
    """Batch mean of ‖J‖²_F for per-example Jacobians J = ∂f(x)/∂x of shape (B, ...)."""
    return ops.mean(per_example_sum(ops.square(ops.cast(jacobian, "float32"))))
