"""JSON Schema and docs/spec.md: generated from the schema classes, complete, current, and in
agreement with `validate_dict` on good and bad specs."""

import json
import typing
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from genkit.errors import SpecError
from genkit.spec import validate_dict
from genkit.spec.json_schema import json_schema
from genkit.spec.reference import COMMAND, spec_reference
from genkit.spec.card import cards, family_names
from genkit.spec.schema import SpecBase

FAMILIES = family_names()
LOSS_SCHEMAS = {name: declared.loss for name, declared in cards().items()}

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
DOCS = ROOT / "docs" / "spec.md"


@pytest.fixture(scope="module")
def schema():
    return json_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return Draft202012Validator(schema)


def load(name):
    return yaml.safe_load((ROOT / "specs" / name).read_text(encoding="utf-8"))


def json_errors(validator, data):
    return list(validator.iter_errors(data))


def section_classes():
    """Every section class reachable from the root, and every family's loss class."""
    found = []

    def visit(annotation):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    for info in SpecBase.model_fields.values():
        visit(info.annotation)
    for cls in LOSS_SCHEMAS.values():
        visit(cls)
    return found


def documented_sections():
    """docs/spec.md as {heading: set of keys in its table}."""
    sections = {}
    for block in DOCS.read_text(encoding="utf-8").split("\n## ")[1:]:
        heading, _, body = block.partition("\n")
        sections[heading] = {
            line.split("`")[1] for line in body.splitlines() if line.startswith("| `")
        }
    return sections


# --------------------------------------------------------------------------- the schema itself
def test_schema_is_valid_draft_2020_12(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_output_is_stable(schema):
    assert json.dumps(json_schema(), indent=2) == json.dumps(schema, indent=2)
    assert list(schema["$defs"]) == sorted(schema["$defs"])
    assert list(schema["properties"])[:1] == ["extends"]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_spec_validates(validator, path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert json_errors(validator, data) == []


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_resolved_spec_with_every_default_validates(validator, path):
    # Run folders store the validated spec with every default spelled out.
    spec = validate_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert json_errors(validator, spec.model_dump(mode="json")) == []


def test_name_may_be_left_to_the_loader(validator):
    data = load("vae_mnist.yaml")
    del data["name"]
    assert json_errors(validator, data) == []
    assert validate_dict(data, default_name="vae_mnist").name == "vae_mnist"


def test_spec_with_extends_may_leave_out_required_keys(validator):
    partial = {"extends": "vae_mnist.yaml", "model": {"latent_dim": 8, "condition": {}}, "loss": {"kl_weight": 4}}
    assert json_errors(validator, partial) == []
    assert json_errors(validator, {"extends": "vae_mnist.yaml", "train": {"epoch": 3}}) != []
    assert json_errors(validator, {"extends": 3}) != []
    assert json_errors(validator, {"train": {"epochs": 3}}) != []  # without extends, model is required


# --------------------------------------------------------------------------- bad specs: both validators refuse
AE, CVAE = "autoencoder_mnist.yaml", "cvae_mnist.yaml"
DATA, LOSS, MODEL, OPTIMIZER = ("data",), ("loss",), ("model",), ("train", "optimizer")
ENCODER = ("model", "networks", "encoder")
DELETE = object()

# id: (base spec, key path to change, new value, field path both validators must point at, or above)
MALFORMED = {
    "unknown top-level key": (AE, ("epochs",), 5, ()),
    "unknown key in data": (AE, DATA + ("batchsize",), 32, DATA),
    "batch_size not an integer": (AE, DATA + ("batch_size",), "sixty-four", DATA + ("batch_size",)),
    "batch_size a list": (AE, DATA + ("batch_size",), [64], DATA + ("batch_size",)),
    "negative epochs": (AE, ("train", "epochs"), -1, ("train", "epochs")),
    "unknown reconstruction": (AE, LOSS + ("reconstruction",), "l2", LOSS + ("reconstruction",)),
    "kl_weight under an autoencoder": (AE, LOSS + ("kl_weight",), 1.0, LOSS),
    "sparsity under a cvae": (CVAE, LOSS + ("sparsity",), "l1", LOSS),
    "unknown family": (AE, MODEL + ("family",), "normalizing_flow", MODEL + ("family",)),
    "range of three numbers": (AE, DATA + ("range",), [0, 1, 2], DATA + ("range",)),
    "range a number": (AE, DATA + ("range",), 1, DATA + ("range",)),
    "unknown optimizer": (AE, OPTIMIZER + ("name",), "adamax", OPTIMIZER + ("name",)),
    "zero learning rate": (AE, OPTIMIZER + ("learning_rate",), 0, OPTIMIZER + ("learning_rate",)),
    "layers not a list": (AE, ENCODER + ("layers",), "Conv2D", ENCODER + ("layers",)),
    "unknown key in a network": (AE, ENCODER + ("layer",), [], ENCODER),
    "model missing": (AE, MODEL, DELETE, ()),
    "networks missing": (AE, MODEL + ("networks",), DELETE, MODEL),
    "condition without num_classes": (CVAE, MODEL + ("condition",), {"encoding": "onehot"}, MODEL + ("condition",)),
    "one class": (CVAE, MODEL + ("condition", "num_classes"), 1, MODEL + ("condition",)),
    "zero latent_dim": (CVAE, MODEL + ("latent_dim",), 0, MODEL + ("latent_dim",)),
    "validation_split of 1": (AE, DATA + ("validation_split",), 1.0, DATA + ("validation_split",)),
    "data not a mapping": (AE, DATA, 5, DATA),
    "unknown metric": (AE, ("evaluate",), {"metrics": ["psnr"]}, ("evaluate", "metrics")),
    "opset too old": (AE, ("export",), {"onnx": {"opset": 12}}, ("export", "onnx", "opset")),
    "name with a space": (AE, ("name",), "my run", ("name",)),
    "spec version 2": (AE, ("genkit_spec",), 2, ("genkit_spec",)),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_spec_is_refused_by_json_schema_and_validate_dict(validator, case):
    base, path, value, where = MALFORMED[case]
    data = load(base)
    assert json_errors(validator, data) == []
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value

    errors = json_errors(validator, data)
    assert errors, f"JSON Schema accepts: {case}"
    assert any(tuple(e.absolute_path)[: len(where)] == where for e in errors), [e.message for e in errors]

    with pytest.raises(SpecError) as info:
        validate_dict(data)
    assert any(p.path[: len(where)] == where for p in info.value.problems), str(info.value)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_selects_its_loss_keys(validator, family):
    data = load(AE)
    data["model"]["family"] = family
    own = LOSS_SCHEMAS[family]
    data["loss"] = own().model_dump(mode="json")
    assert json_errors(validator, data) == []
    foreign = {key for cls in LOSS_SCHEMAS.values() for key in cls.model_fields} - set(own.model_fields)
    for key in sorted(foreign):
        wrong = dict(data, loss=dict(data["loss"], **{key: 1}))
        assert json_errors(validator, wrong), f"{family}: JSON Schema accepts loss.{key}"
        with pytest.raises(SpecError) as info:
            validate_dict(wrong)
        assert ("loss", key) in [p.path for p in info.value.problems]


# --------------------------------------------------------------------------- completeness
def test_every_field_is_in_the_json_schema(schema):
    family_sections = {key for declared in cards().values() for key in declared.sections}  # stylegan's style, progan's growth
    assert set(SpecBase.model_fields) | {"loss", "extends"} | family_sections == set(schema["properties"])
    for cls in section_classes():
        assert set(schema["$defs"][cls.__name__]["properties"]) == set(cls.model_fields), cls.__name__
    branches = {b["if"]["properties"]["model"]["properties"]["family"]["const"]: b["then"] for b in schema["allOf"][1:]}
    assert set(branches) == set(FAMILIES)
    for family, then in branches.items():
        assert then["properties"]["loss"]["$ref"] == f"#/$defs/{LOSS_SCHEMAS[family].__name__}"


def test_json_schema_defaults_are_the_field_defaults(schema):
    for cls in section_classes():
        properties = schema["$defs"][cls.__name__]["properties"]
        for key, info in cls.model_fields.items():
            if info.is_required():
                assert "default" not in properties[key], f"{cls.__name__}.{key}"
                continue
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                assert properties[key]["default"] == {}, f"{cls.__name__}.{key}"
            else:
                expected = json.loads(json.dumps(default))
                assert properties[key]["default"] == expected, f"{cls.__name__}.{key}"


def test_every_field_is_in_docs_spec_md():
    sections = documented_sections()
    assert set(SpecBase.model_fields) | {"loss", "extends"} <= sections["Top level"]
    for cls in section_classes():
        assert any(keys == set(cls.model_fields) for keys in sections.values()), f"{cls.__name__} is not documented"
    for family in FAMILIES:
        assert any(h.startswith("`loss`") and f"`{family}`" in h for h in sections), family


def test_docs_spec_md_is_current():
    assert DOCS.exists(), f"docs/spec.md is missing; generate it with: {COMMAND}"
    assert DOCS.read_text(encoding="utf-8") == spec_reference(), (
        f"docs/spec.md is stale (the schema changed); regenerate it with: {COMMAND}"
    )
