"""Disentanglement metrics: how well each ground-truth factor is captured by one code dimension.

Three scores of a representation, computed from (N, D) codes of N images (a VAE's posterior
means, an autoencoder's codes) and the (N, F) integer factors those images were made from
(`Dataset.factors_test`, see `genkit.data.factors`). Each is 1 when every factor lives in
its own dimension and 0 for codes that carry nothing about the factors.

MIG, the mutual information gap (Chen et al., "Isolating Sources of Disentanglement in
VAEs", NeurIPS 2018). Each code dimension z_d is discretised into 20 equal-width bins (as
disentanglement_lib does: the plug-in estimate on binned means instead of the paper's
sampled q(z|x)); with the mutual information I(z_d; v_f) in nats and H(v_f) the factor's
entropy,

    MIG = 1/F Σ_f ( I(z_(1); v_f) − I(z_(2); v_f) ) / H(v_f)

where z_(1), z_(2) are the two dimensions most informative about v_f. A factor spread
over two dimensions scores low even when the code holds all of it.

DCI (Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR 2018). One predictor per factor reads all D dimensions; its
feature importances form the (D, F) importance matrix R. With P_df = R_df / Σ_k R_dk and
P̃_df = R_df / Σ_k R_kf,

    disentanglement = Σ_d ρ_d (1 − H_F(P_d·)),   ρ_d = Σ_f R_df / Σ R      (does each dimension hold one factor?)
    completeness    = 1/F Σ_f (1 − H_D(P̃_·f))                            (is each factor held by one dimension?)
    informativeness = 1/F Σ_f accuracy_f on a held-out quarter of the codes

H_K being the entropy in base K. The predictor is a forest of extremely randomised trees
(Geurts, Ernst & Wehenkel 2006) classifying the factor's values. The paper uses lasso and
random forests, disentanglement_lib gradient boosting. Boosting took 7 s here for one
16-valued factor on 1,500 codes of 10 dimensions (about 25 s for the six factors of
`shapes`), and a lasso misses non-linear and non-monotonic codes. Extra trees give a random
forest's impurity importances at a third of its cost, since they draw split thresholds
rather than search them: six factors on 2,000 x 10 codes take under a second, and 30 trees
give the scores of 200 to within 0.002. Every split considers every dimension
(`max_features=None`): with the usual random subset a tree is made to split on dimensions
that hold nothing of the factor, which spreads importance and lowers the score of a perfect
code. Informativeness is reported as accuracy (higher is better; chance is 1/K for a factor
of K values), where the paper reports the error.

SAP, the separated attribute predictability (Kumar, Sattigeri & Balakrishnan, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018). A
(D, F) score matrix S from one dimension and one factor at a time: for an ordered factor
(a size, an angle, a position) the R² of a linear regression of the factor on z_d, the
squared correlation; for a categorical factor (a shape, a colour) the held-out balanced
accuracy of a one-dimensional decision tree (thresholds on z_d), adjusted for chance
(0 at chance, 1 when perfect) so that both kinds share one scale. Then

    SAP = 1/F Σ_f ( S_(1)f − S_(2)f ).

All three are seeded (the held-out split, the forests) and deterministic.

Example:

    scores = mig(codes, factors)                          # {"mig": 0.41, "mig_per_factor": (...)}
    dci(codes, factors, seed=0)["dci_disentanglement"]
    sap(codes, factors, categorical=space.categorical)["sap"]
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from genkit.errors import GenkitError

__all__ = ["HELD_OUT", "MIG_BINS", "dci", "disentanglement_scores", "mig", "sap"]

MIG_BINS = 20  # disentanglement_lib's default; enough for factors of up to 20 values
HELD_OUT = 0.25  # share of the codes that DCI and SAP score their predictors on
FOREST_TREES = 30  # 200 trees move the DCI scores of 2,000 codes by about 0.002


def mig(codes, factors, *, bins: int = MIG_BINS) -> dict:
    """Mutual information gap of (N, D) `codes` against (N, F) integer `factors`.

    Returns {"mig": mean over factors, "mig_per_factor": one gap per factor}, each in [0, 1].
    """
    codes, factors = _checked("mig", codes, factors)
    binned = np.stack([_bin(column, bins) for column in codes.T], axis=1)  # (N, D) bin indices
    info = np.array([[mutual_info_score(v, z) for v in factors.T] for z in binned.T])  # (D, F) nats
    entropy = np.array([mutual_info_score(v, v) for v in factors.T])  # (F,) H(v_f) = I(v_f; v_f)
    top = np.sort(info, axis=0)[::-1]  # (D, F), most informative dimension first
    gaps = np.clip((top[0] - top[1]) / entropy, 0.0, 1.0)
    return {"mig": float(gaps.mean()), "mig_per_factor": tuple(map(float, gaps))}


def dci(codes, factors, *, seed: int = 0) -> dict:
    """Disentanglement, completeness and informativeness of (N, D) `codes` against (N, F) integer `factors`.

    Returns dci_disentanglement, dci_completeness, dci_informativeness and
    dci_informativeness_per_factor (held-out accuracy of each factor's forest), each in [0, 1].
    """
    codes, factors = _checked("dci", codes, factors)
    train, test = _split(len(codes), seed)
    importance = np.zeros((codes.shape[1], factors.shape[1]))  # (D, F)
    accuracy = []
    for f, target in enumerate(factors.T):
        forest = ExtraTreesClassifier(n_estimators=FOREST_TREES, max_features=None, random_state=seed, n_jobs=1)
        forest.fit(codes[train], target[train])
        importance[:, f] = forest.feature_importances_
        accuracy.append(float(np.mean(forest.predict(codes[test]) == target[test])))
    return {
        "dci_disentanglement": _disentanglement(importance),
        "dci_completeness": _completeness(importance),
        "dci_informativeness": float(np.mean(accuracy)),
        "dci_informativeness_per_factor": tuple(accuracy),
    }


def sap(codes, factors, *, categorical=None, seed: int = 0) -> dict:
    """Separated attribute predictability of (N, D) `codes` against (N, F) integer `factors`.

    `categorical` says per factor whether its values are unordered categories (scored by
    classification) or points on a scale (scored by R²); default: every factor categorical.
    Returns {"sap": mean over factors, "sap_per_factor": one gap per factor}, each in [0, 1].
    """
    codes, factors = _checked("sap", codes, factors)
    categorical = (True,) * factors.shape[1] if categorical is None else tuple(bool(c) for c in categorical)
    if len(categorical) != factors.shape[1]:
        raise ValueError(f"sap: categorical names {len(categorical)} factors; factors has {factors.shape[1]} columns")
    train, test = _split(len(codes), seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))  # (D, F)
    for f, target in enumerate(factors.T):
        for d, z in enumerate(codes.T):
            if categorical[f]:
                scores[d, f] = _threshold_accuracy(z, target, train, test, seed)
            else:
                scores[d, f] = _squared_correlation(z, target)
    top = np.sort(scores, axis=0)[::-1]
    gaps = np.clip(top[0] - top[1], 0.0, 1.0)
    return {"sap": float(gaps.mean()), "sap_per_factor": tuple(map(float, gaps))}


# ---------------------------------------------------------------------------- helpers
def _checked(name: str, codes, factors) -> tuple[np.ndarray, np.ndarray]:
    """(codes as float64, factors as int64) after checking what every metric needs of them."""
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"{name}: expected (N, D) codes and (N, F) factors; got {codes.shape} and {factors.shape}")
    if codes.shape[1] < 2:
        raise ValueError(f"{name}: the gap between dimensions needs a code of at least 2; got {codes.shape[1]}")
    if len(codes) < 10:
        raise ValueError(f"{name}: needs at least 10 examples to hold some out; got {len(codes)}")
    if not np.issubdtype(factors.dtype, np.integer) or factors.min() < 0:
        raise ValueError(
            f"{name}: factors must be non-negative integer indices; got {factors.dtype}, minimum {factors.min()}"
        )
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"{name}: codes hold NaN or infinite values")
    constant = [f for f in range(factors.shape[1]) if np.all(factors[:, f] == factors[0, f])]
    if constant:
        raise ValueError(f"{name}: factor column(s) {constant} take a single value here; nothing to measure")
    return codes.astype(np.float64), factors.astype(np.int64)


def _bin(z: np.ndarray, bins: int) -> np.ndarray:
    """Indices 0..bins-1 of equal-width bins over z's range (one bin for a constant z)."""
    edges = np.histogram_bin_edges(z, bins)
    return np.digitize(z, edges[1:-1])


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: a seeded permutation, HELD_OUT of it (at least one row) held out."""
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, round(n * HELD_OUT))
    return order[held:], order[:held]


def _normalised_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """Entropy of the distributions along `axis`, in base (their length): 0 for one-hot, 1 for uniform."""
    size = p.shape[axis]
    total = p.sum(axis=axis, keepdims=True)
    # A row or column with no importance at all is uniform: it holds nothing, so it scores 0.
    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / size)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axis) / math.log(size)


def _disentanglement(importance: np.ndarray) -> float:
    if not importance.any():  # codes that never change: no tree found a split
        return 0.0
    per_dimension = 1.0 - _normalised_entropy(importance, axis=1)  # (D,)
    weight = importance.sum(axis=1) / importance.sum()  # ρ_d
    return float(np.clip(np.sum(weight * per_dimension), 0.0, 1.0))


def _completeness(importance: np.ndarray) -> float:
    # Each forest's importances sum to 1, so every factor weighs the same.
    per_factor = 1.0 - _normalised_entropy(importance, axis=0)  # (F,)
    return float(np.clip(per_factor.mean(), 0.0, 1.0))


def _squared_correlation(z: np.ndarray, v: np.ndarray) -> float:
    """R² of the linear regression of v on z (0 when either is constant)."""
    z, v = z - z.mean(), v - v.mean()
    denominator = np.sum(z * z) * np.sum(v * v)
    return float(np.sum(z * v) ** 2 / denominator) if denominator > 0 else 0.0


def _threshold_accuracy(z, target, train, test, seed: int) -> float:
    """Held-out balanced accuracy of thresholds on z predicting `target`, adjusted for chance, clipped at 0."""
    classes = np.unique(target)
    # A tree on one feature cuts the line into intervals: 2K of them let a code order the K
    # values any way it likes, with room for one value on both sides of another.
    tree = DecisionTreeClassifier(max_leaf_nodes=2 * len(classes), random_state=seed)
    tree.fit(z[train, None], target[train])
    predicted, truth = tree.predict(z[test, None]), target[test]
    recall = [np.mean(predicted[truth == k] == k) for k in classes if np.any(truth == k)]
    chance = 1.0 / len(classes)
    return float(max(0.0, (np.mean(recall) - chance) / (1.0 - chance)))


# ---------------------------------------------------------------------------- in genkit evaluate
def disentanglement_scores(encode, spec, data, wanted, protocol: dict, *, conditional: bool) -> dict:
    """The requested mig/dci/sap of the codes of the first evaluate.samples test images, with protocol lines.

    `encode(x, y)` returns the codes of images `x`: the Keras encoder's first output or the
    export's `Sampler.encode`, so a VAE is scored on its posterior means. `y` is the labels for
    a conditional model (cvae), else None. Such a model is given the label factor (the shape,
    for `shapes`), so its code need not hold it: it is scored on the other factors.
    """
    space = data.factor_space
    n = min(spec.evaluate.samples, len(data.x_test))
    codes = np.asarray(encode(data.x_test[:n], data.y_test[:n] if conditional else None)).reshape(n, -1)  # (N, D)
    keep = [f for f, name in enumerate(space.names) if not (conditional and name == space.label)]
    names = [space.names[f] for f in keep]
    factors = data.factors_test[:n, keep]
    where = (
        f"codes ({codes.shape[1]} dimensions: the encoder's first output, a VAE's posterior mean) of {n} test "
        f"images against the factors {', '.join(names)}"
    )
    if conditional:
        where += f" ({space.label!r} is the model's condition, so not scored)"
    held = f"predictors fitted on {1 - HELD_OUT:.0%} of the codes and scored on the other {HELD_OUT:.0%} (seed {spec.seed})"
    lines = {
        "mig": f"Chen et al. 2018: {where}; each dimension in {MIG_BINS} equal-width bins; per factor, the gap between "
        "the two highest mutual informations over the factor's entropy; mean over factors",
        "dci": f"Eastwood & Williams 2018: {where}; importances of one {FOREST_TREES}-tree extra-trees classifier "
        f"per factor, {held}; informativeness = mean held-out accuracy",
        "sap": f"Kumar et al. 2018: {where}; per factor, the gap between the two best single dimensions: R² for "
        f"ordered factors, chance-adjusted balanced accuracy of thresholds for categorical ones; {held}",
    }
    categorical = [space.categorical[f] for f in keep]
    scorers = {
        "mig": lambda: mig(codes, factors),
        "dci": lambda: dci(codes, factors, seed=spec.seed),
        "sap": lambda: sap(codes, factors, categorical=categorical, seed=spec.seed),
    }
    results: dict = {}
    for metric in [m for m in scorers if m in wanted]:
        try:
            scores = scorers[metric]()
        except ValueError as err:
            raise GenkitError(f"evaluate.metrics: {err} (codes of {n} test images).") from None
        # Per-factor tuples become {factor name: score}, as class_accuracy_per_class is by class.
        results.update({k: dict(zip(names, v)) if isinstance(v, tuple) else v for k, v in scores.items()})
        protocol[metric] = lines[metric]
    return results
