"""The export manifest: where an export says what it holds and how to sample it.

`genkit.export.export_networks` writes `manifest.json`; `Sampler` reads it. Format 1:

    {"format": 1, "name": "cvae_mnist", "family": "cvae",
     "data": {"shape": [28, 28, 1], "range": [0.0, 1.0], "num_classes": 10},
     "latent_dim": 16,
     "prior": {"kind": "standard_normal"},          # or "gaussian" with mean, scale_tril
     "sampling": {"network": "decoder", "latent_input": "z", "label_input": "y",
                  "output": "x"},                    # label_input null: unconditional;
                                                     # sampling null: cannot sample
     "encoding": {"network": "encoder", "image_input": "x", "label_input": "y",
                  "outputs": ["z_mean", "z_log_var"]},   # or null
     "diffusion": null,                              # a section here marks a diffusion export:
                                                     # schedule, timesteps, beta_start, beta_end,
                                                     # prediction, null_class, sample defaults;
                                                     # its "sampling" names image_input, time_input,
                                                     # label_input and output instead of a latent
     "translation": null,                            # translation families (pix2pix, cyclegan):
                                                     # {"ab": {"network": "generator", "input": "x",
                                                     # "output": "y"}, "ba": ...}, one per direction
     "networks": {"decoder": {"file": "decoder.onnx",
                              "inputs": [{"name": "z", "shape": [null, 16], "dtype": "float32"}, ...],
                              "outputs": [...], "parity_max_abs_diff": 2e-7,
                              "parity_tolerance": 1e-4}, ...},
     "versions": {"genkit": ..., "tensorflow": ..., "keras": ..., "tf2onnx": ...,
                  "onnx": ..., "onnxruntime": ..., "opset": 17},
     "created_utc": "2026-01-01T00:00:00+00:00",
     "sample_grid": "samples.png"}

`ExportPlan` is what a family hands the exporter: the networks to export and the typed facts
above (prior, sampling, encoding, diffusion, translation, each network's output names).

TensorFlow-free (pydantic and the standard library): the exporter, the evaluator, the trainer
and the TensorFlow-free runtime all import it.
"""

from __future__ import annotations

import json
from pathlib import Path

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from genkit.errors import GenkitError

__all__ = [
    "DIFFUSION_KEYS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "Encoding",
    "ExportPlan",
    "Sampling",
    "TranslationDirection",
    "check_references",
    "load_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# What the runtime needs to rebuild a diffusion export's schedule and sampler.
DIFFUSION_KEYS = ("schedule", "timesteps", "beta_start", "beta_end", "prediction", "null_class", "sample")


def load_manifest(export_dir: str | Path) -> dict:
    """Read and check `export_dir/manifest.json`; every problem is a GenkitError."""
    export_dir = Path(export_dir)
    if not export_dir.exists():
        raise GenkitError(
            f"Export folder {export_dir} does not exist. Pass the folder written by "
            "`genkit export` or `genkit run` (e.g. exports/<name>)."
        )
    if not export_dir.is_dir():
        raise GenkitError(f"{export_dir} is a file; expected an export folder holding {MANIFEST_NAME}.")
    path = export_dir / MANIFEST_NAME
    if not path.is_file():
        raise GenkitError(
            f"{export_dir} is not a genkit export: it has no {MANIFEST_NAME}. Re-run `genkit export` for this model."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenkitError(f"{path} is not valid JSON ({exc}); re-run `genkit export`.") from None
    if not isinstance(manifest, dict):
        raise GenkitError(f"{path}: expected a JSON object, got {type(manifest).__name__}.")
    fmt = manifest.get("format")
    if fmt != MANIFEST_FORMAT:
        raise GenkitError(
            f"{path}: manifest format {fmt!r} is not supported by this genkit "
            f"(it reads format {MANIFEST_FORMAT}); re-export with this genkit version."
        )
    for key in ("name", "family", "data", "networks"):
        if key not in manifest:
            raise GenkitError(f"{path}: missing '{key}'; re-run `genkit export`.")
    for key in ("shape", "range"):
        if key not in manifest["data"]:
            raise GenkitError(f"{path}: missing 'data.{key}'; re-run `genkit export`.")
    for name, entry in manifest["networks"].items():
        missing = [key for key in ("file", "inputs", "outputs") if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise GenkitError(f"{path}: networks.{name} lacks {', '.join(missing)}; re-run `genkit export`.")
    problems = check_references(manifest)
    if problems:
        raise GenkitError(f"{path}: " + " ".join(problems))
    return manifest


def check_references(manifest: dict) -> list[str]:
    """Problems with the `sampling` / `encoding` sections' references to network inputs/outputs.

    Needs `networks[*].inputs/outputs` as lists of {"name": ...}; used by the exporter
    before it writes anything and by `load_manifest`.
    """
    problems = []
    networks = manifest.get("networks") or {}
    diffusion = manifest.get("diffusion")
    sampling_refs = (
        {"image_input": "inputs", "time_input": "inputs", "label_input": "inputs", "output": "outputs"}
        if diffusion is not None
        else {"latent_input": "inputs", "label_input": "inputs", "output": "outputs"}
    )
    fields = {
        "sampling": sampling_refs,
        "encoding": {"image_input": "inputs", "label_input": "inputs", "outputs": "outputs"},
    }
    for section, refs in fields.items():
        spec = manifest.get(section)
        if spec is None:
            continue
        if spec.get("label_input") and not manifest.get("data", {}).get("num_classes"):
            problems.append(f"{section}.label_input is set but data.num_classes is missing.")
        net_name = spec.get("network")
        if net_name not in networks:
            problems.append(
                f"{section}.network is {net_name!r} but the exported networks are "
                f"{sorted(networks)}; export that network too or set {section} to null."
            )
            continue
        net = networks[net_name]
        for key, side in refs.items():
            wanted = spec.get(key)
            if wanted is None and key == "label_input":
                continue
            if wanted is None:
                problems.append(f"{section}.{key} is missing.")
                continue
            names = [entry["name"] for entry in net.get(side, [])]
            for name in wanted if isinstance(wanted, list) else [wanted]:
                if name not in names:
                    problems.append(
                        f"{section}.{key} names {name!r}, which is not one of network '{net_name}' {side} {names}."
                    )
    for direction, spec in (manifest.get("translation") or {}).items():
        net = networks.get(spec.get("network"))
        if net is None:
            problems.append(f"translation.{direction}.network is {spec.get('network')!r}, which is not exported ({sorted(networks)}).")
            continue
        for key, side in (("input", "inputs"), ("output", "outputs")):
            names = [entry["name"] for entry in net.get(side, [])]
            if spec.get(key) not in names:
                problems.append(f"translation.{direction}.{key} names {spec.get(key)!r}, which is not one of network '{spec['network']}' {side} {names}.")
    if diffusion is not None:
        missing = [k for k in DIFFUSION_KEYS if k not in diffusion]
        if missing:
            problems.append(f"diffusion lacks {', '.join(missing)}.")
        elif (manifest.get("sampling") or {}).get("label_input") and diffusion.get("null_class") is None:
            problems.append("a conditional diffusion export needs diffusion.null_class.")
    if manifest.get("sampling") is not None and diffusion is None:
        if not isinstance(manifest.get("latent_dim"), int):
            problems.append("sampling needs an integer 'latent_dim'.")
        prior = manifest.get("prior") or {}
        if prior.get("kind") not in ("standard_normal", "gaussian"):
            problems.append(f"prior.kind is {prior.get('kind')!r}; expected 'standard_normal' or 'gaussian'.")
    return problems


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Facts):
    """How the runtime draws images: a latent decoder (latent_input) or a denoiser (image_input, time_input)."""

    network: str
    latent_input: Optional[str] = None
    image_input: Optional[str] = None
    time_input: Optional[str] = None
    label_input: Optional[str] = None
    output: str


class Encoding(_Facts):
    """How the runtime encodes images into latents."""

    network: str
    image_input: str = "x"
    label_input: Optional[str] = None
    outputs: list[str]


class TranslationDirection(_Facts):
    network: str
    input: str = "x"
    output: str = "y"


class ExportPlan(_Facts):
    """What a family offers the exporter: networks by name and the manifest facts about them.

    `networks` holds the Keras networks themselves; everything else is what `manifest.json`
    says of them. `input_ranges` gives, per network and input, the (low, high) of values for
    the export's parity batch beyond the data's images and labels (a denoiser's timesteps).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    networks: dict[str, Any] = Field(..., description="name -> keras.Model to export.")
    outputs: dict[str, list[str]] = Field(..., description="name -> the network's output names, in order.")
    latent_dim: Optional[int] = None
    prior: Optional[dict] = Field(None, description="{'kind': 'standard_normal'} or a fitted 'gaussian' (mean, scale_tril).")
    sampling: Optional[Sampling] = None
    encoding: Optional[Encoding] = None
    diffusion: Optional[dict] = Field(None, description="Diffusion exports: the keys DIFFUSION_KEYS and more.")
    translation: Optional[dict[Literal["ab", "ba"], TranslationDirection]] = None
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
        return facts
