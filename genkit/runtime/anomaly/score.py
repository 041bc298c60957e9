"""`genkit score`: score the images of an .npz with an export and write the report files.

`score_main` reads images from `.npz` files, scores them (`reconstruction_errors`), sets
the threshold on normal examples (`threshold_at_fpr`) and writes `scores.csv`,
`report.json`, `histogram.png` and (labels known) `roc.png`, each atomically.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np

from genkit.atomic import atomic_write_bytes, atomic_write_text  # standard library only; no TensorFlow
from genkit.errors import GenkitError
from genkit.runtime.anomaly.roc import check_fpr, roc_curve, score_report, threshold_at_fpr
from genkit.runtime.input_images import load_npz
from genkit.runtime.reconstruction import (
    check_images,
    check_metric,
    reconstruction_errors,
    require_reconstruction,
)
from genkit.runtime.sampler import Sampler, check_count

__all__ = ["score_main"]


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

    Each .npz is checked from its headers before loading (`load_npz`: 1 GiB per array) and
    holds at most 100,000 images (`check_count`). The threshold is chosen on the images of `normal_npz` (held-out normal examples: an
    honest false-positive rate) if given, else on the examples of `data_npz` whose label
    is not in `anomaly_labels`. Returns the summary the CLI prints.
    """
    start = time.perf_counter()
    check_metric(metric)
    fpr = check_fpr(fpr)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GenkitError(f"--out {out_dir} is a file; expected a folder to write scores.csv and report.json into.")
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise GenkitError(f"--out {out_dir}: {parent} is a file, not a folder, so nothing can be written under it.")
            break
    classes = _check_classes(anomaly_labels)
    if normal_npz is None and not classes:
        raise GenkitError(
            "genkit score needs normal examples to set the threshold on: pass --normal FILE.npz "
            "(held-out normal images), or --anomalous-classes K ... so that the examples of --data "
            "with other labels are taken as normal."
        )

    sampler = Sampler(export_dir)
    require_reconstruction(sampler)
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
def _check_classes(classes) -> list[int]:
    if classes is None:
        return []
    out = []
    for k in classes:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise GenkitError(f"--anomalous-classes takes integer labels; got {k!r}.")
        out.append(int(k))
    return sorted(set(out))


def _read_npz(path, sampler: Sampler, flag: str, *, labels_for: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Images `x` (checked against the export) and labels `y` (or None) of an .npz file.

    `labels_for` says why labels are required (None: optional); a missing `y` is then an error.
    """
    path = Path(path)
    if not path.is_file():
        raise GenkitError(f"{flag} {path}: no such file; expected an .npz file with an array 'x' of images.")
    arrays = load_npz(path, flag)  # array sizes checked from their headers before loading
    if "x" not in arrays:
        held = ", ".join(sorted(arrays)) or "nothing"
        raise GenkitError(f"{flag} {path} has no array 'x' (it holds: {held}); save the images as x.")
    x = arrays["x"]
    if x.ndim and len(x):
        check_count(len(x), f"{flag} {path}: x (images)", sampler.image_shape)
    x = check_images(sampler, x, f"{flag} {path}: x")
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
