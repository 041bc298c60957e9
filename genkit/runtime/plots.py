"""Matplotlib figures for the runtime's latent tools, written atomically as PNG.

matplotlib is imported inside the functions, so `import genkit.runtime` stays as light as
onnxruntime + NumPy + Pillow. Figures are built with `matplotlib.figure.Figure` (which
renders PNG through the Agg canvas) rather than `pyplot`: no global backend switch, no
figure registry to leak, and a notebook's own backend is left alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from genkit.atomic import atomic_write_bytes

__all__ = ["save_scatter"]

_LEGEND_MAX_CLASSES = 20  # beyond this a legend is unreadable: use a colour bar instead


def save_scatter(
    points,
    path: str | Path,
    *,
    labels=None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
) -> Path:
    """Scatter 2-D `points` `(N, 2)` to a PNG, coloured by integer `labels` `(N,)` with a legend.

    Up to 20 classes get qualitative colours (tab10 / tab20) and a legend naming each class;
    more get a continuous colour map and a colour bar. Without labels every point is one colour.

    Example:
        save_scatter(z2, "latents.png", labels=y, title="PCA of z_mean", xlabel="PC 1", ylabel="PC 2")
    """
    from matplotlib.figure import Figure

    points = np.asarray(points, dtype=np.float64)
    fig = Figure(figsize=(6.4, 5.2), dpi=100)
    ax = fig.add_subplot()
    # Marker area shrinks with the count (30 pt² for a few dozen points, 4 pt² for thousands)
    # and markers are slightly transparent, so dense clusters stay readable.
    style = {"s": float(np.clip(6000 / max(len(points), 1), 4, 30)), "alpha": 0.7, "linewidths": 0}
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], **style)
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        if len(classes) <= _LEGEND_MAX_CLASSES:
            import matplotlib

            cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for k, cls in enumerate(classes):
                mask = labels == cls
                ax.scatter(points[mask, 0], points[mask, 1], color=cmap(k), label=str(cls), **style)
            ax.legend(title="label", loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=3, frameon=False)
        else:
            drawn = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="turbo", **style)
            fig.colorbar(drawn, ax=ax, label="label")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())
