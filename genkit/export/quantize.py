"""Quantised and half-precision copies of an export's networks (`export.onnx.quantize`), compared in sample terms.

After the float32 export is written and parity-checked, `quantize_export` writes beside every
`<network>.onnx` a `<network>.<mode>.onnx` made with onnxruntime's own tools, points the
manifest's `file` at it (the runtime loads `file`; `float32_file` keeps the original) and records
how the two differ where it matters, in the samples:

1. exercise the float32 networks as the runtime does, on training data, recording every batch
   they are fed: a sampling export samples with the training labels (latents from the prior; a
   diffusion denoiser also sees training images noised to random t by its schedule, q(x_t | x_0)),
   encoders, translators and code readers read training images;
2. quantise each network: dynamic_int8 (`quantize_dynamic`: int8 weights, activation ranges per
   batch), static_int8 (`quantize_static`, QDQ, int8 weights per channel and uint8 activations whose
   ranges are calibrated on the batches of step 1), float16 (`convert_float_to_float16` with float32
   inputs and outputs, so the manifest's tensors and the runtime's feeds stay as they were);
3. per network: max/mean |float32 - quantised| on the recorded batches;
4. draw N samples (the spec's seed) through both exports: their max/mean abs difference and
   sampling time, and, where the spec's evaluate.metrics asks for them, FID (vs N real test images
   in genkit's feature space) and class accuracy of each, so the manifest says what quantising costs.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import onnx

from genkit.atomic import atomic_write_bytes, atomic_write_text
from genkit.errors import GenkitError
from genkit.manifest import MANIFEST_NAME, QUANTIZED_MODES
from genkit.progress import phase
from genkit.runtime import Sampler
from genkit.schedules import make_schedule, q_sample

__all__ = ["CALIBRATION_BATCHES", "QUANTIZERS", "quantize_export", "quantize_network", "quantized_file"]

CALIBRATION_BATCHES = 16  # per network, spread evenly over what step 1 recorded
_EXERCISE_IMAGES = 64  # training images (and labels) per exercised path
_EXERCISE_STEPS = 10  # a diffusion exercise samples with this many steps: the calibration sees every noise level


def quantized_file(network: str, mode: str) -> str:
    """`decoder.dynamic_int8.onnx`: the quantised file beside `decoder.onnx`."""
    return f"{network}.{mode}.onnx"


def _dynamic_int8(src: Path, dst: Path, calibration) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)


def _static_int8(src: Path, dst: Path, calibration) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration)

        def get_next(self):
            return next(self._batches, None)

    # QDQ: standard ONNX QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses into int8 kernels.
    quantize_static(
        src,
        dst,
        Batches(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def _float16(src: Path, dst: Path, calibration) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # keep_io_types: float32 in and out, so the manifest's tensors (and the runtime's feeds) are unchanged.
    atomic_write_bytes(dst, convert_float_to_float16(onnx.load(src), keep_io_types=True).SerializeToString())


QUANTIZERS = {"dynamic_int8": _dynamic_int8, "static_int8": _static_int8, "float16": _float16}


def quantize_network(src: Path, dst: Path, mode: str, calibration: list[dict] | None = None) -> None:
    """Write the `mode` copy of the ONNX file `src` to `dst` (static_int8 calibrates on the feed dicts `calibration`)."""
    if mode not in QUANTIZERS:
        raise ValueError(f"quantize mode {mode!r}; expected one of {', '.join(QUANTIZED_MODES)}")
    if mode == "static_int8" and not calibration:
        raise GenkitError(
            f"export.onnx.quantize: static_int8 calibrates each network on the batches it is fed while sampling, "
            f"encoding or translating training data, and {src.name} was fed none (the runtime does not use it). "
            "Leave it out with export.onnx.networks, or choose dynamic_int8, which needs no calibration."
        )
    quiet = logging.getLogger()  # onnxruntime.quantization advises "pre-processing" on the root logger, every call
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        QUANTIZERS[mode](Path(src), Path(dst), calibration)
    finally:
        quiet.setLevel(level)


def quantize_export(folder: Path, manifest: dict, mode: str, *, samples: int, seed: int, spec=None, data=None) -> dict:
    """Add the `mode` copies of the float32 export in `folder` (files and manifest written); returns the new manifest.

    `spec` and `data` (the training run's) supply the training batches and the FID protocol; without
    them only the sampling path is exercised and no scores are computed.
    """
    folder = Path(folder)
    entries = manifest["networks"]
    can_sample = manifest.get("sampling") is not None
    float32 = Sampler(folder, provider="cpu")  # CPU: as the parity check, independent of the exporting machine's GPU
    # The batches are exactly what the runtime feeds each network while step 1 runs.
    with float32.recording_feeds() as fed:
        calibration = _exercise(float32, data, seed, can_sample)

    with phase(f"exporting: {mode} copies of {', '.join(entries)}"):
        for network, entry in entries.items():
            batches = _spread(fed.get(network, []), CALIBRATION_BATCHES)
            source, target = folder / entry["file"], folder / quantized_file(network, mode)
            quantize_network(source, target, mode, batches)
            entry.update(float32_file=entry["file"], file=target.name, **_network_diff(source, target, batches[:4]))
    _write_manifest(folder, manifest)

    report = {"mode": mode, "samples": 0, "seed": seed, "calibration": calibration if mode == "static_int8" else None}
    if can_sample:
        quantized = Sampler(folder, provider="cpu")
        with phase(f"exporting: {samples:,} samples through the float32 and the {mode} networks"):
            x32, labels, report["float32"] = _timed_draw(float32, samples, seed)
            xq, _, report["quantized"] = _timed_draw(quantized, samples, seed)
        diff = np.abs(x32.astype(np.float64) - xq)
        report.update(samples=samples, sample_max_abs_diff=float(diff.max()), sample_mean_abs_diff=float(diff.mean()))
        report["quality"] = _quality(spec, data, x32, xq, labels, report)
    manifest["quantize"] = report
    _write_manifest(folder, manifest)
    return manifest


def _exercise(sampler: Sampler, data, seed: int, can_sample: bool) -> str:
    """Run the float32 networks as the runtime does, on training data; returns what they were fed, in words."""
    said = []
    n = _EXERCISE_IMAGES
    x = None if data is None else data.x_train[:n]
    labels = None
    if sampler.conditional:
        labels = data.y_train[:n].astype(np.int32) if data is not None and data.y_train is not None else None
        said.append("training labels" if labels is not None else "cycled labels")
    if can_sample:
        options = {"steps": min(_EXERCISE_STEPS, sampler.diffusion_options()["steps"])} if sampler.is_diffusion else {}
        drawn, drawn_labels = sampler.sample(
            n if labels is None else len(labels), labels=labels, seed=seed + 1, **options
        )
        said.append(f"{n} samples" + (f" ({options['steps']} steps)" if options else ""))
        if x is None:  # no training data: the encoders read the samples
            x, y = drawn, drawn_labels
    if x is None:
        return "float32 networks fed " + ", ".join(said)
    if data is not None:
        y = data.y_train[:n].astype(np.int32) if data.y_train is not None and np.ndim(data.y_train) == 1 else None
        said.append("training images")
    if sampler.is_diffusion and not sampler.manifest["diffusion"].get("latent"):
        _noised_training_images(sampler, x, y, np.random.default_rng(seed))
        said.append(f"{len(x)} images noised to random t")
    if sampler.manifest.get("encoding"):
        sampler.encode(x, y if sampler.manifest["encoding"].get("label_input") else None)
        said.append(f"{len(x)} images encoded")
    for direction in sampler.directions:
        images = x if direction == "ab" or data is None else data.y_train[:n]
        sampler.translate(images, direction)
        said.append(f"{len(images)} images translated {direction}")
    if sampler.codes is not None and sampler.codes.recognition:
        sampler.infer_codes(x)
        said.append(f"{len(x)} images read for codes")
    return "float32 networks fed " + ", ".join(said)


def _noised_training_images(sampler: Sampler, x0, y, rng) -> None:
    """The denoiser on x_t ~ q(x_t | x_0) at random t: the inputs it was trained on."""
    d, s = sampler.manifest["diffusion"], sampler.manifest["sampling"]
    schedule = make_schedule(d["schedule"], int(d["timesteps"]), beta_start=d["beta_start"], beta_end=d["beta_end"])
    t = rng.integers(0, schedule.timesteps, size=len(x0))
    feeds = {s["image_input"]: q_sample(schedule, x0, t, rng.standard_normal(x0.shape)), s["time_input"]: t}
    if s.get("label_input"):
        feeds[s["label_input"]] = y if y is not None else np.arange(len(x0)) % sampler.num_classes
    sampler._run(s["network"], feeds, [s["output"]], len(x0))


def _spread(batches: list, most: int) -> list:
    """At most `most` batches, evenly spread (a diffusion loop records one per step: keep every noise level)."""
    if len(batches) <= most:
        return batches
    return [batches[i] for i in np.linspace(0, len(batches) - 1, most).round().astype(int)]


def _network_diff(source: Path, target: Path, batches: list[dict]) -> dict:
    import onnxruntime as ort

    if not batches:
        return {}
    worst, total, count = 0.0, 0.0, 0
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (source, target)]
    for feeds in batches:
        for a, b in zip(*(s.run(None, feeds) for s in sessions), strict=True):
            diff = np.abs(a.astype(np.float64) - b)
            worst, total, count = max(worst, float(diff.max(initial=0.0))), total + float(diff.sum()), count + diff.size
    return {"quantized_max_abs_diff": worst, "quantized_mean_abs_diff": total / max(count, 1)}


def _timed_draw(sampler: Sampler, n: int, seed: int):
    start = time.perf_counter()
    x, y = sampler.sample(n, seed=seed)
    return x, y, {"seconds": round(time.perf_counter() - start, 4)}


def _quality(spec, data, x32, xq, labels, report) -> str:
    """FID and class accuracy of both sample sets where the spec's evaluate.metrics asks for them; the protocol or why not."""
    if spec is None or data is None:
        return "skipped: no training run (spec and data) to score against"
    wanted = [
        m
        for m in ("fid", "class_accuracy")
        if m in spec.evaluate.metrics and (m != "class_accuracy" or labels is not None)
    ]
    if not wanted:
        return "skipped: evaluate.metrics asks for neither fid nor class_accuracy"
    from genkit.evaluate.classifier import class_accuracy
    from genkit.evaluate.distribution import frechet_distance
    from genkit.evaluate.sample_quality import labelled_data, load_extractor

    try:
        data = labelled_data(spec, data)
        extractor = load_extractor(spec, data)
    except GenkitError as err:
        return f"skipped: {err}"
    n = len(x32)
    with phase(f"exporting: {', '.join(wanted)} of the float32 and the quantised samples"):
        f_real = extractor.features(data.x_test[:n]) if "fid" in wanted else None
        for side, x in (("float32", x32), ("quantized", xq)):
            if f_real is not None:
                report[side]["fid"] = frechet_distance(f_real, extractor.features(x))
            if "class_accuracy" in wanted:
                report[side]["class_accuracy"] = class_accuracy(extractor.classifier, x, labels)["overall"]
    return (
        f"{', '.join(wanted)} of the same {n} samples (seed {report['seed']}, labels cycling through the classes) "
        f"drawn through each; fid vs {min(n, len(data.x_test))} real test images in {extractor.describe()}"
    )


def _write_manifest(folder: Path, manifest: dict) -> None:
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
