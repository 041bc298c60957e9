"""ROC, AUC and thresholds of anomaly scores, and the statistics `report.json` holds: pure NumPy.

A threshold chosen on normal examples at a target false-positive rate turns scores into
flags; the ROC AUC measures how well the scores separate normal from anomalous examples
when their labels are known. The AUC is the Mann-Whitney U statistic divided by
n_anomalous * n_normal (Hanley & McNeil, Radiology 1982).

Example:
    threshold = threshold_at_fpr(normal_scores, fpr=0.05)   # 5% of them lie above it
    flagged = scores > threshold
    print(roc_auc(scores, y_test == 7))
"""

from __future__ import annotations

import math

import numpy as np

from genkit.errors import GenkitError

__all__ = ["check_fpr", "roc_auc", "roc_curve", "score_report", "threshold_at_fpr"]


def threshold_at_fpr(normal_scores, fpr: float = 0.05) -> float:
    """The score above which (strictly) a share `fpr` of `normal_scores` lies.

    With n normal scores, k = floor(fpr * n) of them lie above the returned value: it is
    the (n - k)-th smallest score. Flag an example when `score > threshold`. Ties at the
    threshold stay unflagged, so the achieved rate can fall below `fpr`, never above it.
    `fpr = 0` returns the largest normal score.

    Example:
        threshold_at_fpr(np.arange(1, 101), 0.05)   # 95.0: 96..100 lie above it
    """
    fpr = check_fpr(fpr)
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


# --------------------------------------------------------------------------- input checks
def check_fpr(fpr) -> float:
    """`fpr` as a float in [0, 1); a GenkitError for anything else."""
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or not 0.0 <= fpr < 1.0:
        raise GenkitError(f"fpr (--fpr) must be a number in [0, 1), e.g. 0.05 for 5%; got {fpr!r}.")
    return float(fpr)


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
