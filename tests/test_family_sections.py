"""A card's `sections`: top-level spec sections that only its family reads (ProGAN's growth schedule).

A throw-away family `grown` (the autoencoder's model, plus a `growth` section) is put beside
genkit/families/ for each test, as tests/test_adding_a_family.py does with the WAE example.
"""

from __future__ import annotations

import sys

import pytest
import yaml

import genkit.families
from genkit.errors import SpecError
from genkit.spec import schema as spec_schema
from genkit.spec.card import cards

CARD_TEXT = '''
from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import ReconstructionLoss
from genkit.spec.section import Section
from genkit.spec.starter import conv_decoder, conv_encoder, encoder_decoder_starter


class Growth(Section):
    """How the networks grow."""

    stages: int = Field(3, ge=1, description="Resolutions the networks pass through.")


CARD = FamilyCard(
    name="grown",
    summary="A test family with a section of its own.",
    reference="none",
    model="genkit.families.autoencoder.model:Autoencoder",
    roles=("encoder", "decoder"),
    loss=ReconstructionLoss,
    sections={"growth": Growth},
    latent="optional",
    output_roles=("decoder",),
    logs=("loss", "reconstruction"),
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    starter=lambda dataset, shape: encoder_decoder_starter(
        "grown", dataset, shape, encoder=conv_encoder(8, None), decoder=conv_decoder(shape)
    ),
)
'''


@pytest.fixture
def grown(tmp_path, monkeypatch):
    folder = tmp_path / "families" / "grown"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "card.py").write_text(CARD_TEXT)
    monkeypatch.setattr(genkit.families, "__path__", [*genkit.families.__path__, str(tmp_path / "families")])
    cards.cache_clear()
    yield
    for module in [m for m in sys.modules if m.startswith("genkit.families.grown")]:
        del sys.modules[module]
    spec_schema._SPEC_CLASSES.pop("grown", None)
    monkeypatch.undo()
    cards.cache_clear()


def _starter(family="grown"):
    from genkit.spec.starter import starter_spec

    return yaml.safe_load(starter_spec(family))


def test_the_section_is_filled_with_its_defaults_and_validated(grown):
    from genkit.spec import validate_dict

    assert validate_dict(_starter()).growth.stages == 3
    raw = _starter()
    raw["growth"] = {"stages": 5}
    assert validate_dict(raw).growth.stages == 5
    raw["growth"] = {"stagez": 5}
    with pytest.raises(SpecError) as err:
        validate_dict(raw)
    assert ("growth", "stagez") in [p.path for p in err.value.problems]


def test_another_family_refuses_the_section(grown):
    from genkit.spec import validate_dict

    raw = _starter("autoencoder")
    raw["growth"] = {"stages": 2}
    with pytest.raises(SpecError) as err:
        validate_dict(raw)
    assert any(p.path[:1] == ("growth",) for p in err.value.problems)


def test_json_schema_and_reference_document_it_for_its_family_only(grown):
    from jsonschema import Draft202012Validator

    from genkit.spec.json_schema import json_schema
    from genkit.spec.reference import spec_reference

    validator = Draft202012Validator(json_schema())
    good = _starter()
    good["growth"] = {"stages": 4}
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({**good, "growth": {"stages": 0}}))
    elsewhere = _starter("autoencoder")
    elsewhere["growth"] = {"stages": 4}
    assert list(validator.iter_errors(elsewhere))
    text = spec_reference()
    assert "## `growth` (family `grown`)" in text and "Resolutions the networks pass through." in text
