"""Warnings at the end of training, read from the run's history: what went wrong and what to change.

Two failures finish without an error and leave a model that is quietly useless:

1. KL collapse (posterior collapse) in a VAE: the validation KL ends near 0, so q(z|x) is
   the prior, the decoder ignores z, and samples, reconstructions and latent maps do not
   depend on the image (Bowman et al. 2016, section 3.1). Healthy MNIST VAEs end with
   several nats even with a 2-D code.
2. The discriminator winning: the epoch mean of D(G(z)) stays near 0, so the generator's
   gradient saturates and it stops improving (Goodfellow et al. 2014, section 3; Arjovsky
   & Bottou 2017).

`AdversarialMonitor` warns about the second while training (per step, once); this module
looks at whole epochs when training ends, so a user who missed the scrolled-away line
still reads it, and run.json keeps it.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from genkit.atomic import atomic_write_text
from genkit.spec.card import card
from genkit.train.gan_monitor import discriminator_remedies

__all__ = [
    "D_FAKE_EPOCHS",
    "D_FAKE_FLOOR",
    "KL_COLLAPSE_NATS",
    "discriminator_wins",
    "kl_collapse",
    "read_history",
    "record_warnings",
    "training_warnings",
]

KL_COLLAPSE_NATS = 0.5  # total KL per example, nats: below it the code carries almost nothing
D_FAKE_FLOOR = 0.05  # epoch mean of D(G(z)) below it: the discriminator tells every fake apart
D_FAKE_EPOCHS = 3  # for this many final epochs (or every epoch of a shorter run)


def read_history(path) -> dict[str, list[float]]:
    """history.csv as {column: values per epoch}; {} when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [_number(row.get(key)) for row in rows] for key in (rows[0] if rows else {})}


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def kl_collapse(history: dict, spec) -> str | None:
    """The warning when the final validation KL (training KL without validation data) is below KL_COLLAPSE_NATS."""
    if "neg_elbo" not in history:  # only VAEs log the ELBO beside their KL
        return None
    key = "val_kl" if history.get("val_kl") else "kl"
    values = history.get(key) or []
    if not values or not math.isfinite(values[-1]) or values[-1] >= KL_COLLAPSE_NATS:
        return None
    where = "validation" if key == "val_kl" else "training"
    return (
        f"warning: KL collapse: the {where} KL ended at {values[-1]:.2g} nats per example (below {KL_COLLAPSE_NATS}). "
        "The encoder's posterior is the prior, so the decoder ignores z: samples look alike and reconstructions "
        f"do not follow the input. Try: {'; '.join(_kl_remedies(spec))}."
    )


def _kl_remedies(spec) -> list[str]:
    loss, remedies = spec.loss, []
    capacity = getattr(loss, "kl_capacity", None)
    if capacity is not None:
        remedies.append(f"a higher loss.kl_capacity.max_nats (now {capacity.max_nats:g}), the KL the run aims at")
    else:
        if hasattr(loss, "kl_weight"):
            remedies.append(f"a lower loss.kl_weight (now {loss.kl_weight:g}; 1 is the plain ELBO)")
        if hasattr(loss, "kl_warmup_epochs"):
            remedies.append(
                f"{'a longer' if loss.kl_warmup_epochs else 'a'} KL warm-up, loss.kl_warmup_epochs (now "
                f"{loss.kl_warmup_epochs}; e.g. a third of train.epochs), so the decoder learns to use z before the KL weighs in"
            )
    latent_dim = getattr(spec.model, "latent_dim", None)
    if latent_dim is not None:
        remedies.append(f"a model.latent_dim that suits the data (now {latent_dim})")
    return remedies


def discriminator_wins(history: dict, spec) -> str | None:
    """The warning when mean D(G(z)) stayed below D_FAKE_FLOOR for the last D_FAKE_EPOCHS epochs."""
    monitor = card(spec.model.family).monitor
    values = history.get("d_fake") or []
    if monitor is None or not monitor.fake_probability or not values:
        return None  # a critic's score is no probability
    last = values[-D_FAKE_EPOCHS:]
    if not all(math.isfinite(v) and v < D_FAKE_FLOOR for v in last):
        return None
    epochs = f"the last {len(last)} epochs" if len(last) > 1 else "the only epoch"
    return (
        f"warning: the discriminator won: mean D(G(z)) stayed below {D_FAKE_FLOOR} for {epochs} "
        f"(last {last[-1]:.3f}): it tells every sample from a real image, so the generator learns little from it "
        "(under the minimax loss its gradient vanishes). "
        f"Try: {discriminator_remedies(spec.loss)}. If the samples also look alike (mode collapse): {monitor.remedies}."
    )


def training_warnings(history: dict, spec) -> list[str]:
    """Every end-of-training warning that applies to `history` (see the module docstring)."""
    return [w for w in (kl_collapse(history, spec), discriminator_wins(history, spec)) if w is not None]


def record_warnings(run_dir, warnings: list[str]) -> None:
    """run.json's "warnings": those of the latest training session (empty when it was healthy)."""
    path = Path(run_dir) / "run.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["warnings"] = list(warnings)
    atomic_write_text(path, json.dumps(record, indent=2))
