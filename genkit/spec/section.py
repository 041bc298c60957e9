"""The base of every spec section: frozen, unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section", "changed"]


class Section(BaseModel):
    """Base of every spec section: frozen, unknown keys are errors, and every float is finite
    (`.inf` and `.nan` validate as floats in YAML but mean nothing as a rate or a weight)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def changed(section, name) -> bool:
    """Whether `section.name` differs from its default.

    A default value written out is fine: resolved specs written into run folders spell every
    default out, so rules refuse only options that were changed.
    """
    field = type(section).model_fields[name]
    return getattr(section, name) != field.get_default(call_default_factory=True)
