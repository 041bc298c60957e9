"""Anomaly scores from an export's reconstruction error — NumPy and onnxruntime only.

An autoencoder trained on normal data only reconstructs normal images well; an image
unlike the training data comes back blurred toward something it has seen, so its
reconstruction error is larger. The score of an image is that error (one number per
image), a threshold chosen on normal examples at a target false-positive rate turns
scores into flags, and the ROC AUC measures how well the scores separate normal from
anomalous examples when their labels are known.

Reference: Sakurada & Yairi, "Anomaly detection using autoencoders with nonlinear
dimensionality reduction", MLSDA 2014. The AUC is the Mann-Whitney U statistic
divided by n_anomalous * n_normal (Hanley & McNeil, Radiology 1982).

Example:
    sampler = Sampler("exports/anomaly_mnist")
    normal = reconstruction_errors(sampler, x_val)        # held-out normal images
    threshold = threshold_at_fpr(normal, fpr=0.05)        # 5% of them lie above it
    scores = reconstruction_errors(sampler, x_test)
    flagged = scores > threshold
    print(roc_auc(scores, y_test == 7))                    # digit 7 never seen in training

`score_main` is `genkit score`: it reads images from `.npz` files and writes
`scores.csv`, `report.json`, `histogram.png` and (labels known) `roc.png`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

import numpy as np

from genkit.atomic import atomic_write_bytes, atomic_write_text  # standard library only; no TensorFlow
from genkit.errors import GenkitError, closest
from genkit.runtime.sampler import Sampler

__all__ = [
    "METRICS",
    "reconstruction_errors",
    "roc_auc",
    "roc_curve",
    "score_main",
    "score_report",
    "threshold_at_fpr",
]

METRICS = ("mse", "bce")
_BCE_EPSILON = 1e-7  # Keras's backend epsilon: log(0) guard on the reconstruction


# --------------------------------------------------------------------------- scores
def reconstruction_errors(sampler: Sampler, x, y=None, *, metric: str = "mse", batch_size: int = 256) -> np.ndarray:
    """Per-image error of `x` against `sampler.reconstruct(x, y)`, shape `(N,)`, float64.

    Both the images and their reconstructions are first mapped from the export's value
    range to [0, 1], so a score means the same for [0, 1] and [-1, 1] exports:

    - `mse`: mean over pixels of (x - x_hat)^2, in [0, 1];
    - `bce`: mean over pixels of -(x log x_hat + (1 - x) log(1 - x_hat)), x_hat clipped
      to [1e-7, 1 - 1e-7]. Its minimum is the image's own entropy (zero only for binary
      pixels), so compare bce scores with each other, not with zero.

    The mean (not the training loss's sum) over pixels makes scores comparable across
    image sizes. `x` is `(N, H, W, C)` (or `(N, H, W)` for one channel) in the export's
    value range, or uint8 0..255, scaled as genkit.data scales training images. `y` is
    needed only by conditional exports (one label per image).

    Raises GenkitError when the export cannot reconstruct (no encoder or no decoder), the
    images do not have the export's shape, or they hold values outside its range.
    """
    _check_metric(metric)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise GenkitError(f"batch_size must be a positive integer; got {batch_size!r}.")
    _require_reconstruction(sampler)
    x = _check_images(sampler, x)
    low, high = sampler.value_range
    scores = np.empty(len(x), dtype=np.float64)
    # Chunked here as well as inside the sampler, so the float64 copies stay small.
    for start in range(0, len(x), batch_size):
        part = slice(start, start + batch_size)
        x_hat = sampler.reconstruct(x[part], None if y is None else np.asarray(y)[part], batch_size=batch_size)
        target = (x[part].astype(np.float64) - low) / (high - low)  # (B, H, W, C) in [0, 1]
        output = (x_hat.astype(np.float64) - low) / (high - low)
        scores[part] = _pixel_error(target, output, metric).reshape(len(target), -1).mean(axis=1)
    return scores


def _pixel_error(target: np.ndarray, output: np.ndarray, metric: str) -> np.ndarray:
    if metric == "mse":
        return (target - output) ** 2
    output = np.clip(output, _BCE_EPSILON, 1.0 - _BCE_EPSILON)
    return -(target * np.log(output) + (1.0 - target) * np.log1p(-output))


def threshold_at_fpr(normal_scores, fpr: float = 0.05) -> float:
    """The score above which (strictly) a share `fpr` of `normal_scores` lies.

    With n normal scores, k = floor(fpr * n) of them lie above the returned value: it is
    the (n - k)-th smallest score. Flag an example when `score > threshold`. Ties at the
    threshold stay unflagged, so the achieved rate can fall below `fpr`, never above it.
    `fpr = 0` returns the largest normal score.

    Example:
        threshold_at_fpr(np.arange(1, 101), 0.05)   # 95.0: 96..100 lie above it
    """
    fpr = _check_fpr(fpr)
    scores = _check_scores(normal_scores, "normal scores")
    if scores.size == 0:
        raise GenkitError("threshold_at_fpr needs at least one normal score; got none.")
    ordered = np.sort(scores)
    allowed = math.floor(fpr * len(ordered) + 1e-9)  # 1e-9: 0.05 * 100 must give 5, not 4
    return float(ordered[len(ordered) - allowed - 1])


def roc_auc(scores, is_anomaly) -> float:
    """Area under the ROC curve: P(score of an anomaly > score of a normal example).

    Computed as the Mann-Whitney U statistic from ranks, ties counted as one half (their
    ranks averaged): 1.0 separates perfectly, 0.5 is chance, 0.0 is perfectly reversed.
    Equals the trapezoidal area under `roc_curve`.
    """
    scores, positive = _check_labelled(scores, is_anomaly)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    ranks = _average_ranks(scores)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0  # anomaly-above-normal pairs
    return float(u / (n_pos * n_neg))


def roc_curve(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points `(fpr, tpr, thresholds)`, one per distinct score, from (0, 0) to (1, 1).

    Point i flags `score >= thresholds[i]`; the first threshold is +inf (nothing flagged).
    Tied scores make one point, so the curve's trapezoidal area equals `roc_auc`.
    """
    scores, positive = _check_labelled(scores, is_anomaly)
    order = np.argsort(-scores, kind="mergesort")
    ordered, hits = scores[order], positive[order]
    last_of_run = np.r_[ordered[1:] != ordered[:-1], True]  # one point per distinct score
    tp = np.cumsum(hits)[last_of_run]
    fp = np.cumsum(~hits)[last_of_run]
    tpr = np.r_[0.0, tp / hits.sum()]
    fpr = np.r_[0.0, fp / (~hits).sum()]
    return fpr, tpr, np.r_[np.inf, ordered[last_of_run]]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each tie run
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


# --------------------------------------------------------------------------- report
def score_report(
    scores,
    threshold: float,
    *,
    fpr: float,
    normal_scores,
    labels=None,
    anomalous_classes=None,
) -> dict:
    """What `report.json` holds: the operating point and, when labels say which examples
    are anomalous, how well the scores separate them.

    Args:
        scores: `(N,)` scores of the examples being judged.
        threshold: flag `score > threshold` (see `threshold_at_fpr`).
        fpr: the false-positive rate the threshold was chosen for.
        normal_scores: the normal examples the threshold was chosen on; their share
            above it is `fpr_achieved`.
        labels: optional `(N,)` integer labels of the judged examples.
        anomalous_classes: labels that mark an anomaly; with `labels`, adds `auc`, and
            `tpr` / `fpr`: the shares of the judged anomalous / normal examples above the
            threshold (with the threshold set on other normal data, `fpr` is its honest
            false-positive rate).

    Always holds `threshold`, `fpr_target`, `fpr_achieved` and `counts` (scored, flagged,
    threshold_normal; with anomalous classes also normal, anomalous); with labels also
    `per_label`: count, mean score and flagged share of each label.
    """
    scores = _check_scores(scores, "scores")
    normal_scores = _check_scores(normal_scores, "normal scores")
    flagged = scores > threshold
    report = {
        "threshold": float(threshold),
        "fpr_target": float(fpr),
        "fpr_achieved": float(np.mean(normal_scores > threshold)),
        "counts": {"scored": len(scores), "flagged": int(flagged.sum()), "threshold_normal": len(normal_scores)},
    }
    if labels is None:
        return report
    labels = np.asarray(labels)
    if anomalous_classes:
        is_anomaly = np.isin(labels, list(anomalous_classes))
        report["anomalous_classes"] = sorted(int(k) for k in anomalous_classes)
        report["counts"].update(normal=int((~is_anomaly).sum()), anomalous=int(is_anomaly.sum()))
        if is_anomaly.any() and not is_anomaly.all():
            report["auc"] = roc_auc(scores, is_anomaly)
            report["tpr"] = float(flagged[is_anomaly].mean())
            report["fpr"] = float(flagged[~is_anomaly].mean())
    report["per_label"] = {
        str(int(k)): {
            "count": int((labels == k).sum()),
            "mean_score": float(scores[labels == k].mean()),
            "flagged_share": float(flagged[labels == k].mean()),
        }
        for k in np.unique(labels)
    }
    return report


def score_main(
    export_dir,
    data_npz,
    out_dir,
    *,
    fpr: float = 0.05,
    normal_npz=None,
    anomaly_labels=None,
    metric: str = "mse",
) -> str:
    """`genkit score EXPORT_DIR --data FILE.npz [--normal FILE.npz] [--anomalous-classes K ...]
    [--fpr 0.05] [--metric mse|bce] --out DIR`.

    Scores the images `x` of `data_npz` (uint8 0..255, or floats in the export's range;
    `(N, H, W)` is read as one channel) and writes to `out_dir`, each file atomically:

    - `scores.csv`: index, score, label (when the file has `y`), flagged (1 or 0);
    - `histogram.png`: scores of normal and anomalous examples with the threshold;
    - `roc.png`: the ROC curve, when labels and `anomaly_labels` say which are anomalous;
    - `report.json`, last: see `score_report`, plus the export, files and metric.

    The threshold is chosen on the images of `normal_npz` (held-out normal examples: an
    honest false-positive rate) if given, else on the examples of `data_npz` whose label
    is not in `anomaly_labels`. Returns the summary the CLI prints.
    """
    start = time.perf_counter()
    _check_metric(metric)
    fpr = _check_fpr(fpr)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GenkitError(f"--out {out_dir} is a file; expected a folder to write scores.csv and report.json into.")
    classes = _check_classes(anomaly_labels)
    if normal_npz is None and not classes:
        raise GenkitError(
            "genkit score needs normal examples to set the threshold on: pass --normal FILE.npz "
            "(held-out normal images), or --anomalous-classes K ... so that the examples of --data "
            "with other labels are taken as normal."
        )

    sampler = Sampler(export_dir)
    _require_reconstruction(sampler)
    conditional = bool(sampler.manifest["encoding"].get("label_input"))
    needs = f"{sampler.name} is conditional: its encoder reads a label per image" if conditional else None
    picks = "--anomalous-classes picks the anomalies by label" if classes else None
    x, y = _read_npz(data_npz, sampler, "--data", labels_for=needs or picks)
    if classes:
        absent = sorted(set(classes) - set(np.unique(y).tolist()))
        if absent:
            raise GenkitError(
                f"--anomalous-classes {' '.join(map(str, absent))}: no example of {data_npz} has that label "
                f"(its labels: {_label_list(y)}). Check the class numbers."
            )
    scores = reconstruction_errors(sampler, x, y if conditional else None, metric=metric)

    if normal_npz is not None:
        x_normal, y_normal = _read_npz(normal_npz, sampler, "--normal", labels_for=needs)
        normal_scores = reconstruction_errors(sampler, x_normal, y_normal if conditional else None, metric=metric)
        reference = str(normal_npz)
    else:
        normal_scores = scores[~np.isin(y, classes)]
        if normal_scores.size == 0:
            raise GenkitError(
                f"every example of {data_npz} has a label in --anomalous-classes {' '.join(map(str, classes))}; "
                "none is left to set the threshold on. Pass --normal FILE.npz with normal images."
            )
        reference = f"{data_npz} (labels not in {classes})"
    threshold = threshold_at_fpr(normal_scores, fpr)
    report = score_report(scores, threshold, fpr=fpr, normal_scores=normal_scores, labels=y, anomalous_classes=classes)
    report = {
        "export": str(export_dir),
        "name": sampler.name,
        "family": sampler.family,
        "metric": metric,
        "data": str(data_npz),
        "threshold_set_on": reference,
        **report,
    }

    written = [_write_scores_csv(out_dir / "scores.csv", scores, y, scores > threshold)]
    is_anomaly = np.isin(y, classes) if classes else None
    written.append(_plot_histogram(out_dir / "histogram.png", scores, normal_scores, threshold, is_anomaly, report))
    if "auc" in report:
        written.append(_plot_roc(out_dir / "roc.png", scores, is_anomaly, report))
    written.append(atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n"))

    counts = report["counts"]
    lines = [
        f"Scored {counts['scored']:,} images of {data_npz} with {sampler.name} ({sampler.family}, {metric}) "
        f"in {time.perf_counter() - start:.1f} s on {sampler.provider}.",
        f"threshold {threshold:.6g}: {report['fpr_achieved']:.1%} of {counts['threshold_normal']:,} normal "
        f"examples lie above it (target {fpr:.1%}); flagged {counts['flagged']:,} of {counts['scored']:,}.",
    ]
    if "auc" in report:
        lines.append(
            f"AUC {report['auc']:.4f} ({_classes_phrase(classes)} anomalous); at the threshold "
            f"TPR {report['tpr']:.1%}, FPR {report['fpr']:.1%}."
        )
    lines.append(f"wrote {', '.join(p.name for p in written)} to {out_dir}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- input checks
def _check_metric(metric) -> None:
    if metric not in METRICS:
        near = closest(metric, METRICS)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise GenkitError(f"metric (--metric): got {metric!r}; expected one of {', '.join(METRICS)}.{hint}")


def _check_fpr(fpr) -> float:
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or not 0.0 <= fpr < 1.0:
        raise GenkitError(f"fpr (--fpr) must be a number in [0, 1), e.g. 0.05 for 5%; got {fpr!r}.")
    return float(fpr)


def _check_classes(classes) -> list[int]:
    if classes is None:
        return []
    out = []
    for k in classes:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise GenkitError(f"--anomalous-classes takes integer labels; got {k!r}.")
        out.append(int(k))
    return sorted(set(out))


def _check_scores(scores, what: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise GenkitError(f"{what} must be one number per example, shape (N,); got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise GenkitError(f"{what} hold {int((~np.isfinite(scores)).sum())} NaN or infinite value(s).")
    return scores


def _check_labelled(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray]:
    scores = _check_scores(scores, "scores")
    positive = np.asarray(is_anomaly)
    if positive.shape != scores.shape or positive.dtype != bool:
        raise GenkitError(
            f"is_anomaly must be booleans of the scores' shape {scores.shape}; got {positive.dtype} {positive.shape}."
        )
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == len(scores):
        kind = "anomalous" if n_pos == 0 else "normal"
        raise GenkitError(f"the ROC needs both normal and anomalous examples; none of the {len(scores)} is {kind}.")
    return scores, positive


def _require_reconstruction(sampler: Sampler) -> None:
    missing = [section for section in ("encoding", "sampling") if sampler.manifest.get(section) is None]
    if missing or sampler.is_diffusion:
        why = "it is a diffusion export" if sampler.is_diffusion else f"its manifest has {missing[0]}: null"
        raise GenkitError(
            f"{sampler.export_dir} ({sampler.name}, {sampler.family}) cannot reconstruct images: {why}. "
            "Anomaly scores need both the encoder and the decoder: re-export with both networks "
            "(leave export.onnx.networks unset, or list encoder and decoder)."
        )


def _check_images(sampler: Sampler, x, origin: str = "images") -> np.ndarray:
    x = np.asarray(x)
    given = x.shape
    if x.ndim == 3 and sampler.image_shape[-1] == 1:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != 4 or x.shape[1:] != sampler.image_shape or len(x) == 0:
        raise GenkitError(
            f"{origin}: got shape {given}; {sampler.name} reads images of shape "
            f"(N, {', '.join(map(str, sampler.image_shape))}) with N > 0, as it was trained on."
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise GenkitError(f"{origin}: got {x.dtype} values; expected uint8 pixels or floats.")
    low, high = sampler.value_range
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)  # as genkit.data scales
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise GenkitError(f"{origin}: {int((~np.isfinite(x)).sum())} pixel value(s) are NaN or infinite.")
    slack = 1e-4 * (high - low)  # float rounding of an image saved in the range
    if x.min() < low - slack or x.max() > high + slack:
        raise GenkitError(
            f"{origin}: values span [{x.min():g}, {x.max():g}]; {sampler.name} reads [{low:g}, {high:g}]. "
            f"Scale the images to [{low:g}, {high:g}] as for training, or save them as uint8 0..255."
        )
    return np.clip(x, low, high)


def _read_npz(path, sampler: Sampler, flag: str, *, labels_for: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Images `x` (checked against the export) and labels `y` (or None) of an .npz file.

    `labels_for` says why labels are required (None: optional); a missing `y` is then an error.
    """
    path = Path(path)
    if not path.is_file():
        raise GenkitError(f"{flag} {path}: no such file; expected an .npz file with an array 'x' of images.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise GenkitError(f"{flag} {path} holds a single array; expected an .npz file with arrays 'x' (and 'y').")
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError) as exc:
        raise GenkitError(f"{flag} {path} is not a readable .npz file ({exc}); save it with numpy.savez.") from None
    if "x" not in arrays:
        held = ", ".join(sorted(arrays)) or "nothing"
        raise GenkitError(f"{flag} {path} has no array 'x' (it holds: {held}); save the images as x.")
    x = _check_images(sampler, arrays["x"], f"{flag} {path}: x")
    y = arrays.get("y")
    if y is None:
        if labels_for:
            raise GenkitError(f"{flag} {path} has no array 'y', but {labels_for}. Save the integer labels as y.")
        return x, None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # (N, 1) column of labels
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise GenkitError(
            f"{flag} {path}: y must hold one integer label per image, shape ({len(x)},); got {y.dtype} {y.shape}."
        )
    return x, y.astype(np.int64)


def _classes_phrase(classes) -> str:
    return f"class {classes[0]}" if len(classes) == 1 else f"classes {', '.join(map(str, classes))}"


def _label_list(y: np.ndarray) -> str:
    labels = np.unique(y).tolist()
    if len(labels) > 20:
        return f"{len(labels)} values from {labels[0]} to {labels[-1]}"
    return ", ".join(map(str, labels))


# --------------------------------------------------------------------------- outputs
def _write_scores_csv(path: Path, scores: np.ndarray, labels, flagged: np.ndarray) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "score"] + (["label"] if labels is not None else []) + ["flagged"])
    for i, score in enumerate(scores):
        label = [int(labels[i])] if labels is not None else []
        writer.writerow([i, f"{score:.9g}", *label, int(flagged[i])])
    return atomic_write_text(path, buffer.getvalue())


def _figure():
    # matplotlib.figure.Figure renders PNG through Agg without pyplot: no global backend is
    # chosen or changed (as in genkit.runtime.plots), and import genkit.runtime stays light.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.5), dpi=100)
    return figure, figure.add_subplot()


def _save_figure(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def _plot_histogram(path: Path, scores, normal_scores, threshold: float, is_anomaly, report: dict) -> Path:
    figure, ax = _figure()
    groups = (
        [("normal", scores[~is_anomaly]), ("anomalous", scores[is_anomaly])]
        if is_anomaly is not None
        else [("scored", scores), ("threshold normal set", normal_scores)]
    )
    values = np.concatenate([g for _, g in groups if g.size])
    bins = np.histogram_bin_edges(values, bins=50)
    for name, group in groups:
        if group.size:
            ax.hist(group, bins=bins, alpha=0.55, density=True, label=f"{name} ({group.size:,})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel(f"reconstruction error ({report['metric']})")
    ax.set_ylabel("density")
    ax.set_title(f"{report['name']}: anomaly scores")
    ax.legend()
    return _save_figure(figure, path)


def _plot_roc(path: Path, scores, is_anomaly, report: dict) -> Path:
    fpr, tpr, _ = roc_curve(scores, is_anomaly)
    figure, ax = _figure()
    ax.plot(fpr, tpr, label=f"AUC {report['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.scatter([report["fpr"]], [report["tpr"]], color="black", zorder=3, label="threshold")
    ax.set_xlabel("false-positive rate (normal flagged)")
    ax.set_ylabel("true-positive rate (anomalies flagged)")
    ax.set_title(f"{report['name']}: {_classes_phrase(report['anomalous_classes'])} vs the rest")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right")
    return _save_figure(figure, path)
