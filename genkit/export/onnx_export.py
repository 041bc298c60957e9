"""Export trained Keras networks as a parity-checked, self-describing ONNX folder.

Order of work, so that a failure never damages an existing export:
1. convert every network (tf2onnx) and name its batch dimension `batch`;
2. check parity against Keras and the manifest's references to input/output names;
3. only then write files, all into a temporary sibling folder, and sample a grid from it
   with `genkit.runtime` (proving the export works without TensorFlow);
4. swap the folder into place (`atomic_directory`).
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

import genkit
from genkit.errors import GenkitError
from genkit.atomic import atomic_directory, atomic_write_bytes, atomic_write_text
from genkit.export.convert import default_output_names, describe_io, metadata_facts, set_metadata, to_onnx
from genkit.export.model_card import write_model_card
from genkit.export.parity import parity_max_abs_diff
from genkit.runtime import Sampler, save_samples
from genkit.manifest import MANIFEST_FORMAT, MANIFEST_NAME, check_references

__all__ = ["export_networks"]

SAMPLE_GRID = "samples.png"


def export_networks(
    networks: dict[str, keras.Model],
    export_dir: Path,
    manifest: dict,
    *,
    opset: int = 17,
    tolerance: float = 1e-4,
    seed: int = 0,
    input_ranges: dict[str, dict[str, tuple]] | None = None,
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

    Each `networks[role]` entry of the returned manifest gets `file`, `inputs`/`outputs`
    (`{"name", "shape" (batch as null), "dtype"}`; these replace a list of output names),
    `parity_max_abs_diff` and `parity_tolerance`; the top level gains `format`, `versions`
    and `created_utc`, and `sample_grid` (a PNG drawn through `genkit.runtime` from the new
    files) when the family can sample. Every ONNX file carries the top-level facts as
    `metadata_props` (see `metadata_facts`), plus `network`.

    Raises:
        GenkitError: a network misses the tolerance (naming it, its error and the
            tolerance), or the manifest names a network, input or output that is not exported.
    """
    export_dir = Path(export_dir)
    result = copy.deepcopy(manifest)
    result.setdefault("format", MANIFEST_FORMAT)
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
        "genkit": genkit.__version__,
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
    with atomic_directory(export_dir) as tmp:
        facts = metadata_facts(result)
        for role, proto in protos.items():
            set_metadata(proto, {**facts, "network": role})
            atomic_write_bytes(tmp / entries[role]["file"], proto.SerializeToString())
        atomic_write_text(tmp / MANIFEST_NAME, json.dumps(result, indent=2) + "\n")
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
