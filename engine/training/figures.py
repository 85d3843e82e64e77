"""The run's figures as Matplotlib ``Figure`` objects, from plain data (private to training).

Kept free of torch and Lightning: the render worker (``layerscope.engine.training.render_worker``) imports
this module, not the callbacks, to draw what they submit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _curves(history: list[dict[str, Any]], series: tuple[tuple[str, str], ...], ylabel: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for key, label in series:
        points = [(h["epoch"], h[key]) for h in history if key in h]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.14, bottom=0.15, right=0.97, top=0.95)  # no tight_layout: one render
    return fig


def _heatmap(matrix: Any, names: list[str], epoch: int) -> Any:
    from matplotlib.figure import Figure

    n = len(names)
    side = max(4.0, 0.45 * n + 2.0)
    fig = Figure(figsize=(side, side))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    long_names = max((len(s) for s in names), default=0) > 3
    ax.set_xticks(
        range(n),
        names,
        rotation=45 if long_names else 0,
        ha="right" if long_names else "center",
        fontsize=8,
    )
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix, epoch {epoch} (n={int(matrix.sum())})")
    if n <= 20:  # counts stay legible up to about 20 classes
        peak = matrix.max() or 1
        # Zero cells stay blank: easier to read, and each text costs render time every epoch.
        for i, j in zip(*matrix.nonzero(), strict=True):
            color = "white" if matrix[i, j] > peak / 2 else "black"
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    # Fixed margins: tight_layout would render the figure an extra time.
    fig.subplots_adjust(left=0.18, bottom=0.18, right=0.97, top=0.92)
    return fig


def _grid(x: Any, y: list[int], p: list[int], names: list[str], epoch: int) -> Any:
    """One mosaic image in a single axes: far cheaper to render than a subplot per sample.

    ``x`` is an N×C×H×W float array in [0, 1] (NumPy: drawn in the render worker, no torch)."""
    import numpy as np
    from matplotlib.figure import Figure

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    n, c, h, w = x.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad_top, pad = max(8, h // 3), 2  # room for each cell's caption
    cell_h, cell_w = h + pad_top + pad, w + pad
    mosaic = np.ones((c, rows * cell_h, cols * cell_w), dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = r * cell_h + pad_top, q * cell_w + pad // 2
        mosaic[:, top : top + h, left : left + w] = x[i]
    image = mosaic.transpose(1, 2, 0)
    scale = 1.6 / 40  # inches per pixel: a 32×32 image is about 1.3 inches wide
    fig = Figure(figsize=(max(3.0, cols * cell_w * scale), rows * cell_h * scale + 0.4))
    ax = fig.add_axes((0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    ax.imshow(
        image[..., 0] if c == 1 else image, cmap="gray" if c == 1 else None, interpolation="nearest"
    )
    ax.axis("off")
    for i, (t, q) in enumerate(zip(y, p, strict=True)):
        r, col = divmod(i, cols)
        ax.text(
            col * cell_w + cell_w / 2,
            r * cell_h + pad_top - 1,
            f"{name(t)} / {name(q)}",
            ha="center",
            va="bottom",
            fontsize=7,
            color="green" if t == q else "red",
        )
    fig.suptitle(f"true / predicted, epoch {epoch}", fontsize=9, y=0.995)
    return fig


def _plane(a: np.ndarray) -> np.ndarray:
    """H×W from H×W or C×H×W (the first channel: a panel shows one plane)."""
    return a if a.ndim == 2 else a[0]


def _panels(x: np.ndarray | None, y: np.ndarray, p: np.ndarray, epoch: int) -> Any:
    from matplotlib.figure import Figure

    cols = [("input", x), ("target", y), ("prediction", p)] if x is not None else [
        ("target", y), ("prediction", p)
    ]  # fmt: skip
    rows = len(y)
    fig = Figure(figsize=(1.6 * len(cols), 1.6 * rows + 0.3))
    for r in range(rows):
        # target and prediction share one colour scale, so a faint prediction looks faint
        lo = float(min(_plane(y[r]).min(), _plane(p[r]).min()))
        hi = float(max(_plane(y[r]).max(), _plane(p[r]).max()))
        for c, (title, arr) in enumerate(cols):
            assert arr is not None
            ax = fig.add_subplot(rows, len(cols), r * len(cols) + c + 1)
            scale = {} if title == "input" else {"vmin": lo, "vmax": hi}
            ax.imshow(_plane(arr[r]), cmap="viridis", interpolation="nearest", **scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"validation samples, epoch {epoch}", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.05, hspace=0.05)
    return fig


def _scatter(y: np.ndarray, p: np.ndarray, epoch: int) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 3.6))
    ax = fig.add_subplot()
    ax.scatter(y, p, s=6, alpha=0.6)
    lo = float(min(y.min(), p.min())) if len(y) else 0.0
    hi = float(max(y.max(), p.max())) if len(y) else 1.0
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)  # perfect predictions
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title(f"prediction vs target, epoch {epoch}", fontsize=9)
    fig.subplots_adjust(left=0.18, bottom=0.14, right=0.96, top=0.9)
    return fig
