"""Anomaly scores from an export's reconstruction error — NumPy and onnxruntime only.

An autoencoder trained on normal data only reconstructs normal images well; an image
unlike the training data comes back blurred toward something it has seen, so its
reconstruction error is larger. The score of an image is that error (one number per
image), a threshold chosen on normal examples at a target false-positive rate turns
scores into flags, and the ROC AUC measures how well the scores separate normal from
anomalous examples when their labels are known.

- `genkit.runtime.reconstruction`: `reconstruction_errors`, the scores (Sakurada & Yairi, MLSDA 2014); also `Sampler.score`.
- `roc`: pure NumPy — `threshold_at_fpr`, `roc_auc` (Mann-Whitney U; Hanley & McNeil,
  Radiology 1982), `roc_curve`, `score_report`.
- `score`: `score_main` is `genkit score`: it reads images from `.npz` files and writes
  `scores.csv`, `report.json`, `histogram.png` and (labels known) `roc.png`.

Example:
    sampler = Sampler("exports/anomaly_mnist")
    normal = reconstruction_errors(sampler, x_val)        # held-out normal images
    threshold = threshold_at_fpr(normal, fpr=0.05)        # 5% of them lie above it
    scores = reconstruction_errors(sampler, x_test)
    flagged = scores > threshold
    print(roc_auc(scores, y_test == 7))                    # digit 7 never seen in training
"""

from genkit.runtime.anomaly.roc import roc_auc, roc_curve, score_report, threshold_at_fpr
from genkit.runtime.anomaly.score import score_main
from genkit.runtime.reconstruction import METRICS, reconstruction_errors

__all__ = [
    "METRICS",
    "reconstruction_errors",
    "roc_auc",
    "roc_curve",
    "score_main",
    "score_report",
    "threshold_at_fpr",
]
