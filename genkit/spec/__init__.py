"""Spec loading and schema (no TensorFlow here)."""

from genkit.spec.loader import LoadedSpec, SourceMap, load_spec, parse_override, validate_dict
from genkit.spec.schema import (
    ConditionSpec,
    DataSpec,
    ModelSpec,
    NetworkSpec,
    Spec,
    TrainSpec,
    spec_class,
)

__all__ = [
    "ConditionSpec",
    "DataSpec",
    "LoadedSpec",
    "ModelSpec",
    "NetworkSpec",
    "SourceMap",
    "Spec",
    "TrainSpec",
    "load_spec",
    "parse_override",
    "spec_class",
    "validate_dict",
]
