"""Loss terms shared by several families, as functions of tensors.

Conventions: a term is summed over the features of one example (pixels, latent units)
and averaged over the batch, so its scale does not change with the batch size and the
ELBO terms are in nats per example. Terms are computed in float32 even under mixed
precision, because log/exp of float16 activations underflow.
"""

from __future__ import annotations

import math

from keras import ops

__all__ = [
    "binary_crossentropy_sum",
    "categorical_code_nll",
    "contractive_penalty",
    "discriminator_loss",
    "drift_penalty",
    "feature_matching_loss",
    "gaussian_code_nll",
    "gaussian_log_density",
    "generator_loss",
    "gradient_penalty",
    "js_divergence_lower_bound",
    "kl_decomposition",
    "kl_divergence_normal",
    "kl_divergence_normal_per_unit",
    "kl_sparsity_penalty",
    "l1_sparsity_penalty",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "mean_absolute_error",
    "path_length_penalty",
    "per_example_sum",
    "r1_penalty",
    "reconstruction_loss",
    "squared_error_sum",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
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
    return ops.sum(kl_divergence_normal_per_unit(mean, log_var), axis=-1)


def kl_divergence_normal_per_unit(mean, log_var):
    """KL(N(μ_j, σ_j²) ‖ N(0, 1)) per latent unit, −½ (1 + log σ_j² − μ_j² − σ_j²): same shape as `mean`."""
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    return -0.5 * (1.0 + log_var - ops.square(mean) - ops.exp(log_var))


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


# --------------------------------------------------------------------------- adversarial
# Discriminators output logits l (D(x) = σ(l)); every cross-entropy below is written with
# softplus, the stable form of −log σ(l) = softplus(−l) and −log(1 − σ(l)) = softplus(l).


def _logits(logits):
    return ops.reshape(ops.cast(logits, "float32"), (-1,))


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """½·BCE(D(x), 1 − s) + ½·BCE(D(G(z)), 0), each a batch mean, from logits.

    Goodfellow et al. 2014, eq. 1 (halved, so a discriminator that outputs ½ everywhere
    scores log 2). `label_smoothing` s is one-sided (Salimans et al. 2016, section 3.4):
    only the real target moves to 1 − s.
    """
    real, fake = _logits(real_logits), _logits(fake_logits)
    target = 1.0 - label_smoothing
    # BCE(l, t) = t·softplus(−l) + (1 − t)·softplus(l)
    real_term = ops.mean(target * ops.softplus(-real) + (1.0 - target) * ops.softplus(real))
    return 0.5 * real_term + 0.5 * ops.mean(ops.softplus(fake))


def generator_loss(kind: str, fake_logits):
    """Batch mean of the generator's loss `kind` on the logits l of D(G(z)).

    non_saturating: −log D(G(z)) = softplus(−l) (Goodfellow et al. 2014, section 3);
    minimax: log(1 − D(G(z))) = −softplus(l), the game's own value;
    max_likelihood: −exp(l) = −exp(σ⁻¹(D(G(z)))) (Goodfellow 2014, "On distinguishability
    criteria for estimating generative models"), whose expected gradient is that of
    KL(p_data ‖ p_model) when D is optimal.
    """
    logits = _logits(fake_logits)
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-logits))
    if kind == "minimax":
        return -ops.mean(ops.softplus(logits))
    if kind == "max_likelihood":
        return -ops.mean(ops.exp(logits))
    raise ValueError(f"unknown generator loss {kind!r}; expected non_saturating, minimax or max_likelihood")


def js_divergence_lower_bound(real_logits, fake_logits):
    """log 2 − ½·BCE(D(x), 1) − ½·BCE(D(G(z)), 0): a lower bound on JSD(p_data ‖ p_model).

    For any discriminator, E log D(x) + E log(1 − D(G(z))) ≤ −log 4 + 2·JSD (Goodfellow et
    al. 2014, Theorem 1), with equality at the optimal D. At most log 2; lower means the
    discriminator separates real from generated images less well.
    """
    return ops.log(2.0) - discriminator_loss(real_logits, fake_logits)


def feature_matching_loss(real_features, fake_features):
    """‖mean f(x) − mean f(G(z))‖², the batch means of features f summed over units.

    Salimans et al. 2016, section 3.1: the generator matches the expected value of an
    intermediate discriminator layer on real data.
    """
    real = ops.cast(real_features, "float32")
    fake = ops.cast(fake_features, "float32")
    real = ops.mean(ops.reshape(real, (ops.shape(real)[0], -1)), axis=0)
    fake = ops.mean(ops.reshape(fake, (ops.shape(fake)[0], -1)), axis=0)
    return ops.sum(ops.square(real - fake))


def least_squares_discriminator_loss(real_scores, fake_scores):
    """½·E[(D(x) − 1)²] + ½·E[D(G(z))²], means over the batch and every patch score.

    LSGAN (Mao et al. 2017, eq. 2 with a = 0, b = 1): least squares instead of cross-entropy
    keep pulling generated samples that D already calls fake toward the decision boundary, so
    the generator's gradients do not vanish. Halved as Zhu et al. halve D's objective in CycleGAN.
    """
    real, fake = _logits(real_scores), _logits(fake_scores)
    return 0.5 * ops.mean(ops.square(real - 1.0)) + 0.5 * ops.mean(ops.square(fake))


def least_squares_generator_loss(fake_scores):
    """E[(D(G(z)) − 1)²] (mean over the batch and every patch): LSGAN's generator term (Mao et al. 2017, eq. 2, c = 1)."""
    return ops.mean(ops.square(_logits(fake_scores) - 1.0))


def mean_absolute_error(target, output):
    """Mean |t − x̂| over every pixel of the batch: the L1 terms of pix2pix and CycleGAN.

    A per-pixel mean, not this module's per-example sum, because the weights these terms come
    with (λ = 100 in Isola et al. 2017, λ = 10 in Zhu et al. 2017) were tuned for the mean.
    """
    return ops.mean(ops.abs(ops.cast(target, "float32") - ops.cast(output, "float32")))


def wasserstein_critic_loss(real_scores, fake_scores):
    """E[D(G(z))] − E[D(x)] (batch means): the critic maximises the Wasserstein estimate.

    Arjovsky et al. 2017, Algorithm 1; its negative, E[D(x)] − E[D(G(z))], estimates
    W(p_data, p_model) up to the critic's Lipschitz constant.
    """
    return ops.mean(_logits(fake_scores)) - ops.mean(_logits(real_scores))


def wasserstein_generator_loss(fake_scores):
    """−E[D(G(z))] (batch mean), Arjovsky et al. 2017, Algorithm 1."""
    return -ops.mean(_logits(fake_scores))


def drift_penalty(real_scores):
    """E[D(x)²] (batch mean of the squared real scores): the drift term of Karras et al. 2018, appendix A.1.

    The Wasserstein loss fixes only differences of scores, so a critic's outputs may drift far
    from zero together; this small pull (the caller's weight, ε_drift = 0.001) keeps them near it.
    """
    return ops.mean(ops.square(_logits(real_scores)))


def gradient_penalty(critic, real, fake, epsilon=None):
    """Batch mean of (‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = ε·x + (1 − ε)·G(z), ε ~ U[0, 1] per example.

    Gulrajani et al. 2017, Algorithm 1 (the λ weight is the caller's). `critic` maps a batch
    of images to scores; `epsilon` (B,) fixes the interpolation (tests), else it is drawn.
    The gradient is taken inside a tape, so the penalty itself is differentiable with respect
    to the critic's weights (a second-order gradient).
    """
    import tensorflow as tf

    real = tf.cast(real, "float32")
    fake = tf.cast(fake, "float32")
    batch = tf.shape(real)[0]
    if epsilon is None:
        epsilon = tf.random.uniform((batch,), 0.0, 1.0)
    epsilon = tf.reshape(tf.cast(epsilon, "float32"), tf.concat([[batch], tf.ones(tf.rank(real) - 1, tf.int32)], 0))
    mixed = epsilon * real + (1.0 - epsilon) * fake  # (B, H, W, C)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.reduce_sum(tf.cast(critic(mixed), "float32"))  # examples are independent: ∂Σ/∂x̂_i = ∂D(x̂_i)/∂x̂_i
    grads = tf.reshape(tape.gradient(scores, mixed), (batch, -1))
    # The epsilon keeps the norm's own gradient finite where a gradient is exactly zero.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(discriminator, real, scale=1.0):
    """Batch mean of ‖∇_x D(x)‖² on real images: R1 (Mescheder et al. 2018, eq. 9) without its γ/2.

    Penalising the discriminator's gradient on the data alone keeps it from pushing the
    generator off the data manifold once they meet; StyleGAN's only discriminator
    regulariser. `discriminator` maps a batch of images to logits. Differentiable with
    respect to the discriminator's weights (a second-order gradient). `scale`: the mixed-precision
    loss scale (`optimizer.scale_loss(1.0)`): under mixed_float16 ∇_x D is backpropagated in
    float16, where a smooth discriminator's small input gradients would round to zero; the
    scores are multiplied by it and the gradients divided back, as Keras scales the loss.
    """
    import tensorflow as tf

    real = tf.cast(real, "float32")
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = tf.reduce_sum(tf.cast(discriminator(real), "float32"))  # ∂Σ/∂x_i = ∂D(x_i)/∂x_i
        scaled = scores * scale  # backpropagated in float16 under mixed precision: keep it off zero
    grads = tf.reshape(tape.gradient(scaled, real) / scale, (tf.shape(real)[0], -1))
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=1))


def path_length_penalty(synthesize, ws, directions, mean_length, decay: float):
    """(penalty, updated a): StyleGAN2's path-length regulariser E[(‖J_wᵀ y‖₂ − a)²] (Karras et al. 2020, eq. 4).

    `synthesize` maps styles `ws` (B, num_ws, w_dim) to images (B, H, W, C); `directions`
    (B, H, W, C) ~ N(0, I) are the random image-space directions y, scaled here by 1/sqrt(H·W)
    so the lengths do not grow with the resolution. An example's length is ‖J_wᵀ y‖₂ over its
    styles, averaged over the num_ws styles as in the official code: sqrt(mean_i Σ_j g_ij²).
    `mean_length` is a, the running mean of the lengths, moved by `decay` towards this batch's
    mean; the caller stores the returned value. The penalty is the batch mean of (length − a)²,
    differentiable with respect to the networks behind `ws` and `synthesize`.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(ws)
        images = tf.cast(synthesize(ws), "float32")
        pixels = tf.cast(tf.shape(images)[1] * tf.shape(images)[2], "float32")
        projected = tf.reduce_sum(images * tf.cast(directions, "float32")) / tf.sqrt(pixels)
    grads = tf.cast(tape.gradient(projected, ws), "float32")  # J_wᵀ y per example: (B, num_ws, w_dim)
    # The 1e-8 keeps the root's own gradient finite where a length is exactly zero.
    lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1) + 1e-8)  # (B,)
    updated = tf.stop_gradient(mean_length + decay * (tf.reduce_mean(lengths) - mean_length))
    return tf.reduce_mean(tf.square(lengths - updated)), updated


# --------------------------------------------------------------------------- information
# InfoGAN (Chen et al. 2016, eq. 4-5): for codes c ~ P(c) and x = G(z, c), any Q(c|x) gives
#   I(c; G(z, c)) >= L_I = E[log Q(c|x)] + H(c),
# so both players minimise −E[log Q(c|x)], the negative log-likelihoods below (H(c) is constant).


def categorical_code_nll(codes, logits):
    """Batch mean of −log Q(c|x) for a categorical code: the softmax cross-entropy of its values.

    `codes` (B,) holds the drawn values as integers in [0, K), `logits` (B, K) are Q's scores.
    With uniform codes H(c) = log K, so log K minus this is the lower bound L_I in nats.
    """
    logits = ops.cast(logits, "float32")
    onehot = ops.one_hot(ops.cast(ops.reshape(codes, (-1,)), "int32"), ops.shape(logits)[-1])
    return -ops.mean(ops.sum(onehot * ops.log_softmax(logits, axis=-1), axis=-1))


def gaussian_code_nll(codes, mean, log_std=None):
    """Batch mean of −log N(c; μ, σ²) for continuous codes, summed over their units.

    −log N = ½((c − μ)/σ)² + log σ + ½ log 2π per unit; `log_std` None fixes σ = 1, which
    leaves ½(c − μ)² plus a constant (the InfoGAN authors' MNIST setting). `codes`, `mean`
    and `log_std` have the same shape (B, units).
    """
    codes, mean = ops.cast(codes, "float32"), ops.cast(mean, "float32")
    log_std = ops.zeros_like(mean) if log_std is None else ops.cast(log_std, "float32")
    scaled = (codes - mean) * ops.exp(-log_std)
    nll = 0.5 * ops.square(scaled) + log_std + 0.5 * math.log(2.0 * math.pi)
    return ops.mean(per_example_sum(nll))


# --------------------------------------------------------------------------- disentanglement
# β-TCVAE (Chen et al. 2018, eq. 2): averaged over the data, the VAE's KL term splits into
#   E_p(n) KL(q(z|n) ‖ p(z)) = I_q(z; n) + KL(q(z) ‖ Π_j q(z_j)) + Σ_j KL(q(z_j) ‖ p(z_j)),
# index-code mutual information, total correlation and dimension-wise KL. The aggregate posterior
# q(z) = (1/N) Σ_n q(z|n) is a sum over the whole training set; minibatch-weighted sampling
# estimates it from one batch.


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, exp(log_var)) per element (no reduction; the arguments broadcast)."""
    z, mean, log_var = (ops.cast(v, "float32") for v in (z, mean, log_var))
    return -0.5 * (math.log(2.0 * math.pi) + log_var + ops.square(z - mean) * ops.exp(-log_var))


def kl_decomposition(z, mean, log_var):
    """(mutual_information, total_correlation, dimension_wise_kl): batch estimates of eq. 2's terms, in nats.

    `z` (M, D) holds one draw z_i ~ q(z | x_i) per example of the batch, whose posteriors are
    N(`mean`, exp(`log_var`)). Minibatch-weighted sampling (Chen et al. 2018) estimates the
    aggregate densities at each z_i from the batch's own posteriors, every example weighted alike:

        log q(z_i)   ≈ log Σ_k q(z_i | x_k) − log M
        log q(z_ij)  ≈ log Σ_k q(z_ij | x_k) − log M        (dimension j alone)

    and the terms are batch means of log q(z_i|x_i) − log q(z_i) (mutual information),
    log q(z_i) − Σ_j log q(z_ij) (total correlation) and Σ_j log q(z_ij) − log p(z_i)
    (dimension-wise KL); they sum to the one-draw estimate of the KL.

    The paper writes the normaliser as log(N·M) for N training images: that estimates q(z)/N,
    not q(z), which moves every term by a multiple of log N (the total correlation by
    (D − 1)·log N, about 89 nats for 10 dimensions and N = 19,000) and no gradient. The batch
    mean here needs no N, and a collapsed code (every posterior N(0, I)) scores exactly 0 on all
    three. The estimate is biased for small M (the mutual information cannot exceed log M), so
    it is a training signal; the total correlation can come out slightly negative.
    """
    z, mean, log_var = (ops.cast(v, "float32") for v in (z, mean, log_var))
    log_m = ops.log(ops.cast(ops.shape(z)[0], "float32"))
    # log q(z_ij | x_k) for every pair of examples i, k and dimension j: (M, M, D)
    pairs = gaussian_log_density(z[:, None, :], mean[None, :, :], log_var[None, :, :])
    log_q_z = ops.logsumexp(ops.sum(pairs, axis=2), axis=1) - log_m  # (M,)
    log_q_marginals = ops.sum(ops.logsumexp(pairs, axis=1) - log_m, axis=1)  # (M,): Σ_j log q(z_ij)
    log_q_z_given_x = ops.sum(gaussian_log_density(z, mean, log_var), axis=1)  # (M,)
    log_p_z = ops.sum(gaussian_log_density(z, 0.0, 0.0), axis=1)  # (M,): N(0, I)
    return (
        ops.mean(log_q_z_given_x - log_q_z),
        ops.mean(log_q_z - log_q_marginals),
        ops.mean(log_q_marginals - log_p_z),
    )
