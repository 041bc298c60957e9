"""Keep the checkpoint with the best value of a metric measured during training.

A GAN's FID often gets worse late in training, and a VAE can overfit a small data set:
the last epoch is not always the model to keep. `KeepBest` measures `train.keep_best.metric`
on the validation split every `every` epochs, and when it improves writes the weights to
`checkpoints/best/` (atomically; `state.json` holds the epoch and value). The value is
also logged as `measured_<metric>` (unless Keras logs it already, as val_loss) so
history.csv shows it. With `use_for_export` the trainer
loads the best weights before the final save, so evaluation and export use them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras

from genkit.atomic import atomic_directory

__all__ = ["BEST", "KeepBest", "best_state"]

BEST = "best"  # folder under checkpoints/


def best_state(checkpoints: Path) -> dict | None:
    """state.json of the kept best checkpoint, or None."""
    try:
        return json.loads((Path(checkpoints) / BEST / "state.json").read_text())
    except (OSError, ValueError):
        return None


class KeepBest(keras.callbacks.Callback):
    """Save the weights whenever the measured metric reaches a new low.

    Args:
        folder: the run's checkpoints folder; the best goes to `folder/best/`.
        metric: the name logged and recorded (e.g. "fid", "val_loss").
        every: measure every N epochs.
        measure: function (logs) -> float; lower is better.
    """

    def __init__(self, folder: Path, metric: str, every: int, measure):
        super().__init__()
        self.folder = Path(folder)
        self.metric, self.every, self.measure = metric, every, measure
        previous = best_state(self.folder)  # a resumed run continues from the best so far
        self.best = previous["value"] if previous else math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        value = math.nan
        if (epoch + 1) % self.every == 0:
            value = float(self.measure(logs))
            if math.isfinite(value) and value < self.best:
                self.best = value
                with atomic_directory(self.folder / BEST) as tmp:
                    self.model.save_weights(tmp / "model.weights.h5")
                    state = {"epoch": epoch + 1, "metric": self.metric, "value": value}
                    (tmp / "state.json").write_text(json.dumps(state, indent=2))
                print(f"\nkeep_best: {self.metric} {value:.4f} at epoch {epoch + 1} is the best so far; saved", flush=True)
        if self.metric not in logs:
            # Logged every epoch (NaN when not measured) so the CSV column exists from the first row.
            logs[f"measured_{self.metric}"] = value
