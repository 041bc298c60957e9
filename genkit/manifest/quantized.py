"""The manifest's record of a quantised export (`export.onnx.quantize`, see `genkit.export.quantize`).

A quantised export keeps every float32 file and writes a quantised one beside it; the network's
`file` names what the runtime loads (the quantised file) and `float32_file` the original. The
top-level `quantize` section says how the two compare on the same seeded samples:

    "quantize": {"mode": "dynamic_int8", "samples": 256, "seed": 0,
                 "calibration": null,                      # static_int8: what calibrated the ranges
                 "sample_max_abs_diff": 0.09, "sample_mean_abs_diff": 0.002,
                 "float32": {"seconds": 0.21, "fid": 12.0, "class_accuracy": 0.97},
                 "quantized": {"seconds": 0.12, "fid": 12.4, "class_accuracy": 0.96},
                 "quality": "fid and class_accuracy: ... (protocol) | skipped: why"}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

__all__ = ["QUANTIZED_MODES", "QuantizeFacts", "QuantizedScores"]

# The settings that write a quantised file ("none" writes none); genkit.spec's QUANTIZE_MODES minus "none".
QUANTIZED_MODES = ("dynamic_int8", "static_int8", "float16")

_Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_Score = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0)] | None


class QuantizedScores(BaseModel):
    """One side of the comparison: the sampling time of the N samples and, where computed, their scores."""

    model_config = ConfigDict(extra="allow")

    seconds: _Score = Field(None, description="Wall time of drawing the N samples on the exporting machine (CPU).")
    fid: _Score = Field(None, description="FID of the N samples vs N real test images (genkit's feature space).")
    class_accuracy: _Score = Field(None, le=1.0, description="Share of the N samples classified as the class drawn.")


class QuantizeFacts(BaseModel):
    """`quantize`: the setting and its parity with the float32 networks, in sample terms."""

    model_config = ConfigDict(extra="allow")

    mode: Literal[QUANTIZED_MODES]
    samples: StrictInt = Field(..., ge=0, description="N: samples drawn through both (0: the export cannot sample).")
    seed: StrictInt
    calibration: StrictStr | None = None
    sample_max_abs_diff: _Number | None = Field(None, ge=0.0)
    sample_mean_abs_diff: _Number | None = Field(None, ge=0.0)
    float32: QuantizedScores = Field(default_factory=QuantizedScores)
    quantized: QuantizedScores = Field(default_factory=QuantizedScores)
    quality: StrictStr | None = Field(
        None, description="How fid/class_accuracy were computed, or why they were not."
    )
