"""CycleGAN: translate between two domains A and B learned from unpaired images.

Reference: Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017 (eq. 1-3, sections 4 and 5.2); least-squares
adversarial terms: Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017;
history of generated images: Shrivastava et al., CVPR 2017, section 2.3.

Two generators G: A → B (`generator_ab`) and F: B → A (`generator_ba`), and two patch
discriminators D_A (real a vs F(b)) and D_B (real b vs G(a)). With λ = loss.cycle_weight and
λ_id = loss.identity_ratio · λ (all L1 terms are means over pixels):

    L_G = (D_B(G(a)) − 1)² + (D_A(F(b)) − 1)²                              LSGAN, eq. 1 as in §4
        + λ·(|F(G(a)) − a| + |G(F(b)) − b|)                                    cycle consistency, eq. 2
        + λ_id·(|G(b) − b| + |F(a) − a|)                                       identity, §5.2
    L_D_B = ½·(D_B(b) − 1)² + ½·D_B(pool_B(G(a)))²,   L_D_A likewise          LSGAN, halved (§4)

Each train step updates both generators on L_G (one optimizer each), then each
discriminator on the generated images of that step passed through its domain's history
pool (`ImagePool`). Logged: every term, `cycle_error` (the mean of the two cycle terms) and
the four gradient norms; `test_step` reports `loss` = cycle_error on held-out images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.families.cyclegan.card import CARD
from genkit.losses import least_squares_discriminator_loss, least_squares_generator_loss, mean_absolute_error
from genkit.modeling.base import GenerativeModel
from genkit.modeling.image_pool import ImagePool
from genkit.modeling.networks import build_all, build_trunk, check_output_shape
from genkit.modeling.steps import apply_update, compile_per_role, judge_as_one_batch, scaled_loss, track, unpack
from genkit.modeling.translation import check_patch_scores, translation_plan, translation_preview
from genkit.nets.inference import predict_batches

__all__ = ["CycleGAN"]

GENERATORS = {"ab": "generator_ab", "ba": "generator_ba"}  # direction -> the network translating it
DISCRIMINATORS = ("discriminator_a", "discriminator_b")


def cycle_error(terms):
    """The mean of the two cycle terms: how far a round trip lands from where it started."""
    return 0.5 * (terms["cycle_a"] + terms["cycle_b"])


class CycleGAN(GenerativeModel):
    """G: A -> B and F: B -> A with cycle consistency against two least-squares patch discriminators."""

    directions = tuple(GENERATORS)  # what `translate` does: "ab" G(a), "ba" F(b)

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.cycle_weight = float(spec.loss.cycle_weight)
        self.identity_weight = float(spec.loss.identity_ratio) * self.cycle_weight
        built = build_all({role: lambda role=role: self._build(spec, role) for role in CARD.roles})
        for role in CARD.roles:
            setattr(self, role, built[role])
        for role in GENERATORS.values():
            check_output_shape(getattr(self, role), role, data_shape)
        # Non-trainable variables of the model: compiled steps update them, checkpoints keep them.
        self.pool_a = ImagePool(spec.loss.pool_size, data_shape, seed=spec.seed, name="pool_a")
        self.pool_b = ImagePool(spec.loss.pool_size, data_shape, seed=spec.seed + 1, name="pool_b")

    def _build(self, spec, role):
        network = build_trunk(spec, role, self.data_shape, "x", self.data_shape)
        self.trunks[role] = network
        if role in DISCRIMINATORS:
            check_patch_scores(network.output, role)
        return network

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer, one per network (`train.optimizers`)."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, self.networks(), optimizers)

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        a, b = unpack(data)  # images of domains A and B, (B, H, W, C) each, unrelated when unpaired
        # 1. Both generators on one objective: fool the discriminators, close both cycles, keep identities.
        with tf.GradientTape(persistent=True) as tape:
            terms, fake_a, fake_b = self._generator_terms(a, b, training=True)
            g_loss = self._generator_loss(terms)
            scaled = {role: scaled_loss(g_loss, getattr(self, f"{role}_optimizer")) for role in GENERATORS.values()}
        norms = {
            f"{role}_grad_norm": apply_update(
                getattr(self, f"{role}_optimizer"), tape, scaled[role], getattr(self, role)
            )
            for role in GENERATORS.values()
        }
        del tape
        # 2. Each discriminator on real images and on this step's fakes through the history pool.
        d_logs = {}
        for domain, real, fake in (("a", a, fake_a), ("b", b, fake_b)):
            role = f"discriminator_{domain}"
            discriminator, optimizer = getattr(self, role), getattr(self, f"{role}_optimizer")
            shown = getattr(self, f"pool_{domain}").query(tf.stop_gradient(fake))
            with tf.GradientTape() as tape:
                ((real_scores, fake_scores),) = judge_as_one_batch(
                    lambda x, discriminator=discriminator: discriminator(x, training=True), real, shown
                )
                d_loss = least_squares_discriminator_loss(real_scores, fake_scores)
                scaled_d = scaled_loss(d_loss, optimizer)
            d_logs[f"{role}_grad_norm"] = apply_update(optimizer, tape, scaled_d, discriminator)
            d_logs[f"d_{domain}_loss"] = d_loss
        return track(self.trackers, {**terms, "g_loss": g_loss, "cycle_error": cycle_error(terms), **norms, **d_logs})

    def _generator_terms(self, a, b, training):
        """The named terms of L_G, and the translations F(b), G(a)."""
        fake_b = self.generator_ab(a, training=training)  # G(a)
        fake_a = self.generator_ba(b, training=training)  # F(b)
        terms = {
            "adversarial_ab": least_squares_generator_loss(self.discriminator_b(fake_b, training=training)),
            "adversarial_ba": least_squares_generator_loss(self.discriminator_a(fake_a, training=training)),
            "cycle_a": mean_absolute_error(a, self.generator_ba(fake_b, training=training)),  # |F(G(a)) − a|
            "cycle_b": mean_absolute_error(b, self.generator_ab(fake_a, training=training)),  # |G(F(b)) − b|
        }
        if self.identity_weight > 0:
            # G should leave an image that is already in B alone (and F one in A): §5.2.
            terms["identity_b"] = mean_absolute_error(b, self.generator_ab(b, training=training))
            terms["identity_a"] = mean_absolute_error(a, self.generator_ba(a, training=training))
        return terms, fake_a, fake_b

    def _generator_loss(self, terms):
        """L_G from its named terms."""
        loss = (
            terms["adversarial_ab"]
            + terms["adversarial_ba"]
            + self.cycle_weight * (terms["cycle_a"] + terms["cycle_b"])
        )
        if self.identity_weight > 0:
            loss = loss + self.identity_weight * (terms["identity_a"] + terms["identity_b"])
        return loss

    def test_step(self, data):
        a, b = unpack(data)
        terms, fake_a, fake_b = self._generator_terms(a, b, training=False)
        d_a = least_squares_discriminator_loss(
            self.discriminator_a(a, training=False), self.discriminator_a(fake_a, training=False)
        )
        d_b = least_squares_discriminator_loss(
            self.discriminator_b(b, training=False), self.discriminator_b(fake_b, training=False)
        )
        error = cycle_error(terms)
        logs = {
            **terms,
            "loss": error,
            "cycle_error": error,
            "g_loss": self._generator_loss(terms),
            "d_a_loss": d_a,
            "d_b_loss": d_b,
        }
        return track(self.trackers, logs, batch=tf.shape(a)[0])

    def call(self, inputs, training=False):
        """G(a) of a batch of domain-A images (`a` or `(a, b)`)."""
        a, _ = unpack(inputs)
        return self.generator_ab(a, training=training)

    def translate(self, x, direction: str = "ab"):
        """G(x) (direction "ab") or F(x) ("ba") for images `x` (N, H, W, C), NumPy in and out."""
        return predict_batches(getattr(self, GENERATORS[direction]), np.asarray(x, "float32"))

    # -- what the trainer, evaluator, exporter and inspector ask -------------------------
    def networks(self) -> dict:
        return {role: getattr(self, role) for role in CARD.roles}

    def describe(self) -> dict:
        pool = (
            f"judges real images and fakes from a history pool of {self.pool_a.size}"
            if self.pool_a.size
            else "judges real images and this step's fakes"
        )
        return {
            "generator_ab": "G: A -> B",
            "generator_ba": "F: B -> A",
            "discriminator_a": f"{pool} (F(b)); outputs read as least-squares patch scores",
            "discriminator_b": f"{pool} (G(a)); outputs read as least-squares patch scores",
        }

    def preview(self, x_fixed, y_fixed=None):
        """Rows of 8: a, G(a), F(G(a)), then b, F(b), G(F(b)) when B images are given."""
        a = x_fixed[:8]
        fake_b = self.translate(a, "ab")
        rows = [("A", a), ("G(A)", fake_b), ("F(G(A))", self.translate(fake_b, "ba"))]
        if y_fixed is not None:
            b = y_fixed[:8]
            fake_a = self.translate(b, "ba")
            rows += [("B", b), ("F(B)", fake_a), ("G(F(B))", self.translate(fake_a, "ab"))]
        return translation_preview(rows)

    def export_plan(self, x_train, y_train=None):
        outputs = {role: ["y"] for role in GENERATORS.values()}
        outputs.update({role: ["scores"] for role in DISCRIMINATORS})
        return translation_plan(self.networks(), outputs, GENERATORS)
