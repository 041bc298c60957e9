"""The export manifest: where an export says what it holds and how to sample it.

`genkit.export.export_networks` writes `manifest.json`; `Sampler` reads it. Format 1:

    {"format": 1, "name": "cvae_mnist", "family": "cvae",
     "data": {"shape": [28, 28, 1], "range": [0.0, 1.0], "num_classes": 10},
     "latent_dim": 16,
     "prior": {"kind": "standard_normal"},          # "normal" (std), "uniform" (low, high), "gaussian" (mean, scale_tril),
                                                     # "mixture" (weights, means, scale_trils: one per component;
                                                     # per_class true: one per class, the label picks it)
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
     "codes": null,                                  # InfoGAN: {"noise_dim": 62, "variables": [{"name":
                                                     # "digit", "kind": "categorical", "size": 10,
                                                     # "slice": [62, 72], "prior": {"kind":
                                                     # "uniform_categorical"}}, ...], "recognition":
                                                     # {"network": "discriminator", "image_input": "x",
                                                     # "outputs": {"digit": "digit_logits", ...}}}
     "translation": null,                            # translation families (pix2pix, cyclegan):
                                                     # {"ab": {"network": "generator", "input": "x",
                                                     # "output": "y"}, "ba": ...}, one per direction
     "style": null,                                  # style-based generators (stylegan): {"mapping":
                                                     # "mapping", "latent_input": "z", "w_output": "w",
                                                     # "synthesis": "synthesis", "ws_input": "ws",
                                                     # "noise_inputs": [{"name": "noise_0", "shape":
                                                     # [4, 4, 1]}, ...], "output": "x", "w_dim": 64,
                                                     # "num_ws": 8, "w_avg": [...], "coarse": [0, 1, 2, 3],
                                                     # "fine": [4, 5, 6, 7]}; "sampling" then names the
                                                     # synthesis network and its "ws" input
     "latent_kl": [3.1, 0.02, ...],                  # VAEs: mean KL(q(z_j|x) ‖ N(0, 1)) per latent
                                                     # dimension, nats (traverse orders rows by it)
     "networks": {"decoder": {"file": "decoder.onnx",
                              "inputs": [{"name": "z", "shape": [null, 16], "dtype": "float32"}, ...],
                              "outputs": [...], "parity_max_abs_diff": 2e-7,
                              "parity_tolerance": 1e-4}, ...},
     "versions": {"genkit": ..., "tensorflow": ..., "keras": ..., "tf2onnx": ...,
                  "onnx": ..., "onnxruntime": ..., "opset": 17},
     "created_utc": "2026-01-01T00:00:00+00:00",
     "sample_grid": "samples.png",
     "quantize": null}                               # export.onnx.quantize: see genkit.manifest.quantized

`facts` holds the typed sections (`Manifest`), `load` reads and checks a manifest,
`plan.ExportPlan` is what a family hands the exporter: the networks to export and the typed facts
above (prior, sampling, encoding, diffusion, translation, each network's output names).

TensorFlow-free (pydantic and the standard library; see `load` for reading without pydantic): the exporter, the evaluator, the trainer
and the TensorFlow-free runtime all import it.
"""

from importlib import import_module

# Where each public name lives. The package imports a submodule only when one of its names is
# first used (PEP 562), so `load_manifest` of an export validated before (see `load`) imports
# no pydantic: `genkit sample` starts ~0.2 s sooner.
_LIMITS = (
    "DIFFUSION_KEYS", "DTYPES", "MANIFEST_FORMAT", "MANIFEST_NAME", "MAX_CLASSES", "MAX_CODES", "MAX_LATENT_DIM",
    "MAX_MANIFEST_BYTES", "MAX_SAMPLE_VALUES", "MAX_STYLES", "MAX_TENSOR_RANK", "MAX_TIMESTEPS", "PRIOR_KINDS",
    "check_file_name", "short_value",
)
_FACTS = (
    "CodeFacts", "CodePriorFacts", "CodesFacts", "DataFacts", "DiffusionFacts", "DiffusionSampleFacts", "EncodingFacts",
    "LatentFacts", "Manifest", "NetworkFacts", "PriorFacts", "RecognitionFacts", "SamplingFacts", "StyleFacts",
    "StyleNoiseFacts", "TensorFacts", "TranslationFacts",
)
_HOMES = {
    **dict.fromkeys(_LIMITS, "limits"),
    **dict.fromkeys(_FACTS, "facts"),
    **dict.fromkeys(("check_references", "describe_errors", "load_manifest"), "load"),
    "ExportPlan": "plan",
    **dict.fromkeys(("QUANTIZED_MODES", "QuantizedScores", "QuantizeFacts"), "quantized"),
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'genkit.manifest' has no attribute {name!r}")
    value = getattr(import_module(f"genkit.manifest.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


__all__ = sorted(_HOMES)
