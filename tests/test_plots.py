"""Loss-curve plots of run folders."""

from genkit.train.plots import plot_history


def test_history_without_validation_values_still_plots(tmp_path):
    # Keras's CSVLogger writes NA in val_* columns when a run has no validation split.
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_loss\n0,1.0,NA\n1,0.5,NA\n")
    out = plot_history(history, tmp_path / "loss_curve.png")
    assert out.is_file() and out.stat().st_size > 1000
