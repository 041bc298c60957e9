"""The JSON body of POST /v1/models/{name}/sample, and validation errors as one readable line per field.

Unknown fields are refused (a typo such as `lable` would otherwise be ignored); numbers are
strict (`"3"` or `3.5` for `n` is an error, not coerced). Whether a field applies to a model
(`steps` to diffusion exports, `label` to conditional ones) and the server's limits are checked
by `ServedModel.sample_job`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from genkit.errors import closest

__all__ = ["FORMATS", "SampleRequest", "describe_validation_errors"]

FORMATS = ("png", "npz", "json")
_MAX_SEED = 2**63 - 1  # numpy.random.default_rng takes any non-negative int; a bound keeps it an int64
Number = StrictFloat | StrictInt


class SampleRequest(BaseModel):
    """What to draw. Every field is optional; GET /v1/models says which ones a model takes."""

    model_config = ConfigDict(extra="forbid")

    n: StrictInt | None = Field(None, ge=1, description="images to draw (default 16, or one per latent of z)")
    label: StrictInt | None = Field(None, ge=0, description="conditional models: the class of every image (default: 0, 1, ... in turn)")
    seed: StrictInt | None = Field(None, ge=0, le=_MAX_SEED, description="same seed, same images (default: a random seed, returned in X-Seed)")
    steps: StrictInt | None = Field(None, ge=1, description="diffusion: sampler steps")
    sampler: StrictStr | None = Field(None, description="diffusion: ancestral, ddim, dpmpp_2m, dpmpp_2m_sde, euler or heun")
    eta: Number | None = Field(None, description="diffusion, ddim: noise, 0 (deterministic) to 1")
    guidance_scale: Number | None = Field(None, description="conditional diffusion: classifier-free guidance; 1 = none")
    guidance_interval: list[StrictInt] | None = Field(
        None, min_length=2, max_length=2, description="conditional diffusion: [low, high], guide only at those timesteps"
    )
    truncation: Number | None = Field(None, description="style exports: psi")
    mix: StrictInt | None = Field(None, ge=0, description="style exports: the seed of the fine styles")
    crossover: StrictInt | None = Field(None, description="style exports with mix: the first style taken from it")
    codes: dict[StrictStr, Number] | None = Field(None, description="InfoGAN: latent code name -> value for every image")
    z: list[list[Number]] | None = Field(None, max_length=100_000, description="latent models: decode these latents instead of drawing")
    format: Literal[FORMATS] = Field("png", description="png (a grid), npz (arrays x, y) or json")


def describe_validation_errors(errors: list[dict], limit: int = 3) -> str:
    """Pydantic's errors as `field: what was wrong (got value)` sentences, at most `limit` of them."""
    lines = []
    for error in errors[:limit]:
        path = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = ".".join(path) or "body"
        if error.get("type") == "extra_forbidden":
            known = list(SampleRequest.model_fields)
            near = closest(path[-1], known)
            hint = f"Did you mean {near[0]!r}? " if near else ""
            lines.append(f"{field}: unknown field. {hint}The fields are {', '.join(known)}.")
        elif error.get("type") == "json_invalid" or (error.get("type") in ("model_attributes_type", "dict_type") and field == "body"):
            lines.append("body: expected a JSON object such as {\"n\": 16, \"seed\": 0}; " + error.get("msg", "").rstrip(".") + ".")
        else:
            got = error.get("input")
            shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {repr(got)[:60]})"
            lines.append(f"{field}: {error.get('msg', 'invalid')}{shown}.")
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return " ".join(lines) + more
