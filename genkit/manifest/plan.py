"""`ExportPlan`: what a family hands the exporter — the networks and the typed manifest facts about them."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from genkit.manifest.facts import CodesFacts, EncodingFacts, SamplingFacts, StyleFacts, TranslationFacts

__all__ = ["ExportPlan"]


class ExportPlan(BaseModel):
    """What a family offers the exporter: networks by name and the manifest facts about them.

    `networks` holds the Keras networks themselves; everything else is what `manifest.json`
    says of them. `input_ranges` gives, per network and input, the (low, high) of values for
    the export's parity batch beyond the data's images and labels (a denoiser's timesteps).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    networks: dict[str, Any] = Field(..., description="name -> keras.Model to export.")
    outputs: dict[str, list[str]] = Field(..., description="name -> the network's output names, in order.")
    latent_dim: Optional[int] = None
    prior: Optional[dict] = Field(None, description="{'kind': 'standard_normal'}, 'normal' (std), 'uniform' (low, high), a fitted 'gaussian' (mean, scale_tril) or 'mixture' (weights, means, scale_trils).")
    sampling: Optional[SamplingFacts] = None
    encoding: Optional[EncodingFacts] = None
    diffusion: Optional[dict] = Field(None, description="Diffusion exports: the keys DIFFUSION_KEYS and more.")
    translation: Optional[dict[Literal["ab", "ba"], TranslationFacts]] = None
    codes: CodesFacts | None = Field(None, description="InfoGAN: the latent codes' slices of the generator's input and their recognition network.")
    style: StyleFacts | None = Field(None, description="Style-based generators: mapping and synthesis networks, w_avg, noise inputs.")
    latent_kl: list[float] | None = Field(None, description="VAEs: each latent dimension's mean KL(q(z_j|x) ‖ N(0, 1)) over a spread sample of the training images, nats.")
    input_ranges: dict[str, dict[str, tuple[float, float]]] = Field(default_factory=dict)

    def facts(self, chosen) -> dict:
        """The manifest's facts for the exported subset `chosen` of the networks.

        A section whose network is not exported is dropped: the runtime cannot do it.
        """
        def kept(section):
            if section is None or section.network not in chosen:
                return None
            # The inputs this kind of sampling has; label_input stays, null for an unconditional model.
            return {k: v for k, v in section.model_dump().items() if v is not None or k == "label_input"}

        translation = {d: t.model_dump() for d, t in (self.translation or {}).items() if t.network in chosen}
        facts = {
            "latent_dim": self.latent_dim,
            "prior": self.prior,
            "sampling": kept(self.sampling),
            "encoding": kept(self.encoding),
            "networks": {n: {"outputs": list(self.outputs[n])} for n in chosen},
        }
        if self.diffusion is not None:
            facts["diffusion"] = self.diffusion
        if self.translation is not None:
            facts["translation"] = translation or None
        if self.codes is not None:
            # The slices describe the generator's input; the recognition network goes only with its file.
            recognition = self.codes.recognition if self.codes.recognition and self.codes.recognition.network in chosen else None
            facts["codes"] = self.codes.model_copy(update={"recognition": recognition}).model_dump(exclude_none=True)
        if self.latent_kl is not None:
            facts["latent_kl"] = list(self.latent_kl)
        if self.style is not None:
            # A style export samples through mapping and synthesis both: without either it cannot sample.
            whole = {self.style.mapping, self.style.synthesis} <= set(chosen)
            facts["style"] = self.style.model_dump() if whole else None
            facts["sampling"] = facts["sampling"] if whole else None
        return facts
