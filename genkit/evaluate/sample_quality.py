"""Scores of generated samples against held-out real images, in the domain feature space.

One extractor, one set of real features and one set of samples serve every requested
score (FID, KID, precision/recall, mode coverage, class accuracy), so the numbers of one
report describe the same images. Each score is written with its protocol: the feature
extractor and its test accuracy, the reference split, the number of images, the seed.

Samples of a class-conditional model are drawn with the reference images' labels, so
both sets have the same class mix; class accuracy draws the same number per class.
"""

from __future__ import annotations

import numpy as np

from genkit.data import load_data
from genkit.errors import GenkitError
from genkit.evaluate.classifier import class_accuracy
from genkit.evaluate.distribution import frechet_distance, kernel_inception_distance, mode_coverage, precision_recall
from genkit.evaluate.features import Extractor, get_extractor
from genkit.modeling.prior import describe_prior
from genkit.progress import phase

__all__ = ["draw_samples", "labelled_data", "load_extractor", "sample_scores"]

EXTRACTOR_SEED = 0  # one feature space per data set, whatever the run's seed, so runs compare


def labelled_data(spec, data):
    """`data` with labels (the feature extractor is a classifier); the same split, reloaded if needed."""
    if data.labelled:
        return data
    try:
        return load_data(spec.data, spec.seed, need_labels=True)
    except GenkitError as err:
        raise GenkitError(
            f"evaluate.metrics: sample scores are computed in the feature space of a classifier trained on "
            f"labelled real images, and {data.origin} has no labels ({err}). Name a classifier of your own "
            "with evaluate.feature_extractor, or remove fid/kid/precision_recall/mode_coverage."
        ) from None


def load_extractor(spec, data) -> Extractor:
    """The user's classifier (evaluate.feature_extractor), else genkit's cached domain CNN."""
    if spec.evaluate.feature_extractor:
        return Extractor.from_keras(spec.evaluate.feature_extractor, data)
    return get_extractor(labelled_data(spec, data), seed=EXTRACTOR_SEED)


def draw_samples(model, n: int, labels, seed: int) -> np.ndarray:
    """n samples; a conditional model draws them with `labels`, an unconditional one ignores them."""
    if model.conditional:
        return np.asarray(model.sample(n, labels=labels, seed=seed))
    return np.asarray(model.sample(n, seed=seed))


def sample_scores(model, data, spec, wanted, protocol: dict, *, reference: str = "test", n: int | None = None) -> dict:
    """The requested sample scores of `model` against `reference` ('test' or 'val') images.

    Adds one protocol line per score to `protocol` and returns the numbers.
    """
    data = labelled_data(spec, data)
    extractor = load_extractor(spec, data)
    x_ref = data.x_test if reference == "test" else data.x_val
    y_ref = data.y_test if reference == "test" else data.y_val
    n = min(n or spec.evaluate.samples, len(x_ref))
    x_ref, y_ref = x_ref[:n], y_ref[:n]
    seed = spec.seed
    results: dict = {}
    protocol["feature_space"] = extractor.describe()
    if getattr(model, "fit_prior", None) is not None:
        # Autoencoders fit a Gaussian to their codes; a VAE fits one only where the spec's prior asks.
        with phase(f"evaluating: the sampling prior (fitted to the codes of {len(data.x_train):,} training images unless N(0, I))"):
            # A conditional VAE encodes its codes with their labels.
            prior = model.fit_prior(data.x_train, data.y_train) if model.conditional else model.fit_prior(data.x_train)
        protocol["sampling"] = describe_prior(prior)

    distribution_scores = [m for m in ("fid", "kid", "precision_recall", "mode_coverage") if m in wanted]
    if distribution_scores:
        with phase(f"evaluating: sampling {n:,} images for {', '.join(distribution_scores)}"):
            fake = draw_samples(model, n, y_ref, seed)
        where = f"{n} samples (seed {seed}) vs {n} real {reference} images"
        with phase(f"evaluating: {', '.join(distribution_scores)} on {n:,} samples vs {n:,} real {reference} images"):
            if "mode_coverage" in distribution_scores:
                coverage = mode_coverage(extractor.predict_modes(fake), extractor.num_modes)  # shapes: shape x colour
                results.update(mode_coverage=coverage["coverage"], mode_entropy=coverage["entropy"])
                protocol["mode_coverage"] = (
                    f"{n} samples (seed {seed}) classified into the extractor's {extractor.num_modes} classes; "
                    "coverage = share of classes predicted at least once, "
                    "entropy = entropy of the predicted-class histogram / log(classes)"
                )
            if {"fid", "kid", "precision_recall"} & set(distribution_scores):
                f_ref, f_fake = extractor.features(x_ref), extractor.features(fake)
                if "fid" in distribution_scores:
                    results["fid"] = frechet_distance(f_ref, f_fake)
                    # The floor this protocol can reach: real training images scored the same way.
                    f_train = extractor.features(data.x_train[:n])
                    results["fid_real_train"] = frechet_distance(f_ref, f_train)
                    protocol["fid"] = f"{where}; fid_real_train: {min(n, len(data.x_train))} real training images instead of samples (the floor)"
                if "kid" in distribution_scores:
                    # Subsets of half the images, so that they differ and their spread means something.
                    kid = kernel_inception_distance(f_ref, f_fake, subset_size=min(1000, max(n // 2, 2)), seed=seed)
                    results.update(kid=kid["mean"], kid_std=kid["std"])
                    protocol["kid"] = f"{where}; unbiased MMD² (cubic kernel) over {kid['subsets']} subsets of {kid['subset_size']}"
                if "precision_recall" in distribution_scores:
                    pr = precision_recall(f_ref, f_fake, k=spec.evaluate.precision_recall_k)
                    results.update(precision=pr["precision"], recall=pr["recall"])
                    protocol["precision_recall"] = f"{where}; k-NN manifolds, k = {pr['k']}"

    if "class_accuracy" in wanted:
        per_class = max(n // model.num_classes, 1)
        labels = np.repeat(np.arange(model.num_classes, dtype="int32"), per_class)
        with phase(f"evaluating: class_accuracy ({per_class:,} samples of each of {model.num_classes} classes)"):
            scores = class_accuracy(extractor.classifier, draw_samples(model, len(labels), labels, seed), labels)
        results["class_accuracy"], results["class_accuracy_per_class"] = scores["overall"], scores["per_class"]
        protocol["class_accuracy"] = (
            f"{per_class} samples per class (seed {seed}) classified by the feature extractor; "
            "share assigned to the class they were drawn for"
        )
    results["extractor_test_accuracy"] = extractor.accuracy
    return results
