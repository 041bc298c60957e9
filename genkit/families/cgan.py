"""Conditional GAN: the GAN with a class label given to both players; sample by class.

Reference: Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014; projection
discriminator: Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018, eq. (3).

The generator reads [z, e_G(y)] (the label one-hot or a learned embedding,
`model.condition.encoding`, joined to z). The discriminator is told the label in one of two
ways (`loss.discriminator_conditioning`):

    input       D(x, y) = trunk([x, e_D(y)])  with e_D(y) tiled over the image as channels
    projection  l(x, y) = ψ(φ(x)) + ⟨V_y, φ(x)⟩  with φ(x) the input of the trunk's final
                Dense(1) layer ψ and V a learned class embedding of φ's size

Same objective and train step as `GAN`, which passes the labels through; fakes are drawn
with the real sub-batch's labels, so both sides of D see the same class mix.
"""

from __future__ import annotations

import keras

from genkit.errors import Problem, SpecError
from genkit.families.adversarial import check_one_score
from genkit.families.base import build_trunk, register_family
from genkit.families.gan import GAN, trunk_with_features
from genkit.nets import ConcatCondition, LabelEmbedding

__all__ = ["CGAN"]


@register_family("cgan")
class CGAN(GAN):
    conditional = True

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.discriminator_conditioning = spec.loss.discriminator_conditioning

    def _discriminator_input(self):
        x = keras.Input(self.data_shape, name="x")
        y = keras.Input((), dtype="int32", name="y")
        return [x, y], ConcatCondition(name="x_with_label")([x, self.label_vector(y, "discriminator_label")])

    def _build_opponent(self, spec):
        if spec.loss.discriminator_conditioning == "input":
            return super()._build_opponent(spec)
        x = keras.Input(self.data_shape, name="x")
        y = keras.Input((), dtype="int32", name="y")
        trunk = build_trunk(spec, "discriminator", self.data_shape, "x", self.data_shape)
        self.trunks["discriminator"] = trunk
        check_one_score(trunk.output, "discriminator")
        head = trunk.layers[-1]
        if not isinstance(head, keras.layers.Dense) or len(head.input.shape) != 2:
            raise SpecError(
                [
                    Problem(
                        ("model", "networks", "discriminator"),
                        f"ends in {type(head).__name__} on shape {list(head.input.shape[1:])}; the projection "
                        "discriminator needs a final 'Dense: {units: 1}' on a feature vector phi(x).",
                        "End the discriminator with Flatten (or a Dense layer) and then 'Dense: {units: 1}'.",
                    )
                ]
            )
        # One view of the trunk giving ψ(φ(x)) and φ(x) (and f(x) for feature matching).
        outputs = [trunk.output, head.input]
        fm = spec.loss.feature_matching
        if fm is not None:
            outputs.append(trunk_with_features(trunk, fm.layer).outputs[1])
        psi, phi, *features = keras.Model(trunk.input, outputs, name="discriminator_with_phi")(x)
        embedded = LabelEmbedding(
            self.condition.num_classes, encoding="embedding", embedding_dim=phi.shape[-1], name="class_projection"
        )(y)  # V_y, (B, dim φ)
        logit = keras.layers.Add(name="logit")([psi, keras.layers.Dot(axes=1, name="projection")([embedded, phi])])
        self.discriminator_features = keras.Model([x, y], [logit, features[0]], name="discriminator_features") if fm else None
        return keras.Model([x, y], logit, name="discriminator")

    def additions(self) -> dict:
        added = dict(super().additions())
        if self.discriminator_conditioning == "input":
            label = f"label ({self.condition.encoding}) tiled over the image as input channels"
        else:
            label = "projection logit += <V_y, phi(x)> (phi: input of the final Dense; V learned)"
        added["discriminator"] = f"{label}; {added['discriminator']}"
        return added
