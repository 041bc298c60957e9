"""Reading an export's manifest: one GenkitError naming the file and the field for anything wrong.

Validating with the pydantic models of `facts` costs ~0.2 s of imports and schema building, as
much as the rest of `genkit sample` together. So the result of a successful validation is kept
in the cache (`genkit.cache`, kind "manifests"), keyed by the SHA-256 of the manifest's bytes
and of the validating code's own source (`facts.py`, `quantized.py`, `limits.py`, this file):
the same file read by the same genkit returns the same dict without pydantic; any edit to
either is a miss and a full validation. Both paths return the JSON round trip of
`Manifest.model_dump()`, so they return equal dicts. The cache is an optimisation only: when
it cannot be read or written, the manifest is validated as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from genkit.cache import cache_dir
from genkit.errors import GenkitError, dotted_path
from genkit.manifest.limits import DIFFUSION_KEYS, MANIFEST_FORMAT, MANIFEST_NAME, MAX_MANIFEST_BYTES, PRIOR_KINDS, short_value

__all__ = ["check_references", "describe_errors", "load_manifest"]


def load_manifest(export_dir: str | Path) -> dict:
    """Read and check `export_dir/manifest.json`; every problem is one GenkitError.

    The file is read only when it is at most `MAX_MANIFEST_BYTES`; it is validated with
    `Manifest` (types, ranges, caps: see there) and then `check_references`, unless the same
    bytes passed both before (the cache: see the module doc). Returns the validated manifest as
    a plain dict (`Manifest.model_dump()` through JSON): every field the model declares is
    present (None when absent), and unknown keys are kept as they were.
    """
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
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise GenkitError(
                f"{path} is {size:,} bytes; a genkit manifest is at most {MAX_MANIFEST_BYTES:,}. "
                "It is not one genkit wrote: re-run `genkit export`."
            )
        raw = path.read_bytes()
        entry = _cache_entry(raw)
        validated = _cached(entry)
        if validated is not None:
            return validated  # these bytes passed every check below before
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise GenkitError(f"{path} is not valid JSON ({exc}); re-run `genkit export`.") from None
    except OSError as exc:
        raise GenkitError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not isinstance(manifest, dict):
        raise GenkitError(f"{path}: expected a JSON object, got {type(manifest).__name__}.")
    fmt = manifest.get("format")
    if fmt != MANIFEST_FORMAT or isinstance(fmt, bool):
        raise GenkitError(
            f"{path}: manifest format {fmt!r} is not supported by this genkit "
            f"(it reads format {MANIFEST_FORMAT}); re-export with this genkit version."
        )
    from pydantic import ValidationError  # here, not at the top: a cache hit needs no pydantic

    from genkit.manifest.facts import Manifest

    try:
        manifest = Manifest.model_validate(manifest).model_dump()
    except ValidationError as exc:
        raise GenkitError(f"{path}: {describe_errors(exc)} Re-run `genkit export` for this model.") from None
    problems = check_references(manifest)
    if problems:
        raise GenkitError(f"{path}: " + " ".join(problems))
    text = json.dumps(manifest)
    if entry is not None:
        _remember(entry, text)
    return json.loads(text)


_VALIDATORS = ("facts.py", "quantized.py", "limits.py", "load.py")


def _cache_entry(raw: bytes) -> Path | None:
    """The cache file of the validated manifest whose bytes are `raw` under this genkit's validators
    (None when their source cannot be read, e.g. an install without .py files: no cache then)."""
    digest = hashlib.sha256(raw)
    try:
        for name in _VALIDATORS:
            digest.update((Path(__file__).parent / name).read_bytes())
    except OSError:
        return None
    return cache_dir("manifests") / f"{digest.hexdigest()}.json"


def _cached(entry: Path | None) -> dict | None:
    """The validated manifest kept as `entry`; None when there is none or it cannot be read (then: validate)."""
    if entry is None:
        return None
    try:
        return json.loads(entry.read_bytes())
    except (OSError, ValueError):
        return None


def _remember(entry: Path, text: str) -> None:
    """Keep `text` as `entry`, whole or not at all; a cache that cannot be written is skipped."""
    from genkit.atomic import atomic_write_text

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(entry, text)
    except OSError:
        pass


def describe_errors(exc, limit: int = 3) -> str:
    """A pydantic ValidationError as `field: what was expected, got what` sentences (at most `limit`)."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]  # drop union tags
        where = dotted_path(loc)
        if error["type"] == "missing":
            parent, key = dotted_path(loc[:-1]), loc[-1] if loc else "?"
            line = f"{parent} lacks {key}." if parent else f"missing '{key}'."
        else:
            message = error["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            else:
                message = message.replace("Input should be ", "expected ", 1)
                message = re.sub(r"a valid dictionary or instance of \w+", "a JSON object", message)
                for old, new in _PHRASES:
                    message = message.replace(old, new)
                message += f", got {short_value(error.get('input'))}"
            line = f"{where}: {message}" if where else message
            line = line if line.endswith(".") else line + "."
        if line not in lines:
            lines.append(line)
    shown = " ".join(lines[:limit])
    return shown + (f" (and {len(lines) - limit} more problems)" if len(lines) > limit else "")


_PHRASES = (
    ("a valid dictionary", "a JSON object"),
    ("a valid integer", "an integer"),
    ("a valid number", "a number"),
    ("a valid string", "a string"),
    ("a valid list", "a list"),
    ("a valid boolean", "true or false"),
    ("greater than or equal to ", ">= "),
    ("less than or equal to ", "<= "),
    ("greater than ", "> "),
    ("less than ", "< "),
)


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
        latent = diffusion.get("latent")
        decoder = networks.get(latent.get("decoder")) if latent else None
        if latent and decoder is None:
            problems.append(f"diffusion.latent.decoder is {latent.get('decoder')!r}, which is not exported ({sorted(networks)}).")
        elif latent:
            for key, side in (("latent_input", "inputs"), ("output", "outputs")):
                names = [entry["name"] for entry in decoder.get(side, [])]
                if latent.get(key) not in names:
                    problems.append(f"diffusion.latent.{key} names {latent.get(key)!r}, not one of the decoder's {side} {names}.")
    if manifest.get("sampling") is not None and diffusion is None:
        if not isinstance(manifest.get("latent_dim"), int):
            problems.append("sampling needs an integer 'latent_dim'.")
        prior = manifest.get("prior") or {}
        if prior.get("kind") not in PRIOR_KINDS:
            problems.append(f"prior.kind is {prior.get('kind')!r}; expected one of {', '.join(map(repr, PRIOR_KINDS))}.")
    return problems + _style_references(manifest.get("style"), networks)


def _style_references(style: dict | None, networks: dict) -> list[str]:
    """Problems with the `style` section's references to the mapping and synthesis networks' inputs/outputs."""
    if style is None:
        return []
    problems = []
    wanted = {
        style.get("mapping"): {"inputs": [style.get("latent_input")], "outputs": [style.get("w_output")]},
        style.get("synthesis"): {
            "inputs": [style.get("ws_input"), *[noise.get("name") for noise in style.get("noise_inputs") or []]],
            "outputs": [style.get("output")],
        },
    }
    for network, sides in wanted.items():
        if network not in networks:
            problems.append(f"style names network {network!r}, which is not exported ({sorted(networks)}).")
            continue
        for side, names in sides.items():
            have = [entry["name"] for entry in networks[network].get(side, [])]
            problems += [
                f"style names {name!r}, which is not one of network '{network}' {side} {have}." for name in names if name not in have
            ]
    return problems
