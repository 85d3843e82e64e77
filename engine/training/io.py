"""Run artifacts: atomic writes (from ``layerscope.engine.io``) and PNG figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerscope.engine.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "save_figure"]


def save_figure(fig: Any, path: Path, dpi: int = 80) -> None:
    """Render a matplotlib Figure to PNG atomically (Agg canvas, no pyplot state).

    Low zlib effort: these PNGs are rewritten every epoch, so encoding speed beats size.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    fig.clear()  # not a pyplot figure, so nothing to close; drop its artists now
    atomic_write_bytes(path, buf.getvalue())
