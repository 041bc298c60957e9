"""Family cards: what a family is, declared once, without TensorFlow.

A family is one folder, `genkit/families/<name>/`, holding two files:

- `card.py` defines `CARD = FamilyCard(...)`: the family's name, the network roles it needs
  from the spec, its loss section, how its networks are optimised, its cross-field rules, its
  starter spec and what its export can do. Everything that checks, documents or dispatches on
  a family reads the card: the schema and its rules, `genkit new`, `genkit schema`,
  `genkit layers --family`, `docs/spec.md`, the trainer and the contract test.
- `model.py` holds the `keras.Model` with `train_step` (the card names it by import path, so
  reading a card never imports TensorFlow).

Cards are found by looking into `genkit.families` for sub-packages with a `card` module, so
adding a family edits no table anywhere else. Like Ludwig's name -> config -> implementation
registries, the schema side depends on the declarations, never on the implementation.

The model a card names is constructed as `Model(spec, data_shape, num_classes, steps_per_epoch)`
and offers (see docs/adding-a-family.md):

    train_step(data) / test_step(data)    the objective, logging the card's `logs`
    networks()       role -> the full network as trained (weights copied for float32 exports)
    describe()       role -> one line on what the family adds around the user's network
    preview(x, y)    (images, columns, row labels or None): the per-epoch grid
    export_plan(x_train, y_train) -> genkit.manifest.ExportPlan
    trunks           role -> the user's network as built from the spec (`genkit inspect -v`)
    and, as the card's `export.sampling` says: sample(n, labels, seed) | translate(x, direction)
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Callable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from genkit.errors import GenkitError

__all__ = ["ExportCard", "FamilyCard", "Monitor", "card", "cards", "family_names"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Monitor(_Frozen):
    """The adversarial monitor the trainer attaches (warnings on collapse and on a winning opponent)."""

    fake_probability: bool = Field(
        True, description="The opponent outputs a logit, so D(G(z)) is a probability worth watching (not a critic)."
    )
    remedies: str = Field(..., description="What the collapse warning suggests.")


class ExportCard(_Frozen):
    """What an export of the family contains and what sampling it needs."""

    networks: tuple[str, ...] = Field(..., description="Networks an export offers (export.onnx.networks picks among them).")
    on_request: Optional[str] = Field(
        None,
        description="A regular expression of further networks export.onnx.networks may name, exported only when "
        "named (ProGAN's stage generators generator_8x8, ...); the family's own rules check them against the spec.",
    )
    sampling: Literal["prior", "diffusion", "translation", "none"] = Field(
        ...,
        description="prior: decode z drawn from a prior (VAE decoder, GAN generator, autoencoder with a fitted "
        "Gaussian); diffusion: a denoising loop; translation: images in, images out; none: nothing to sample.",
    )


class FamilyCard(_Frozen):
    """One family, declared: every fact about it that is not its mathematics."""

    name: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$", description="The `model.family` value.")
    summary: str = Field(..., description="One sentence: what it is (starter specs and docs open with it).")
    reference: str = Field(..., description="The paper(s).")
    model: str = Field(..., pattern=r"^[\w.]+:\w+$", description="'module:Class' of the keras.Model, imported only to build.")
    roles: tuple[str, ...] = Field(..., min_length=1, description="Networks the spec declares, by role.")
    loss: type = Field(..., description="The `loss` section's schema class (a spec Section).")
    sections: dict[str, type] = Field(
        default_factory=dict,
        description="Top-level spec sections only this family reads, key -> Section class (ProGAN's `growth` "
        "schedule): options that are neither the objective nor a network. Every field needs a default or the "
        "section is required.",
    )
    latent: Literal["required", "optional", "none"] = Field(
        "none", description="model.latent_dim: required (VAE, GAN), optional (autoencoders: the code size) or refused."
    )
    condition: Literal["never", "required", "optional"] = Field(
        "never", description="model.condition (a class label fed to the networks)."
    )
    optimizers: Literal["one", "per_role"] = Field(
        "one", description="one: train.optimizer over all networks; per_role: train.optimizers[role], one per network."
    )
    ema_role: Optional[str] = Field(None, description="The network train.ema averages (None: train.ema is refused).")
    sub_batches: Optional[tuple[str, str]] = Field(
        None,
        description="(loss field k, role): that role is updated k times per train step, each on batch_size / k real "
        "images, so data.batch_size must split k ways.",
    )
    reference_batch_role: Optional[str] = Field(
        None, description="The network fed a fixed reference batch in training (VirtualBatchNormalization may go there)."
    )
    output_roles: tuple[str, ...] = Field(
        (), description="Networks that output images: their last activation must suit data.range."
    )
    logit_roles: tuple[str, ...] = Field((), description="Networks whose output the losses read as a logit (no squashing).")
    score_roles: tuple[str, ...] = Field((), description="Networks that output an unbounded score (a WGAN critic).")
    diffusion: bool = Field(False, description="Needs model.diffusion; takes a `sample` section; data in [-1, 1].")
    translation: Optional[Literal["paired", "any"]] = Field(
        None, description="A translation family: the pairing of data.translation it learns from (None: not one)."
    )
    likelihood: bool = Field(False, description="Has an ELBO: elbo and log_likelihood metrics, keep_best on neg_elbo.")
    logs: tuple[str, ...] = Field(("loss",), description="Names train_step logs, in order.")
    loss_networks: dict[str, str] = Field(
        default_factory=dict, description="Logged value -> the network it trains (named when it turns NaN)."
    )
    monitor: Optional[Monitor] = Field(None, description="The adversarial monitor, for two-player families.")
    export: ExportCard
    rules: tuple[Callable, ...] = Field((), description="Cross-field rules of this family: spec -> [Problem].")
    starter: Callable[[str, tuple], str] = Field(
        ..., description="(dataset, image shape) -> the text of a starter spec that runs as written."
    )

    @property
    def encoder(self) -> bool:
        """Whether the family encodes images (reconstruction metrics)."""
        return "encoder" in self.roles

    @property
    def samples(self) -> bool:
        """Whether it draws new images (sample-quality metrics, `genkit sample --n`)."""
        return self.export.sampling in ("prior", "diffusion")

    def model_class(self):
        """The keras.Model class (imports TensorFlow)."""
        module, name = self.model.split(":")
        return getattr(importlib.import_module(module), name)


@functools.cache
def cards() -> dict:
    """name -> FamilyCard of every family under genkit/families/, in name order."""
    # Imported by name, as a plugin registry does: the spec side depends on the declarations,
    # and no static import ties genkit.spec to the families' package.
    package = importlib.import_module("genkit.families")
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}.card")
        declared = getattr(module, "CARD", None)
        if not isinstance(declared, FamilyCard) or declared.name != info.name:
            raise RuntimeError(f"{module.__name__} must define CARD = FamilyCard(name={info.name!r}, ...)")
        found[declared.name] = declared
    return dict(sorted(found.items()))


def family_names() -> tuple:
    return tuple(cards())


def card(name: str) -> FamilyCard:
    """The card of family `name`; an unknown name is a GenkitError listing the families."""
    known = cards()
    if name not in known:
        raise GenkitError(f"no family named {name!r}; families: {', '.join(known)}.")
    return known[name]
