"""Export trained Keras networks as a parity-checked, self-describing ONNX folder.

Order of work, so that a failure never damages an existing export:
1. convert every network (tf2onnx) and name its batch dimension `batch`;
2. check parity against Keras and the manifest's references to input/output names;
3. only then write files, all into a temporary sibling folder, and sample a grid from it
   with `genkit.runtime` (proving the export works without TensorFlow);
4. swap the folder into place (`atomic_directory`).

An export only ever replaces an export: before any work, an existing folder is checked
(`replace_mode`). A folder that is not a genkit export is never replaced; an export of another
name or spec only with `force`, and then it is kept under `<export>/.previous/`.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
from pathlib import Path

import keras
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

from genkit.errors import GenkitError, SpecError
from genkit.atomic import PREVIOUS, atomic_directory, atomic_write_bytes, atomic_write_text
from genkit.export.convert import default_output_names, describe_io, metadata_facts, set_metadata, to_onnx
from genkit.export.model_card import write_model_card
from genkit.export.parity import parity_max_abs_diff
from genkit.runtime import Sampler, save_samples
from genkit.manifest import MANIFEST_FORMAT, MANIFEST_NAME, check_references
from genkit.train.run_folder import existing_export_manifest, hashed_fields, spec_hash
from genkit.version import __version__

__all__ = ["MARKER", "export_marker", "export_networks", "replace_mode"]

SAMPLE_GRID = "samples.png"
# manifest.json key that marks a folder as genkit's export: {"name", "spec_hash", "run"}.
# Exports written before it are recognised by their "name" (and "spec"); the runtime ignores it.
MARKER = "genkit_export"


def export_networks(
    networks: dict[str, keras.Model],
    export_dir: Path,
    manifest: dict,
    *,
    opset: int = 17,
    tolerance: float = 1e-4,
    seed: int = 0,
    input_ranges: dict[str, dict[str, tuple]] | None = None,
    force: bool = False,
    run_dir: Path | None = None,
    field: str = "export folder",
    finish=None,
) -> dict:
    """Write `export_dir` with one `<network>.onnx` per entry, `manifest.json` and README.md.

    Args:
        networks: role name -> functional keras.Model. ONNX inputs are named after the
            model's Input layers; outputs after its output layers (dict outputs: the keys),
            unless the caller's `manifest["networks"][role]["outputs"]` is a list of names
            (one per output, in the model's output order), e.g. `["z_mean", "z_log_var"]`.
        export_dir: the final folder; replaced atomically, untouched on any failure.
        manifest: the caller's facts (format 1, see `genkit.runtime.manifest`): name,
            family, data, latent_dim, prior, sampling, encoding, and optionally
            `networks[role] = {"outputs": [names]}`. Not modified.
        opset: ONNX opset (tf2onnx 1.17 converts 13-18).
        tolerance: largest accepted |Keras - onnxruntime| on the seeded parity batch.
        seed: seed of the parity batch and of the sample grid.
        input_ranges: `input_ranges[role][input] = (low, high)`: uniform values for that
            input in the parity batch; required for integer inputs, e.g. `"y": (0, 10)`.
        force: replace an existing export of another name or spec, keeping it under
            `export_dir/.previous/` (see `replace_mode`); without it that is a GenkitError.
        run_dir: the run folder exported (recorded in the marker: a resumed run whose spec
            changed still replaces its own export).
        field: what the user set to choose `export_dir` ("export.dir", "name", "--out"), for errors.
        finish: `finish(folder, manifest) -> manifest`, run on the written float32 export before its
            sample grid and model card (e.g. `genkit.export.quantize.quantize_export`).

    Each `networks[role]` entry of the returned manifest gets `file`, `inputs`/`outputs`
    (`{"name", "shape" (batch as null), "dtype"}`; these replace a list of output names),
    `parity_max_abs_diff` and `parity_tolerance`; the top level gains `format`, `versions`,
    `created_utc` and `genkit_export` (`MARKER`), and `sample_grid` (a PNG drawn through `genkit.runtime` from the new
    files) when the family can sample. Every ONNX file carries the top-level facts as
    `metadata_props` (see `metadata_facts`), plus `network`.

    Raises:
        GenkitError: a network misses the tolerance (naming it, its error and the
            tolerance), the manifest names a network, input or output that is not exported,
            or `export_dir` may not be replaced (`replace_mode`).
    """
    export_dir = Path(export_dir)
    result = copy.deepcopy(manifest)
    result.setdefault("format", MANIFEST_FORMAT)
    result[MARKER] = export_marker(result, run_dir)
    previous = replace_mode(export_dir, result[MARKER], force=force, field=field)  # before any work
    entries = result.setdefault("networks", {})
    unknown = sorted(set(entries) - set(networks))
    if unknown:
        raise GenkitError(f"manifest lists networks {unknown} that are not being exported ({sorted(networks)}).")

    # 1-2. Convert and check each network; nothing is written yet.
    protos = {}
    for role, model in networks.items():
        entry = entries.setdefault(role, {})
        output_names = list(entry.get("outputs") or default_output_names(model))
        if (
            not all(isinstance(n, str) for n in output_names)
            or len(output_names) != len(model.outputs)
            or len(set(output_names)) != len(output_names)
        ):
            raise GenkitError(
                f"network '{role}' has {len(model.outputs)} outputs; manifest networks.{role}.outputs "
                f"{output_names} must give one distinct name per output."
            )
        proto = to_onnx(model, output_names, opset)
        diff = parity_max_abs_diff(model, proto, output_names, seed=seed, ranges=(input_ranges or {}).get(role))
        if not diff <= tolerance:
            detail = "non-finite or mis-shaped outputs" if math.isinf(diff) else f"max abs diff {diff:.3g}"
            raise GenkitError(
                f"ONNX export of network '{role}' does not match Keras: {detail} > tolerance {tolerance:g}. "
                f"Nothing was written to {export_dir}. Raise "
                "export.onnx.tolerance only if the difference is plainly float round-off."
            )
        entry.update(file=f"{role}.onnx", **describe_io(proto), parity_max_abs_diff=diff, parity_tolerance=tolerance)
        protos[role] = proto

    problems = check_references(result)
    if problems:
        raise GenkitError("export manifest does not match the exported networks: " + " ".join(problems))
    result["versions"] = {
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "opset": opset,
    }
    result["created_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    can_sample = result.get("sampling") is not None
    if can_sample:
        result["sample_grid"] = SAMPLE_GRID

    # 3-4. Write into a temporary sibling folder, prove it samples, swap it in.
    def still_replaceable(folder):
        replace_mode(folder, result[MARKER], force=force, field=field)

    with atomic_directory(export_dir, check=still_replaceable, previous=previous) as tmp:
        facts = metadata_facts(result)
        for role, proto in protos.items():
            set_metadata(proto, {**facts, "network": role})
            atomic_write_bytes(tmp / entries[role]["file"], proto.SerializeToString())
        atomic_write_text(tmp / MANIFEST_NAME, json.dumps(result, indent=2) + "\n")
        if finish is not None:
            result = finish(tmp, result)
        if can_sample:
            _write_sample_grid(tmp, seed)
        write_model_card(tmp, result, shown_dir=export_dir)
    return result


def _write_sample_grid(folder: Path, seed: int) -> None:
    # CPU: the grid must not depend on (or probe) the exporting machine's GPU.
    sampler = Sampler(folder, provider="cpu")
    labelled = sampler.conditional and sampler.num_classes <= 16  # one row of 8 per class
    x, y = sampler.sample(8 * sampler.num_classes if labelled else 64, seed=seed)
    save_samples(folder / SAMPLE_GRID, x, y if labelled else None, value_range=sampler.value_range)


def export_marker(manifest: dict, run_dir=None) -> dict:
    """What marks the export of `manifest` (with its resolved "spec", if any) from `run_dir`."""
    return {
        "name": manifest.get("name"),
        "spec_hash": _spec_hash_of(manifest.get("spec")),
        "run": None if run_dir is None else Path(run_dir).as_posix(),
    }


def replace_mode(export_dir: Path, marker: dict, *, force: bool = False, field: str = "export folder") -> str:
    """How `atomic_directory` may replace `export_dir` with the export `marker` describes, or a GenkitError.

    Returns "drop" (nothing there, or an empty folder), "carry" (an export of the same name and
    spec, or of the same run: replaced silently, its `.previous/` kept) or "keep" (with `force`,
    an export of another name or spec: kept as `.previous/`, one level). Refused always: the
    working folder or a folder above it, a file, a link, a non-empty folder that is not a genkit
    export; without `force`, an export of another name or spec.
    """
    export_dir = Path(export_dir)
    target, here = export_dir.resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        raise GenkitError(
            f"{field}: the export folder {export_dir} is the working folder or a folder above it ({target}); "
            "an export replaces its whole folder, so genkit will not write there. Choose a folder of its own, "
            "e.g. exports/<name>."
        )
    if export_dir.is_symlink() or (export_dir.exists() and not export_dir.is_dir()):
        raise GenkitError(
            f"{field}: the export folder {export_dir} is {'a symbolic link' if export_dir.is_symlink() else 'a file'}, "
            "not a folder; genkit will not replace it. Choose a new folder for the export."
        )
    if not export_dir.exists() or not any(p.name != PREVIOUS for p in export_dir.iterdir()):
        return "carry" if export_dir.exists() else "drop"
    old = existing_export_manifest(export_dir)
    if old is None:
        raise GenkitError(
            f"{field}: {export_dir} already exists and is not a genkit export (it has no manifest.json); an export "
            "replaces its whole folder, so genkit will not touch it (--force does not change this). Choose a new "
            "folder for the export, or move that one away."
        )
    old_marker = old.get(MARKER) if isinstance(old.get(MARKER), dict) else {}
    old_name = old_marker.get("name") or old.get("name")
    old_hashes = {old_marker.get("spec_hash"), _spec_hash_of(old.get("spec"))} - {None}
    new_hash = marker.get("spec_hash")
    same_run = marker.get("run") is not None and old_marker.get("run") is not None and (
        Path(marker["run"]).resolve() == Path(old_marker["run"]).resolve()
    )
    same_spec = new_hash is None or new_hash in old_hashes
    if old_name == marker.get("name") and (same_spec or same_run):
        return "carry"
    if force:
        return "keep"
    if old_name != marker.get("name"):
        what = f"the export '{old_name}', not '{marker.get('name')}'"
    else:
        shown = ", ".join(sorted(old_hashes)) or "unknown"
        what = f"an export of '{old_name}' trained from another spec (spec hash {shown}; this one is {new_hash})"
    raise GenkitError(
        f"{field}: {export_dir} holds {what}, so genkit will not replace it. Export this model to a folder of "
        f"its own (--out, export.dir, or another name), or add --force to replace it and keep the old export "
        f"under {export_dir / PREVIOUS}/ (one level). The run folder is kept: "
        "`genkit export RUN_FOLDER --out FOLDER` exports it again."
    )


def _spec_hash_of(spec: dict | None) -> str | None:
    """`spec_hash` of a resolved spec mapping (as a manifest holds it), validated again so that
    options genkit added since compare equal; None without a spec."""
    if not isinstance(spec, dict):
        return None
    from genkit.spec import validate_dict

    try:
        return spec_hash(validate_dict(spec))
    except (SpecError, GenkitError, ValueError, TypeError):
        import hashlib

        return hashlib.sha256(json.dumps(hashed_fields(spec), sort_keys=True, default=str).encode()).hexdigest()[:16]
